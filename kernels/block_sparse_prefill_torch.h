// The block-sparse prefill kernel over ATen tensors (CUDA builds only).
#pragma once

#include <ATen/core/Tensor.h>

namespace attnlab::kernels {

struct TileLists {
    at::Tensor offsets;  // int32 [B*Hq*q_tiles + 1]
    at::Tensor indices;  // int32, key tiles of each row, ascending
    int64_t computed_tiles = 0;
};

// From a boolean block mask [B or 1, Hq, ceil(N/bs), ceil(N/bs)] with bs = 64 or 128 (causal drops
// the tiles above the diagonal). Throws std::invalid_argument naming what does not fit.
TileLists buildTileLists(const at::Tensor& block_mask, int64_t block_size, int64_t batch, int64_t q_heads,
                         int64_t tokens, bool causal, const at::Device& device);

// q [B, Hq, N, D], k/v [B, Hkv, N, D] (bf16/fp16, CUDA). Returns [B, Hq, N, D]. kernel: 0 auto,
// 1 mma.sync, 2 wgmma (PrefillKernel in block_sparse_prefill.h; an int keeps that header out).
at::Tensor blockSparseAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const TileLists& tiles,
                                bool causal, double scale, int kernel = 0);

}  // namespace attnlab::kernels
