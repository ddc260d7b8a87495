cd "$(dirname "$0")" || exit 1
export LD_LIBRARY_PATH=/tmp/attnlab-debs/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH
(time bash tests/bench/device_build.sh attnlab_cuda_tests attnlab-engine-bench attnlab-kernel-bench attnlab_engine_tests attnlab-cli) > $OUT/build.log 2>&1 || { tail -60 $OUT/build.log; exit 1; }
tail -4 $OUT/build.log
B=./build/cuda/bin
timeout 120 $B/attnlab_cuda_tests > $OUT/cuda_tests.txt 2>&1; grep -E "FAILED|PASSED|RESULT fused|Failure" $OUT/cuda_tests.txt | tail -24
timeout 60 $B/attnlab_engine_tests --gtest_filter='CliTest.*' > $OUT/clitest.txt 2>&1; echo "rc $?" >> $OUT/clitest.txt; tail -40 $OUT/clitest.txt
PYTHONUNBUFFERED=1 timeout 200 python3 tests/bench/run_engine_bench.py --bench-bin $B/attnlab-engine-bench --out $OUT/engine --repeat 3 --lengths 4096,32768 > $OUT/engine.log 2>&1; grep "^|" $OUT/engine.log
M=/tmp/attnlab-bench/llama-3.2-1b
for e in ATTNLAB_PDL=0 ATTNLAB_GEMV=0; do echo "--- $e" >> $OUT/ab.log; env $e timeout 60 $B/attnlab-engine-bench --model $M --device cuda --prompt-tokens 4096 --new-tokens 64 --repeat 3 >> $OUT/ab.log 2>&1; done
timeout 60 $B/attnlab-kernel-bench --section gemv >> $OUT/ab.log 2>&1
cat $OUT/ab.log | cut -c1-250
echo total $SECONDS s
