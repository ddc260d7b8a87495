# Session 7 (2026-11-29): the device calls, in order. Each ran as `bash .snap/runN.sh` through the device tool from a
# snapshot in .snap/ (the working tree, or `git archive` of the commit named) with .debs/ copied in and
# device_s5_summ-2026-11-28.py as summ.py. The experiment switches (ATTNLAB_DECODE_OPT bits, ATTNLAB_DECODE_SPLITS) are
# in decode_experiments-2026-11-29-session7.patch (against a923e41):
#   OPT 1: rescale O only when a row max grows by more than 2^8; 2: S as four MMA chains; 4: one-pass split merge;
#   8: 128-key K/V kernel for bulk reads; 16: L2 evict-first on the 64-key kernel's bulk copies; 32: evict-first in the
#   128-key kernel; 64: request 96 KB of shared memory (at most two CTAs per SM). SPLITS=N forces N splits.
# Each call began:
#   cd "$(dirname "$0")"; export LD_LIBRARY_PATH=/tmp/attnlab-debs/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH
#   bash tests/bench/device_build.sh attnlab_cuda_tests attnlab-kernel-bench   (call 5: + attnlab-engine-bench)
#   B=./build/cuda/bin
# and printed medians from $OUT/ab.jsonl (kernel_bench-2026-11-29-session7-ab.jsonl joins calls 1-4).
#
# Call 1: cuobjdump -sass instruction counts of the bf16 d=128 tensor-core kernels; decode CUDA tests with
#   ATTNLAB_DECODE_OPT=7; for c in 1:131072 4:32768, 3 rounds, OPT in 0 1 2 3 4 7, each its own process:
#   ATTNLAB_DECODE_OPT=$v $B/attnlab-kernel-bench --section decode --case $c
# Call 2: decode CUDA tests with OPT=8; 3 rounds over c in 1:131072 4:32768 16:16384 1:524288, OPT 0 and 8 alternately;
#   ncu (SpeedOfLight, Occupancy, LaunchStats, WarpStateStats) of the OPT=8 kernel at 1:131072
#   (ncu_decode-2026-11-29-session7-kv128.txt).
# Call 3: decode CUDA tests with OPT=16; 3 rounds over c in 1:131072 4:32768 of: default; SPLITS=32|8 (256 CTAs);
#   16|4; 33|9; 40|10; OPT=16; ATTNLAB_DECODE_STAGES=3; STAGES=3 with SPLITS=32|8; OPT=8 with SPLITS=32|8.
# Call 4: decode CUDA tests with OPT=104; 2 rounds over c in 1:131072 4:32768 16:16384 1:524288 (256-CTA splits
#   32, 8, 2, 32) of: A default; B OPT=8 + SPLITS; C OPT=40 + SPLITS; D OPT=104; E OPT=72; F OPT=16 + SPLITS; G OPT=80.
#   D became the code of 69b1291.
# Call 5 (working tree committed as 69b1291), verbatim:
timeout 150 $B/attnlab_cuda_tests > $OUT/cuda_tests.txt 2>&1; grep -E "FAILED|PASSED|tests ran" $OUT/cuda_tests.txt | tail -8
timeout 150 $B/attnlab-kernel-bench --section decode > $OUT/decode.jsonl 2>&1; python3 summ.py $OUT/decode.jsonl
python3 -c "import sys; sys.path.insert(0,'tests/bench'); import run_engine_bench as r; r.make_checkpoint('llama-3.2-1b', r.SHAPES['llama-3.2-1b'], '/tmp/attnlab-bench', 'tests/fixtures/parity/llama3/tokenizer.json')" > $OUT/ckpt.log 2>&1
PYTHONUNBUFFERED=1 timeout 90 python3 tests/bench/run_engine_bench.py --bench-bin $B/attnlab-engine-bench --out $OUT/engine --repeat 3 --lengths 4096 > $OUT/engine.log 2>&1; grep "^|" $OUT/engine.log
# Call 6 (git archive of 69b1291; only attnlab-kernel-bench built), verbatim:
timeout 150 $B/attnlab-kernel-bench --section decode > $OUT/decode.jsonl 2>&1; python3 summ.py $OUT/decode.jsonl | grep -E "^dec|537 ratio"
timeout 240 $B/attnlab-kernel-bench --section prefill > $OUT/prefill.jsonl 2>&1; python3 summ.py $OUT/prefill.jsonl
# Call 7 (working tree committed as the commit after 2de93ef: kernel dispatch through byTypeAndDim, rmsNorm without the
# unused residual input), on another machine (cuDNN 4.22 TB/s at 537 MB), verbatim after the build of all three targets:
timeout 150 $B/attnlab_cuda_tests > $OUT/cuda_tests.txt 2>&1; grep -E "FAILED|PASSED|tests ran" $OUT/cuda_tests.txt | tail -8
timeout 60 $B/attnlab-kernel-bench --section decode --case 1:131072 > $OUT/decode.jsonl 2>&1; python3 summ.py $OUT/decode.jsonl | grep -E "^dec"
python3 -c "import sys; sys.path.insert(0,'tests/bench'); import run_engine_bench as r; r.make_checkpoint('llama-3.2-1b', r.SHAPES['llama-3.2-1b'], '/tmp/attnlab-bench', 'tests/fixtures/parity/llama3/tokenizer.json')" > $OUT/ckpt.log 2>&1
PYTHONUNBUFFERED=1 timeout 90 python3 tests/bench/run_engine_bench.py --bench-bin $B/attnlab-engine-bench --out $OUT/engine --repeat 3 --lengths 4096 > $OUT/engine.log 2>&1; grep "^|" $OUT/engine.log
