// Small fused kernels for one decode token of the Llama family, so a CUDA-graphed decode step has
// a few launches per layer instead of dozens (launches, not bandwidth, bound small-model decode):
//   RMSNorm with an optional residual add in place, RoPE on q and k with the K/V cache write, and
//   SiLU(gate) * up. Each reproduces the unfused ATen sequence's roundings (bf16/fp16 between
//   steps, float statistics), so the result equals the eager path up to the last bit of a few
//   transcendental evaluations. Host entry points over raw device pointers; no torch here.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/sparse_decode.h"  // ElementType

namespace attnlab::kernels {

// rows x hidden: out = w * to_dtype(float(x) * rsqrt(mean(float(x)^2) + eps)).
std::string fusedRmsNorm(ElementType dtype, const void* x, const void* w, void* out, int rows, int hidden, float eps,
                         void* stream);

// q [q_heads, D], k/v [kv_heads, D] (one token); position: device int64 [1]; inv_freq [D/2] float.
// q_out[h] = rope(q[h]); k_cache[h][pos] = rope(k[h]); v_cache[h][pos] = v[h]; pos_cache[pos] = pos.
// Caches are [kv_heads, capacity, D] contiguous; pos_cache int64 [capacity].
std::string fusedRopeKvWrite(ElementType dtype, const void* q, const void* k, const void* v, const int64_t* position,
                             const float* inv_freq, void* q_out, void* k_cache, void* v_cache, int64_t* pos_cache,
                             int q_heads, int kv_heads, int head_dim, int64_t capacity, void* stream);

// out = to_dtype(float(to_dtype(silu(float(gate)))) * float(up)), n elements.
std::string fusedSiluMul(ElementType dtype, const void* gate, const void* up, void* out, int64_t n, void* stream);

// Many rows at once (prefill, eager steps): out = w * to_dtype(float(x) * rsqrt(mean(float(x)^2) + eps)),
// x and out [rows, hidden] contiguous, hidden % 8 == 0, 16-byte aligned; one warp per row.
std::string fusedRmsNormRows(ElementType dtype, const void* x, const void* w, void* out, int rows, int hidden, float eps,
                             void* stream);

// gu [rows, 2*inter] holding [gate | up] per row (the stacked gate/up product); out [rows, inter] =
// to_dtype(float(to_dtype(silu(float(gate)))) * float(up)). inter % 8 == 0, 16-byte aligned.
std::string fusedSiluMulRows(ElementType dtype, const void* gu, void* out, int64_t rows, int inter, void* stream);

// Matrix-vector product of one token, y = W x (+ b), W row-major [rows, k], x [k], float
// accumulation, one warp per output row reading W with 16-byte loads (decode is bound by the
// weight bytes; cuBLAS' skinny GEMMs leave bandwidth unused at these shapes). k % 8 == 0,
// k <= kGemvMaxK, W and x 16-byte aligned.
//   kStore:   rows = n, y[i] = to_dtype(W[i] . x + b[i]).
//   kSiluMul: rows = 2n, W = [gate; up] stacked, y[i] = to_dtype(round(silu(g)) * u) with
//             g = round(W[i] . x + b[i]), u = round(W[n + i] . x + b[n + i]) (as fusedSiluMul).
// Optional prologue (norm_w given): x is first replaced by RMSNorm(x) * norm_w, rounded as
// fusedRmsNorm does (each block computes the statistics and stages the normalised x in shared
// memory itself: no separate norm kernel; worth it while rows / 8 blocks stay few).
// Optional residual epilogue (residual given, kStore only): y[i] = to_dtype(residual[i] + round(W[i] . x + b[i]));
// y may be residual itself (an in-place residual add: each row belongs to one warp).
enum class GemvEpilogue { kStore, kSiluMul };
constexpr int kGemvMaxK = 16384;
struct GemvArgs {
    ElementType dtype = ElementType::kBFloat16;
    GemvEpilogue epilogue = GemvEpilogue::kStore;
    const void* w = nullptr;
    const void* x = nullptr;
    const void* bias = nullptr;      // optional
    const void* norm_w = nullptr;    // optional prologue
    float eps = 0.f;
    const void* residual = nullptr;  // optional epilogue (kStore)
    void* y = nullptr;
    int n = 0, k = 0;
    void* stream = nullptr;
};
std::string fusedGemv(const GemvArgs& args);

}  // namespace attnlab::kernels
