#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine:
#   bash packaging/bootstrap.sh run    install what is missing, build, open the desktop app (the CLI without a display)
#   bash packaging/bootstrap.sh test   install what is missing, build, run the test suite (all but `cuda`)
# Safe to re-run: packages are installed only when missing, builds are incremental (ccache).
set -euo pipefail

mode="${1:-run}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf '[attnlab] %s\n' "$*"; }

install_packages() {
    local wanted=() missing=()
    mapfile -t wanted < <(grep -v '^\s*#' packaging/debian-packages.txt | sed '/^\s*$/d')
    for p in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        log "all ${#wanted[@]} Debian packages present"
        return
    fi
    log "installing: ${missing[*]}"
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build() {
    # GCC precompiled headers and ccache: these settings let ccache reuse PCH-based objects.
    export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
    export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
    local jobs
    jobs="$(nproc)"
    cmake --preset dev
    cmake --build --preset dev -j "$jobs"
}

demo_model() {
    if [[ -f assets/models/attnlab-demo/model.safetensors ]]; then
        echo assets/models/attnlab-demo
    else
        # Until the bundled demo model lands, a parity checkpoint stands in.
        echo tests/fixtures/parity/llama3
    fi
}

case "$mode" in
    run)
        install_packages
        build
        model="$(demo_model)"
        log "model: $model"
        if [[ -x build/dev/bin/attnlab && ( -n "${DISPLAY:-}" || -n "${WAYLAND_DISPLAY:-}" ) ]]; then
            log "starting the desktop app"
            exec build/dev/bin/attnlab --model "$model"
        fi
        log "no display: running the CLI (the desktop app is build/dev/bin/attnlab)"
        build/dev/bin/attnlab-cli info --model "$model"
        build/dev/bin/attnlab-cli generate --model "$model" \
            --prompt "${ATTNLAB_PROMPT:-The old sailor looked at the sea and said}" --max-new-tokens 48 --json
        log "strategies side by side on a 1K-token pass-key prompt"
        build/dev/bin/attnlab-cli run --model "$model" --task needle:length=1024,depth=0.5 --include-full \
            --strategy streaming:budget=25% --strategy snapkv:budget=25% --strategy duo:retrieval_ratio=0.25
        ;;
    test)
        install_packages
        build
        ctest --test-dir build/dev --label-exclude cuda --output-on-failure -j "$(nproc)" --timeout 1800
        ;;
    *)
        echo "usage: bash packaging/bootstrap.sh run|test" >&2
        exit 2
        ;;
esac
