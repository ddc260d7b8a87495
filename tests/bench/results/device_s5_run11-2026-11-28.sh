# Session 5, device call 11 (commit 520e561, the session's last): all CUDA tests (cuda_tests-2026-11-28-session5.txt, 198 passed)
# and the 1B shape's 32K prefill with streaming's dense and lambda (sparse) prefill (engine_bench-2026-11-28-session5-lambda-prefill.jsonl).
# From a clean git archive in .snap/.
cd "$(dirname "$0")" || exit 1
export LD_LIBRARY_PATH=/tmp/attnlab-debs/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH
(time bash tests/bench/device_build.sh attnlab_cuda_tests attnlab-engine-bench attnlab-strategy-streaming) > $OUT/build.log 2>&1 || { grep -E "error" $OUT/build.log | head -20; exit 1; }
B=./build/cuda/bin
timeout 120 $B/attnlab_cuda_tests > $OUT/cuda_tests.txt 2>&1; grep -E "FAILED|PASSED|Failure" $OUT/cuda_tests.txt | tail -6; grep "engine_attend" $OUT/cuda_tests.txt
PYTHONUNBUFFERED=1 timeout 60 python3 -c "import sys; sys.path.insert(0, 'tests/bench'); import run_engine_bench as r; r.make_checkpoint('llama-3.2-1b', r.SHAPES['llama-3.2-1b'], '/tmp/attnlab-bench', 'tests/fixtures/parity/llama3/tokenizer.json')" > $OUT/ckpt.log 2>&1 || tail -3 $OUT/ckpt.log
for s in "streaming:budget=25%" "streaming:budget=25%,lambda_prefill=true" "streaming:budget=10%,lambda_prefill=true"; do
  timeout 40 $B/attnlab-engine-bench --model /tmp/attnlab-bench/llama-3.2-1b --device cuda --prompt-tokens 32768 --new-tokens 4 --repeat 2 --strategy "$s" | tee -a $OUT/lambda_prefill.jsonl
done
