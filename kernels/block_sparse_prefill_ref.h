// Plain-ATen reference for kernels/block_sparse_prefill.h (float32 math, any device; memory grows
// as N^2 per head, so for tests and small prompts).
#pragma once

#include <ATen/core/Tensor.h>

namespace attnlab::kernels {

// q [B, Hq, N, D], k/v [B, Hkv, N, D]; block_mask bool [B or 1, Hq, ceil(N/bs), ceil(N/bs)]
// (true = the query block may read the key block); causal masks keys after the query. Rows with no
// visible key give zeros. Returns [B, Hq, N, D] in q's dtype.
at::Tensor blockSparsePrefillReference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                       const at::Tensor& block_mask, int64_t block_size, bool causal, double scale);

// The element mask [B or 1, Hq, N, N] that a block mask and causality allow.
at::Tensor expandBlockMask(const at::Tensor& block_mask, int64_t block_size, int64_t tokens, bool causal);

}  // namespace attnlab::kernels
