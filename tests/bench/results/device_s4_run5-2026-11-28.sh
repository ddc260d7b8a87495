# Session 4, device call 5 (commit 036992a): engine benchmark with the many-row RMSNorm and SiLU*up kernels, and an
# A/B of the prefill with them off (ATTNLAB_ROWS_KERNELS=0) on the checkpoints the benchmark script made.
cd "$(dirname "$0")" || exit 1
export LD_LIBRARY_PATH=/tmp/attnlab-debs/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH
(time bash tests/bench/device_build.sh attnlab_cuda_tests attnlab-engine-bench) > $OUT/build.log 2>&1 || exit 1
B=./build/cuda/bin
timeout 100 $B/attnlab_cuda_tests > $OUT/cuda_tests.txt 2>&1; grep -E "FAILED|PASSED|Failure" $OUT/cuda_tests.txt | tail -8
PYTHONUNBUFFERED=1 timeout 150 python3 tests/bench/run_engine_bench.py --bench-bin $B/attnlab-engine-bench --out $OUT/engine --repeat 3 --lengths 4096,32768 > $OUT/engine.log 2>&1; grep "^|" $OUT/engine.log
for m in llama-3.2-1b qwen2.5-0.5b; do for e in 0 1; do
  ATTNLAB_ROWS_KERNELS=$e timeout 40 $B/attnlab-engine-bench --model /tmp/attnlab-bench/$m --device cuda --prompt-tokens 32768 --new-tokens 4 --repeat 2 | tee -a $OUT/prefill_ab.txt
done; done
