// ATen wrappers of kernels/decode_fused.h (CUDA builds only). All tensors contiguous, one CUDA
// device, bf16 or fp16; they run on the current stream (capturable in a CUDA graph).
#pragma once

#include <ATen/core/Tensor.h>

namespace attnlab::kernels {

// x, out [rows, H]: out = RMSNorm(x) * w.
void rmsNorm(const at::Tensor& x, const at::Tensor& w, at::Tensor& out, double eps);
// q [Hq*D] or [1, Hq*D], k/v [Hkv*D]; caches [Hkv, capacity, D]; pos_cache int64 [capacity].
void ropeKvWrite(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& position,
                 const at::Tensor& inv_freq, at::Tensor& q_out, at::Tensor& k_cache, at::Tensor& v_cache,
                 at::Tensor& pos_cache);
void siluMul(const at::Tensor& gate, const at::Tensor& up, at::Tensor& out);

// RMSNorm(x) * w over rows (x [..., H]) through fusedRmsNormRows, or an undefined tensor when the
// kernel does not suit (CPU, dtype, alignment, H % 8, ATTNLAB_ROWS_KERNELS=0): the caller then runs ATen.
at::Tensor rmsNormRows(const at::Tensor& x, const at::Tensor& w, double eps);
// SiLU(gate) * up from the stacked product gu [rows, 2*inter] through fusedSiluMulRows, or undefined
// as above.
at::Tensor siluMulRows(const at::Tensor& gu, int64_t inter);

// One-token linear layer through fusedGemv: x [1, k] (or [k]), w [rows, k], bias [rows] or undefined.
// silu_mul: w = [gate; up] stacked ([2n, k]) and the result is SiLU(gate) * up, [1, n]; else [1, rows].
// norm_w (optional): the layer's input is RMSNorm(x) * norm_w (eps), computed inside the kernel.
// residual (optional, not with silu_mul): *residual += the result, in place, and *residual is returned.
// Falls back to the ATen ops (rounded the same way) when the shapes or alignment do not suit the
// kernel, or when ATTNLAB_GEMV=0.
at::Tensor linearToken(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias, bool silu_mul = false,
                       const at::Tensor& norm_w = at::Tensor(), double eps = 0.0, at::Tensor* residual = nullptr);

}  // namespace attnlab::kernels
