# Session 6 (2026-11-29): the device calls, in order. Each ran as `bash .snap/runN.sh` through the device tool, from a
# snapshot in .snap/ (git archive of the commit named, or of the working tree where it says so) with .debs/ and
# device_s5_summ-2026-11-28.py copied in as summ.py. Calls 1-8 are reproduced here from the session's record of the
# scripts; call 9 (the final numbers, kernel_bench-2026-11-29.jsonl) is verbatim below.
#
# Call 1 (commit 8686698): profile of the session-5 kernel and of cuDNN SDPA.
#   bash tests/bench/device_build.sh attnlab-kernel-bench
#   for c in 1:131072 4:32768; do attnlab-kernel-bench --section decode --case $c; done
#   NCU="ncu --clock-control none --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats \
#        --section SchedulerStats --section Occupancy --section LaunchStats --section ComputeWorkloadAnalysis \
#        --metrics dram__bytes_read.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,smsp__inst_executed.sum,\
#        sm__cycles_elapsed.avg.per_second,lts__t_sectors_srcunit_tex_op_read.sum,l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum"
#   for c in 1:131072 4:32768; do
#     $NCU -k regex:"tcDecode|[Cc]ombine" -s 6 -c 2 attnlab-kernel-bench --section decode --case $c
#     $NCU -k regex:"sdpa|fmha|cudnn|fprop" -s 2 -c 2 attnlab-kernel-bench --section decode --case $c
#   done
# Call 2 (working tree that became cb38d54, with an ATTNLAB_DECODE_FUSED_MERGE=0 switch kept for the A/B): decode CUDA
#   tests; for c in 1:131072 4:32768, ATTNLAB_DECODE_FUSED_MERGE=1,0,1,0 each its own process (--case $c); the decode
#   section; ncu (SpeedOfLight, WarpStateStats, SourceCounters, lts__t_sectors/requests/lookup_hit metrics) of
#   tcDecode at 1:131072 with and without ATTNLAB_DECODE_BULK=0.
# Calls 3 and 4 (working trees on cb38d54 with an ATTNLAB_DECODE_ROWS=rot|pad32 switch, since removed): decode CUDA
#   tests under the variant; for c in 1:131072 4:32768 16:16384 the variant and the padded rows alternately, four
#   processes per case; ncu of the variant at 1:131072.
# Call 5 (cb38d54 as old/, per-warp bulk pipelines as the working tree; old/ made on the device by reversing the
#   working-tree patch): both built; decode CUDA tests; for c in 1:131072 4:32768 16:16384 1:524288 new, old, new, old.
# Call 6 (commit 10aa6eb): all CUDA tests; the decode section; engine bench at 4K
#   (run_engine_bench.py --repeat 3 --lengths 4096).
# Call 7 (10aa6eb as new, 10aa6eb with cb38d54 reversed as old/): both built; new, old, new, old: engine bench at 4K
#   and attnlab-kernel-bench --section decode --case 1:131072.
# Call 8 (commit e947f1d): all CUDA tests; the decode section.
# Call 9 (the working tree committed as d6f80e9):
# Session 6, device call 9: split merge kernel with sliced splits (working tree on e947f1d): all CUDA tests, decode section, engine bench at 4K.
cd "$(dirname "$0")" || exit 1
export LD_LIBRARY_PATH=/tmp/attnlab-debs/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH
(time bash tests/bench/device_build.sh attnlab_cuda_tests attnlab-kernel-bench attnlab-engine-bench) > $OUT/build.log 2>&1 || { grep -E "error" $OUT/build.log | head -20; exit 1; }
B=./build/cuda/bin
timeout 100 $B/attnlab_cuda_tests > $OUT/cuda_tests.txt 2>&1; grep -E "FAILED|PASSED|tests ran" $OUT/cuda_tests.txt | tail -8
timeout 100 $B/attnlab-kernel-bench --section decode > $OUT/decode.jsonl 2>&1; python3 summ.py $OUT/decode.jsonl
python3 -c "import sys; sys.path.insert(0,'tests/bench'); import run_engine_bench as r; r.make_checkpoint('llama-3.2-1b', r.SHAPES['llama-3.2-1b'], '/tmp/attnlab-bench', 'tests/fixtures/parity/llama3/tokenizer.json')" > $OUT/ckpt.log 2>&1
PYTHONUNBUFFERED=1 timeout 60 python3 tests/bench/run_engine_bench.py --bench-bin $B/attnlab-engine-bench --out $OUT/engine --repeat 3 --lengths 4096 > $OUT/engine.log 2>&1; grep "^|" $OUT/engine.log
