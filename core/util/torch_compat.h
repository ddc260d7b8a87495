// Every LibTorch version difference lives here: Debian's CPU LibTorch 1.13 and LibTorch 2.x with CUDA.
#pragma once

#include <ATen/ATen.h>
#include <torch/csrc/api/include/torch/version.h>

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
// at::scaled_dot_product_attention with scale and enable_gqa (2.5+). Older versions use exact math.
#define ATTNLAB_HAS_SDPA 1
#else
#define ATTNLAB_HAS_SDPA 0
#endif

namespace attnlab::compat {

inline std::string torchVersion() {
    return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
           std::to_string(TORCH_VERSION_PATCH);
}

inline bool cudaAvailable() { return at::hasCUDA(); }

// True if a c10::Error message is an allocator out-of-memory failure.
inline bool isOutOfMemory(const std::string& what) {
    return what.find("out of memory") != std::string::npos || what.find("OutOfMemory") != std::string::npos ||
           what.find("DefaultCPUAllocator: can't allocate") != std::string::npos;
}

}  // namespace attnlab::compat
