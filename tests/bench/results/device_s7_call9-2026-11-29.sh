# Session 7, device call 9 (call 8, the same script with attnlab_cuda_tests built and run instead of the plugin, passed
# 198 CUDA tests but built no strategy plugin, so its strategy runs failed to start): strategy decode without per-head host syncs (working tree on dd2218f) against dd2218f
# (old/: the working tree with strategy.patch reversed), engine bench with strategies, alternating processes.
cd "$(dirname "$0")" || exit 1
export LD_LIBRARY_PATH=/tmp/attnlab-debs/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH
mkdir old && tar --exclude=./build --exclude=./old -cf - . | tar -x -C old && (cd old && patch -s -p1 -R < strategy.patch) || exit 1
(time bash tests/bench/device_build.sh attnlab-engine-bench attnlab-strategy-streaming) > $OUT/build.log 2>&1 || { grep -E "error" $OUT/build.log | head -20; exit 1; }
(time bash old/tests/bench/device_build.sh attnlab-engine-bench attnlab-strategy-streaming) > $OUT/build_old.log 2>&1 || { grep -E "error" $OUT/build_old.log | head -20; exit 1; }
tail -n 2 $OUT/build.log; tail -n 2 $OUT/build_old.log
python3 -c "import sys; sys.path.insert(0,'tests/bench'); import run_engine_bench as r; r.make_checkpoint('llama-3.2-1b', r.SHAPES['llama-3.2-1b'], '/tmp/attnlab-bench', 'tests/fixtures/parity/llama3/tokenizer.json')" > $OUT/ckpt.log 2>&1
for r in 1 2; do for s in "streaming:budget=25%" "streaming:budget=25%,rerotate=true"; do for v in new old; do
  b=./build/cuda/bin/attnlab-engine-bench; [ $v = old ] && b=./old/build/cuda/bin/attnlab-engine-bench
  echo "run $v $s" >> $OUT/strategy_ab.jsonl
  timeout 90 $b --model /tmp/attnlab-bench/llama-3.2-1b --prompt-tokens 4096,32768 --new-tokens 32 --device cuda --repeat 2 --strategy "$s" >> $OUT/strategy_ab.jsonl 2>&1
done; done; done
python3 - <<'PY' $OUT/strategy_ab.jsonl
import json,sys
cur=None
for l in open(sys.argv[1]):
    if l.startswith('run '): cur=l.split(None,2)[1:]; cur=(cur[0],cur[1].strip()); continue
    try: r=json.loads(l)
    except Exception: continue
    if 'decode_ms_per_token' in r: print(cur, r['prompt_tokens'], 'decode ms/token %.2f'%r['decode_ms_per_token'], 'prefill ms %.1f'%r['prefill_ms'])
PY
