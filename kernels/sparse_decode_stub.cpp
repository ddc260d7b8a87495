// Builds without the CUDA kernels: the entry points exist and say so.
#include "kernels/block_sparse_prefill.h"
#include "kernels/sparse_decode.h"

namespace attnlab::kernels {

bool sparseDecodeCompiled() { return false; }
int sparseDecodeSplits(const SparseDecodeParams& p) { return p.splits > 0 ? p.splits : 1; }
size_t sparseDecodeWorkspaceBytes(const SparseDecodeParams&) { return 0; }
std::string sparseDecodeAttention(const SparseDecodeParams&) {
    return "sparse decode: this build has no CUDA kernels (LibTorch without CUDA)";
}

std::string blockSparsePrefill(const BlockSparsePrefillParams&) {
    return "block-sparse prefill: this build has no CUDA kernels (LibTorch without CUDA)";
}

}  // namespace attnlab::kernels
