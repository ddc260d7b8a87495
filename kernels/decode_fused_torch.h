// ATen wrappers of kernels/decode_fused.h (CUDA builds only). All tensors contiguous, one CUDA
// device, bf16 or fp16; they run on the current stream (capturable in a CUDA graph).
#pragma once

#include <ATen/core/Tensor.h>

namespace attnlab::kernels {

// x [rows, H] updated in place by delta (if defined); out [rows, H] = RMSNorm(x) * w.
void addRmsNorm(at::Tensor& x, const at::Tensor& delta, const at::Tensor& w, at::Tensor& out, double eps);
// q [Hq*D] or [1, Hq*D], k/v [Hkv*D]; caches [Hkv, capacity, D]; pos_cache int64 [capacity].
void ropeKvWrite(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& position,
                 const at::Tensor& inv_freq, at::Tensor& q_out, at::Tensor& k_cache, at::Tensor& v_cache,
                 at::Tensor& pos_cache);
void siluMul(const at::Tensor& gate, const at::Tensor& up, at::Tensor& out);

}  // namespace attnlab::kernels
