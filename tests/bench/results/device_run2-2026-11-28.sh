cd "$(dirname "$0")" || exit 1
export LD_LIBRARY_PATH=/tmp/attnlab-debs/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH
(time bash tests/bench/device_build.sh attnlab_cuda_tests attnlab-engine-bench attnlab-kernel-bench attnlab_engine_tests attnlab-cli) > $OUT/build.log 2>&1 || { tail -60 $OUT/build.log; exit 1; }
tail -4 $OUT/build.log
B=./build/cuda/bin
timeout 120 $B/attnlab_cuda_tests > $OUT/cuda_tests.txt 2>&1; grep -E "FAILED|PASSED|RESULT fused|Failure" $OUT/cuda_tests.txt | tail -24
(command -v gdb >/dev/null && timeout 60 gdb -batch -ex run -ex bt --args $B/attnlab_engine_tests --gtest_filter='CliTest.*' || timeout 60 $B/attnlab_engine_tests --gtest_filter='CliTest.*'; echo "rc $?") > $OUT/clitest.txt 2>&1; tail -25 $OUT/clitest.txt
PYTHONUNBUFFERED=1 timeout 200 python3 tests/bench/run_engine_bench.py --bench-bin $B/attnlab-engine-bench --out $OUT/engine --repeat 2 --lengths 4096,32768 > $OUT/engine.log 2>&1; grep "^|" $OUT/engine.log
M=/tmp/attnlab-bench/llama-3.2-1b
for e in ATTNLAB_PDL=0 ATTNLAB_GEMV=0 ATTNLAB_FUSED_DECODE=0; do echo "--- $e" >> $OUT/ab.log; env $e timeout 60 $B/attnlab-engine-bench --model $M --device cuda --prompt-tokens 4096 --new-tokens 64 --repeat 2 >> $OUT/ab.log 2>&1; done
cat $OUT/ab.log
timeout 60 $B/attnlab-kernel-bench --section gemv >> $OUT/ab.log 2>&1
timeout 150 $B/attnlab-kernel-bench --section prefill > $OUT/kernel_bench.jsonl 2>&1
left=$((585 - SECONDS)); echo "decode bench gets ${left}s"; timeout $left $B/attnlab-kernel-bench --section decode >> $OUT/kernel_bench.jsonl 2>&1
grep -E "prefill|\"B\"|section\":\"decode" $OUT/kernel_bench.jsonl | cut -c1-400 | tail -40
echo total $SECONDS s
