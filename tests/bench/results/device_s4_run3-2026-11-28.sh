# Session 4, device call 3 (commit a6173a8): split granularity sweep of the decode kernel, CUDA tests, engine benchmark.
cd "$(dirname "$0")" || exit 1
export LD_LIBRARY_PATH=/tmp/attnlab-debs/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH
(time bash tests/bench/device_build.sh attnlab_cuda_tests attnlab-engine-bench attnlab-kernel-bench) > $OUT/build.log 2>&1 || { grep -E "error" $OUT/build.log | head -20; tail -30 $OUT/build.log; exit 1; }
B=./build/cuda/bin
timeout 150 $B/attnlab-kernel-bench --section decode-waves > $OUT/waves.jsonl 2>&1
timeout 150 $B/attnlab_cuda_tests > $OUT/cuda_tests.txt 2>&1; grep -E "FAILED|PASSED" $OUT/cuda_tests.txt | tail -6
PYTHONUNBUFFERED=1 timeout 220 python3 tests/bench/run_engine_bench.py --bench-bin $B/attnlab-engine-bench --out $OUT/engine --repeat 3 --lengths 4096,32768 > $OUT/engine.log 2>&1; grep "^|" $OUT/engine.log
