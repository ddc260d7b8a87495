#!/usr/bin/env bash
# Builds attnlab on the GPU machine (Ubuntu, PyTorch's LibTorch with CUDA, no Qt/PCRE2/utf8proc
# headers) with the missing libraries carried as Debian .debs in .debs/ (apt-get download, see
# tests/bench/README.md), unpacked into a private root, never into /.
#   bash tests/bench/device_build.sh [target...]   # configure + build build/cuda (all targets, or those named)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
deb_root=/tmp/attnlab-debs
mkdir -p "$deb_root"
for f in .debs/*.deb; do dpkg -x "$f" "$deb_root"; done
libdir="$deb_root/usr/lib/x86_64-linux-gnu"
export PKG_CONFIG_PATH="$libdir/pkgconfig:$deb_root/usr/share/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$deb_root"
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# pkg-config itself may be missing there: fall back to pkgconf from the .debs.
pkg_config="$(command -v pkg-config || echo "$deb_root/usr/bin/pkgconf")"
nvcc_bin="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
torch_prefix="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')"
cmake --preset cuda -DCMAKE_CXX_COMPILER_LAUNCHER= -DCMAKE_CUDA_COMPILER_LAUNCHER= \
    -DCMAKE_PREFIX_PATH="$torch_prefix;$deb_root/usr" -DCMAKE_CUDA_COMPILER="$nvcc_bin" \
    -DPKG_CONFIG_EXECUTABLE="$pkg_config"
if [[ $# -gt 0 ]]; then
    cmake --build --preset cuda -j "$(nproc)" --target "$@"
else
    cmake --build --preset cuda -j "$(nproc)"
fi
