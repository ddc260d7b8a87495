# Session 4, device call 4 (commit 7805eaa, reverted in 951aa22): prefill through cuDNN attention (opt-in experiment) against flash.
cd "$(dirname "$0")" || exit 1
export LD_LIBRARY_PATH=/tmp/attnlab-debs/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH
(time bash tests/bench/device_build.sh attnlab_cuda_tests attnlab-engine-bench) > $OUT/build.log 2>&1 || exit 1
B=./build/cuda/bin
timeout 150 $B/attnlab_cuda_tests > $OUT/cuda_tests.txt 2>&1; grep -E "FAILED|PASSED" $OUT/cuda_tests.txt | tail -6
ATTNLAB_PREFILL_SDPA=cudnn timeout 60 $B/attnlab_cuda_tests --gtest_filter='*Parity*' > $OUT/cuda_parity_cudnn.txt 2>&1
PYTHONUNBUFFERED=1 timeout 220 python3 tests/bench/run_engine_bench.py --bench-bin $B/attnlab-engine-bench --out $OUT/engine --repeat 3 --lengths 4096,32768 > $OUT/engine.log 2>&1; grep "^|" $OUT/engine.log
for m in llama-3.2-1b qwen2.5-0.5b; do for e in flash cudnn; do
  ATTNLAB_PREFILL_SDPA=$e timeout 90 $B/attnlab-engine-bench --model /tmp/attnlab-bench/$m --device cuda --prompt-tokens 4096,32768 --new-tokens 16 --repeat 3 | tee -a $OUT/prefill_ab.txt
done; done
