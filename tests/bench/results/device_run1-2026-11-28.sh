cd "$(dirname "$0")" || exit 1
export LD_LIBRARY_PATH=/tmp/attnlab-debs/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH
(time bash tests/bench/device_build.sh attnlab_cuda_tests attnlab-engine-bench attnlab-kernel-bench attnlab-long-attention-bench attnlab-quality-bench) > $OUT/build.log 2>&1 || { tail -60 $OUT/build.log; exit 1; }
tail -4 $OUT/build.log
B=./build/cuda/bin
timeout 150 $B/attnlab_cuda_tests > $OUT/cuda_tests.txt 2>&1; grep -E "FAILED|PASSED|RESULT" $OUT/cuda_tests.txt | tail -30
timeout 60 $B/attnlab-kernel-bench --section gemv > $OUT/bench.log 2>&1
timeout 100 $B/attnlab-long-attention-bench compute --device cuda --tokens 32768,131072 >> $OUT/bench.log 2>&1
cat $OUT/bench.log
PYTHONUNBUFFERED=1 timeout 200 python3 tests/bench/run_engine_bench.py --bench-bin $B/attnlab-engine-bench --out $OUT/engine --repeat 2 --lengths 4096 > $OUT/engine.log 2>&1; grep -v "^\s*$" $OUT/engine.log | tail -12
echo "--- ATTNLAB_GEMV=0" >> $OUT/bench.log
ATTNLAB_GEMV=0 timeout 60 $B/attnlab-engine-bench --model /tmp/attnlab-bench/llama-3.2-1b --device cuda --prompt-tokens 4096 --new-tokens 64 --repeat 2 >> $OUT/bench.log 2>&1
tail -3 $OUT/bench.log
left=$((570 - SECONDS)); echo "quality bench gets ${left}s"
[ $left -gt 30 ] && timeout $left $B/attnlab-quality-bench --model ../assets/models/attnlab-demo --device cuda --lengths 1024,2048,4096 --depths 0,0.25,0.5,0.75,1 --trials 20 --strategy streaming:budget=10% --strategy streaming:budget=25% --strategy streaming:budget=50% --strategy snapkv:budget=10% --strategy snapkv:budget=25% --strategy snapkv:budget=50% --strategy duo:retrieval_ratio=0.125 --strategy duo:retrieval_ratio=0.25 --strategy duo:retrieval_ratio=0.5 --strategy razor:retrieval_ratio=0.125 --strategy razor:retrieval_ratio=0.1875 --strategy razor:retrieval_ratio=0.25 --strategy razor:retrieval_ratio=0.5 --out $OUT/quality.json > $OUT/quality.jsonl 2>>$OUT/bench.log
ls -la $OUT $OUT/engine; echo total $SECONDS s
