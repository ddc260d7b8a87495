cd "$(dirname "$0")" || exit 1
export LD_LIBRARY_PATH=/tmp/attnlab-debs/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH
(time bash tests/bench/device_build.sh attnlab_cuda_tests attnlab-engine-bench attnlab-kernel-bench attnlab_engine_tests attnlab-cli) > $OUT/build.log 2>&1 || { tail -60 $OUT/build.log; exit 1; }
tail -3 $OUT/build.log
B=./build/cuda/bin
timeout 100 $B/attnlab_cuda_tests > $OUT/cuda_tests.txt 2>&1; grep -E "FAILED|PASSED|RESULT fused|Failure" $OUT/cuda_tests.txt | tail -16
timeout 60 $B/attnlab_engine_tests --gtest_filter='CliTest.*' > $OUT/clitest.txt 2>&1; echo "rc $?" >> $OUT/clitest.txt
grep -o "attnlab_engine_tests(+0x[0-9a-f]*)" $OUT/clitest.txt | sed 's/.*(+\(0x[0-9a-f]*\))/\1/' | xargs -r addr2line -f -C -i -e $B/attnlab_engine_tests >> $OUT/clitest.txt 2>&1; tail -30 $OUT/clitest.txt
timeout 60 $B/attnlab-kernel-bench --section gemv > $OUT/ab.log 2>&1
PYTHONUNBUFFERED=1 timeout 200 python3 tests/bench/run_engine_bench.py --bench-bin $B/attnlab-engine-bench --out $OUT/engine --repeat 3 --lengths 4096,32768 > $OUT/engine.log 2>&1; grep "^|" $OUT/engine.log
ATTNLAB_PDL=0 timeout 60 $B/attnlab-engine-bench --model /tmp/attnlab-bench/llama-3.2-1b --device cuda --prompt-tokens 4096 --new-tokens 64 --repeat 3 >> $OUT/ab.log 2>&1
cut -c1-200 $OUT/ab.log; echo total $SECONDS s
