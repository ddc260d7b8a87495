#!/usr/bin/env bash
# One-shot GPU run for the scene model (issue 10): build the OpenCV-only data tool with g++, generate
# the data, train evaluator + planner + renderers by wall clock, evaluate, export to $OUT.
#   OUT=/some/dir assets/models/scene/recipe/train_gpu.sh            # full run (<= ~8 min on one H200)
#   OUT=/tmp/x PYTHON=/usr/bin/python3 assets/models/scene/recipe/train_gpu.sh --tiny   # CPU smoke test
# Needs OpenCV core+imgproc headers/libs: system ones, or the Debian .debs in .debs/vision/ (carried).
# Leaves in $OUT (8 files, the most a device run returns): model.safetensors (planner + renderer),
# evaluator.safetensors (E + the FD evaluator), ablation.safetensors, config.json, fixtures.safetensors,
# metrics.json, train_log.txt (this script's log and train.py's), samples.png.
set -euo pipefail
TINY=0
[[ "${1:-}" == "--tiny" ]] && TINY=1
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)"
OUT="${OUT:-$ROOT/out/scene}"
PYTHON="${PYTHON:-python3}"
WORK="${WORK:-$(mktemp -d /tmp/attnlab_scene_XXXXXX)}"
mkdir -p "$OUT" "$WORK"
T0=$(date +%s)
say() { echo "[train_gpu $(( $(date +%s) - T0 ))s] $*" | tee -a "$OUT/train_log.txt"; }

# 1. OpenCV core + imgproc: the system's, else unpack the carried Debian packages.
CVINC="" ; CVLIB=""
if [[ "${FORCE_DEBS:-0}" != 1 && -f /usr/include/opencv4/opencv2/core.hpp ]] && ls /usr/lib/x86_64-linux-gnu/libopencv_imgproc.so* >/dev/null 2>&1; then
    CVINC=/usr/include/opencv4; CVLIB=/usr/lib/x86_64-linux-gnu
else
    [[ -d "$ROOT/.debs/vision" ]] || { echo "no OpenCV and no .debs/vision (carry it)" >&2; exit 1; }
    for f in "$ROOT"/.debs/vision/*.deb; do dpkg -x "$f" "$WORK/vdebs"; done
    CVINC="$WORK/vdebs/usr/include/opencv4 -I$WORK/vdebs/usr/include/x86_64-linux-gnu/opencv4"; CVLIB="$WORK/vdebs/usr/lib/x86_64-linux-gnu"
    # libblas3/liblapack3 install into blas/ and lapack/ (Debian alternatives): add both dirs
    CVDEPS="$CVLIB:$CVLIB/blas:$CVLIB/lapack"
    export LD_LIBRARY_PATH="$CVDEPS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
CVDEPS="${CVDEPS:-$CVLIB}"
mkdir -p "$WORK/data"
say "building attnlab-scene-data against $CVINC"
g++ -O2 -std=c++17 -I"$ROOT" -I$CVINC "$ROOT/core/vision/scene/scene.cpp" \
    "$ROOT/core/vision/scene/tools/scene_data.cpp" -o "$WORK/attnlab-scene-data" \
    -L"$CVLIB" -Wl,--disable-new-dtags -Wl,-rpath,"$CVDEPS" -Wl,-rpath-link,"$CVDEPS" -lopencv_imgproc -lopencv_core -pthread
MISSING=$(ldd "$WORK/attnlab-scene-data" | awk '/not found/{print $1}' | sort -u | tr '\n' ' ')
if [[ -n "${MISSING// /}" ]]; then
    # Transitive libraries of Debian's OpenCV that the tool never calls (lapack's libgfortran, GLX's
    # libX11): stub them so the loader can finish (each stub function aborts if ever called).
    say "missing shared libraries: $MISSING -> stubs"
    python3 "$ROOT/assets/models/scene/recipe/stub_missing_libs.py" "$WORK/stubs" "$WORK/vdebs" $MISSING
    export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$WORK/stubs"
fi
"$WORK/attnlab-scene-data" --help >/dev/null || { ldd "$WORK/attnlab-scene-data"; echo "attnlab-scene-data does not run" >&2; exit 1; }
TOOL="$WORK/attnlab-scene-data"

# 2. Data: disjoint seed ranges for training, the evaluator, held-out test and the FD reference.
if [[ $TINY == 1 ]]; then NTR=600; NEV=300; NTE=64; NRF=64; else NTR=80000; NEV=20000; NTE=2000; NRF=2000; fi
# calib: standardisation statistics of the FD space; ref2/ref3: more real sets for the FD noise floor
"$TOOL" --out "$WORK/data/train"   --seed-start 0        --count $NTR
"$TOOL" --out "$WORK/data/evtrain" --seed-start 10000000 --count $NEV
"$TOOL" --out "$WORK/data/test"    --seed-start 20000000 --count $NTE --amodal
"$TOOL" --out "$WORK/data/ref"     --seed-start 30000000 --count $NRF
"$TOOL" --out "$WORK/data/ref2"    --seed-start 40000000 --count $NRF
"$TOOL" --out "$WORK/data/ref3"    --seed-start 50000000 --count $NRF
"$TOOL" --out "$WORK/data/calib"   --seed-start 60000000 --count $NRF
say "data ready"

# 3. Train + evaluate + export (time-boxed inside; SIGTERM finishes the stage and exports).
EXTRA=()
[[ $TINY == 1 ]] && EXTRA+=(--tiny --device cpu)
timeout -s TERM -k 20 "${TRAIN_TIMEOUT:-470}" "$PYTHON" "$ROOT/assets/models/scene/recipe/train.py" \
    --data "$WORK/data" --tool "$TOOL" --out "$OUT" "${EXTRA[@]}" || say "train.py exited with $?"
say "done; files in $OUT:"
ls -la "$OUT" | tee -a "$OUT/train_log.txt"
