# Session 5, device calls 7, 8 and 10: all CUDA tests, kernel_bench decode (and in call 7, commit d437f7f, prefill and the engine bench).
# Call 8 ran the same script on commit 0fd048b without the last two lines and without building the engine bench (decode rows from call 8, prefill
# and engine rows from call 7). Call 10 ran it on the final commit e7e449f with the CUDA tests and the decode section only
# (cuda_tests-2026-11-28-session5.txt: 197 passed; its decode rows in kernel_bench-2026-11-28-session5-experiments.jsonl). From a clean git archive in .snap/ with device_s5_summ-2026-11-28.py copied there as summ.py.
cd "$(dirname "$0")" || exit 1
export LD_LIBRARY_PATH=/tmp/attnlab-debs/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH
(time bash tests/bench/device_build.sh attnlab_cuda_tests attnlab-kernel-bench attnlab-engine-bench) > $OUT/build.log 2>&1 || { grep -E "error" $OUT/build.log | head -20; exit 1; }
B=./build/cuda/bin
timeout 200 $B/attnlab_cuda_tests > $OUT/cuda_tests.txt 2>&1; grep -E "FAILED|PASSED" $OUT/cuda_tests.txt | tail -8
timeout 150 $B/attnlab-kernel-bench --section decode > $OUT/decode.jsonl 2>&1; python3 summ.py $OUT/decode.jsonl | grep -v kept
timeout 150 $B/attnlab-kernel-bench --section prefill > $OUT/prefill.jsonl 2>&1; python3 summ.py $OUT/prefill.jsonl
PYTHONUNBUFFERED=1 timeout 170 python3 tests/bench/run_engine_bench.py --bench-bin $B/attnlab-engine-bench --out $OUT/engine --repeat 3 --lengths 4096,32768 > $OUT/engine.log 2>&1; grep "^|" $OUT/engine.log
