#!/usr/bin/env bash
# One-shot GPU run for the scene model (issue 10): build the OpenCV-only data tool with g++, generate
# the data, train evaluator + planner + renderers by wall clock, evaluate, export to $OUT.
#   OUT=/some/dir assets/models/scene/recipe/train_gpu.sh            # full run (<= ~8 min on one H200)
#   OUT=/tmp/x PYTHON=/usr/bin/python3 assets/models/scene/recipe/train_gpu.sh --tiny   # CPU smoke test
# Needs OpenCV core+imgproc headers/libs: system ones, or the Debian .debs in .debs/vision/ (carried).
# Leaves in $OUT: model.safetensors, config.json, fixtures.safetensors, metrics.json, train_log.txt,
# samples.png, data_log.txt.
set -euo pipefail
TINY=0
[[ "${1:-}" == "--tiny" ]] && TINY=1
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)"
OUT="${OUT:-$ROOT/out/scene}"
PYTHON="${PYTHON:-python3}"
WORK="${WORK:-$(mktemp -d /tmp/attnlab_scene_XXXXXX)}"
mkdir -p "$OUT" "$WORK"
T0=$(date +%s)
say() { echo "[train_gpu $(( $(date +%s) - T0 ))s] $*" | tee -a "$OUT/data_log.txt"; }

# 1. OpenCV core + imgproc: the system's, else unpack the carried Debian packages.
CVINC="" ; CVLIB=""
if [[ -f /usr/include/opencv4/opencv2/core.hpp ]] && ls /usr/lib/x86_64-linux-gnu/libopencv_imgproc.so* >/dev/null 2>&1; then
    CVINC=/usr/include/opencv4; CVLIB=/usr/lib/x86_64-linux-gnu
else
    [[ -d "$ROOT/.debs/vision" ]] || { echo "no OpenCV and no .debs/vision (carry it)" >&2; exit 1; }
    for f in "$ROOT"/.debs/vision/*.deb; do dpkg -x "$f" "$WORK/vdebs"; done
    CVINC="$WORK/vdebs/usr/include/opencv4"; CVLIB="$WORK/vdebs/usr/lib/x86_64-linux-gnu"
    export LD_LIBRARY_PATH="$CVLIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # the -dev packages' .so links point to versioned names; make sure the linker finds them
    for lib in core imgproc; do
        [[ -e "$CVLIB/libopencv_$lib.so" ]] || ln -sf "$(ls "$CVLIB"/libopencv_$lib.so.4* | head -1)" "$CVLIB/libopencv_$lib.so"
    done
fi
mkdir -p "$WORK/data"
say "building attnlab-scene-data against $CVINC"
g++ -O2 -std=c++17 -I"$ROOT" -I"$CVINC" "$ROOT/core/vision/scene/scene.cpp" \
    "$ROOT/core/vision/scene/tools/scene_data.cpp" -o "$WORK/attnlab-scene-data" \
    -L"$CVLIB" -Wl,-rpath,"$CVLIB" -lopencv_imgproc -lopencv_core -pthread
TOOL="$WORK/attnlab-scene-data"

# 2. Data: disjoint seed ranges for training, the evaluator, held-out test and the FD reference.
if [[ $TINY == 1 ]]; then NTR=600; NEV=300; NTE=64; NRF=64; else NTR=80000; NEV=20000; NTE=2000; NRF=2000; fi
"$TOOL" --out "$WORK/data/train"   --seed-start 0        --count $NTR
"$TOOL" --out "$WORK/data/evtrain" --seed-start 10000000 --count $NEV
"$TOOL" --out "$WORK/data/test"    --seed-start 20000000 --count $NTE --amodal
"$TOOL" --out "$WORK/data/ref"     --seed-start 30000000 --count $NRF
say "data ready"

# 3. Train + evaluate + export (time-boxed inside; SIGTERM finishes the stage and exports).
EXTRA=()
[[ $TINY == 1 ]] && EXTRA+=(--tiny --device cpu)
timeout -s TERM "${TRAIN_TIMEOUT:-480}" "$PYTHON" "$ROOT/assets/models/scene/recipe/train.py" \
    --data "$WORK/data" --tool "$TOOL" --out "$OUT" "${EXTRA[@]}" || say "train.py exited with $?"
say "done; files in $OUT:"
ls -la "$OUT" | tee -a "$OUT/data_log.txt"
