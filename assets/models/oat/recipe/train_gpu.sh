#!/usr/bin/env bash
# OAT-lite end to end on one machine: build the data tool (OpenCV core+imgproc from the Debian
# .debs in .debs/vision when the machine has no OpenCV), generate the splits, print the simulator's
# sanity statistics, train (time-boxed), decode the held-out splits, score them against the
# simulated subjects and the baselines, and leave at most 8 files in $OUT:
#   model.safetensors config.json train_log.txt metrics.json parity.safetensors
#   results.md results.json preds.tar.gz
#
# Run from the repository root:  OUT=/some/dir bash assets/models/oat/recipe/train_gpu.sh [--tiny]
# --tiny: small data, tiny model, a few CPU seconds (the local end-to-end check).
set -euo pipefail

TINY=0
[[ "${1:-}" == "--tiny" ]] && TINY=1
OUT=${OUT:?set OUT to the output folder}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=${OAT_WORK:-$(mktemp -d /tmp/oat-work.XXXXXX)}
mkdir -p "$WORK"
PY=${PYTHON:-python3}
LOG="$OUT/train_log.txt"
: > "$LOG"
T0=$(date +%s)
say() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$LOG"; }
NPROC=$(nproc 2>/dev/null || echo 4)

if [[ $TINY == 1 ]]; then
    N_TRAIN=300; N_VAL=60; N_LAYOUT=40; N_TARGET=30; N_LARGE=30
    TRAIN_ARGS=(--tiny --steps 60 --batch 16 --minutes 0.5 --samples 3 --eval-every 30)
    RESAMPLES=100
else
    N_TRAIN=${OAT_TRAIN_DISPLAYS:-40000}; N_VAL=1000; N_LAYOUT=600; N_TARGET=500; N_LARGE=500
    TRAIN_ARGS=(--steps ${OAT_STEPS:-12000} --batch ${OAT_BATCH:-128} --minutes ${OAT_MINUTES:-4.5} --samples 10
                --eval-every 500)
    RESAMPLES=1000
fi

# 1. OpenCV: the system's, else the Debian packages carried in .debs/vision.
if [[ -z "${OAT_FORCE_DEBS:-}" && -f /usr/include/opencv4/opencv2/core.hpp ]]; then
    CV_INC=/usr/include/opencv4
    CV_LIB=/usr/lib/x86_64-linux-gnu
else
    [[ -d .debs/vision ]] || { say "no OpenCV and no .debs/vision (carry it)"; exit 1; }
    mkdir -p "$WORK/vdebs"
    for f in .debs/vision/*.deb; do dpkg -x "$f" "$WORK/vdebs"; done
    CV_INC="$WORK/vdebs/usr/include/opencv4"
    CV_LIB="$WORK/vdebs/usr/lib/x86_64-linux-gnu"
    # The -dev packages' unversioned .so links may point at absolute paths: link the real files.
    for lib in opencv_core opencv_imgproc; do
        real=$(ls "$CV_LIB"/lib$lib.so.4* 2>/dev/null | head -1)
        [[ -n "$real" ]] && ln -sf "$(basename "$real")" "$CV_LIB/lib$lib.so"
    done
    export LD_LIBRARY_PATH="$CV_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

# 2. The data tool, one object file per source in parallel (OAT_BUILD_LOCK: a lock file to hold
# while compiling, for shared development machines).
say "building attnlab-oat-data against $CV_INC"
if [[ -n "${OAT_BUILD_LOCK:-}" ]]; then exec 9>"$OAT_BUILD_LOCK"; flock 9; fi
mkdir -p "$WORK/obj"
pids=()
for src in core/vision/oat/*.cpp core/vision/oat/tools/oat_data.cpp; do
    case "$src" in *_torch.cpp) continue ;; esac
    obj="$WORK/obj/$(basename "${src%.cpp}").o"
    g++ -O2 -std=c++17 -I. -isystem "$CV_INC" -c "$src" -o "$obj" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
# With the carried .debs, link OpenCV statically: the shared libopencv_core pulls in LAPACK, whose
# libgfortran is not among the .debs. Fall back to the shared libraries (plus Debian's blas/lapack
# alternative folders) if the static link fails.
TOOL="$WORK/oat-data"
linked=0
if [[ "$CV_LIB" != /usr/lib/x86_64-linux-gnu ]]; then
    # OpenCV's static core references three GLX functions from its OpenGL interop, which the tool
    # never calls; stand-ins keep libGLX (and its libX11) out of the link.
    printf '%s\n' 'void* glXGetCurrentContext(void) { return 0; }' 'void* glXGetCurrentDisplay(void) { return 0; }' \
        'void* glXGetProcAddressARB(const unsigned char* name) { (void)name; return 0; }' > "$WORK/glx_stub.c"
    gcc -O2 -c "$WORK/glx_stub.c" -o "$WORK/glx_stub.o"
    if g++ -o "$TOOL" "$WORK"/obj/*.o "$WORK/glx_stub.o" "$CV_LIB/libopencv_imgproc.a" "$CV_LIB/libopencv_core.a" \
        -L"$CV_LIB" -l:libtbb.so.12 -l:libz.so.1 -ldl -lpthread; then
        linked=1
        say "linked OpenCV statically"
    fi
    export LD_LIBRARY_PATH="$CV_LIB/blas:$CV_LIB/lapack:$LD_LIBRARY_PATH"
fi
if [[ $linked == 0 ]]; then
    g++ -o "$TOOL" "$WORK"/obj/*.o -L"$CV_LIB" -lopencv_imgproc -lopencv_core -lpthread
fi
if [[ -n "${OAT_BUILD_LOCK:-}" ]]; then flock -u 9; fi
"$TOOL" sanity --per-cell 1 > /dev/null || { say "the data tool does not run (see the loader error above)"; exit 1; }
say "tool built"

# 3. Data.
DATA="$WORK/data"
mkdir -p "$DATA"
for spec in train:$N_TRAIN val:$N_VAL test_layout:$N_LAYOUT test_target:$N_TARGET test_large:$N_LARGE; do
    "$TOOL" gen --split "${spec%%:*}" --count "${spec##*:}" --out "$DATA/${spec%%:*}" --threads "$NPROC" | tee -a "$LOG"
done
say "data written ($(du -sh "$DATA" | cut -f1))"
echo "## simulator sanity statistics" >> "$LOG"
"$TOOL" sanity --per-cell $([[ $TINY == 1 ]] && echo 5 || echo 40) | tee -a "$LOG"

# 4. Training (time-boxed inside train.py; it saves weights when time runs out or on SIGTERM).
say "training"
"$PY" assets/models/oat/recipe/train.py --data "$DATA" --out "$WORK/run" "${TRAIN_ARGS[@]}" 2>&1 | tee -a "$LOG" ||
    say "train.py exited with an error (see above); keeping what it wrote"
for f in model.safetensors config.json metrics.json parity.safetensors; do
    if [[ -f "$WORK/run/$f" ]]; then cp "$WORK/run/$f" "$OUT/"; else say "train.py left no $f"; fi
done
say "weights copied"

# 5. Scores against the simulated subjects, with baselines, ceiling and bootstrap intervals.
: > "$OUT/results.md"
mkdir -p "$WORK/results"
echo "[" > "$WORK/results.json"
first=1
for split in test_layout test_target test_large; do
    case $split in test_layout) n=$N_LAYOUT ;; test_target) n=$N_TARGET ;; test_large) n=$N_LARGE ;; esac
    for mode in greedy sample; do
        pred="$WORK/run/preds_${split}_${mode}.npy"
        [[ -f "$pred" ]] || { say "missing $pred"; continue; }
        "$TOOL" eval --split "$split" --count "$n" --pred "$pred" --name "oat-lite ($mode)" --resamples $RESAMPLES \
            --json "$WORK/results/${split}_${mode}.json" --md "$WORK/results/${split}_${mode}.md" > /dev/null ||
            { say "eval of $pred failed"; continue; }
        { echo "#### model decoding: $mode"; cat "$WORK/results/${split}_${mode}.md"; } >> "$OUT/results.md"
        [[ $first == 1 ]] || echo "," >> "$WORK/results.json"
        cat "$WORK/results/${split}_${mode}.json" >> "$WORK/results.json"
        first=0
    done
done
echo "]" >> "$WORK/results.json"
cp "$WORK/results.json" "$OUT/results.json"
cat "$OUT/results.md" | tee -a "$LOG" > /dev/null
tar -czf "$OUT/preds.tar.gz" -C "$WORK/run" $(cd "$WORK/run" && ls preds_*.npy 2>/dev/null) -C "$WORK" results || say "tar failed"
say "done; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
