#include "kernels/decode_fused_torch.h"

#include <ATen/ATen.h>
#include <c10/cuda/CUDAStream.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/decode_fused.h"
#include "kernels/env_switch.h"

namespace attnlab::kernels {

namespace {

ElementType typeOf(const at::Tensor& t) {
    if (t.scalar_type() == at::kBFloat16) return ElementType::kBFloat16;
    if (t.scalar_type() == at::kHalf) return ElementType::kFloat16;
    throw std::invalid_argument("fused decode kernels: bf16 or fp16 only");
}

void* streamOf(const at::Tensor& t) { return c10::cuda::getCurrentCUDAStream(t.device().index()).stream(); }

void check(const std::string& err) {
    if (!err.empty()) throw std::runtime_error(err);
}

}  // namespace

void rmsNorm(const at::Tensor& x, const at::Tensor& w, at::Tensor& out, double eps) {
    const int hidden = static_cast<int>(x.size(-1));
    const int rows = static_cast<int>(x.numel() / hidden);
    if (!x.is_contiguous() || !out.is_contiguous() || !w.is_contiguous())
        throw std::invalid_argument("fused rmsnorm: tensors must be contiguous");
    check(fusedRmsNorm(typeOf(x), x.data_ptr(), w.data_ptr(), out.data_ptr(), rows, hidden, static_cast<float>(eps),
                       streamOf(x)));
}

void ropeKvWrite(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& position,
                 const at::Tensor& inv_freq, at::Tensor& q_out, at::Tensor& k_cache, at::Tensor& v_cache,
                 at::Tensor& pos_cache) {
    const int64_t kv_heads = k_cache.size(0), capacity = k_cache.size(1), d = k_cache.size(2);
    const int64_t q_heads = q.numel() / d;
    if (!q.is_contiguous() || !k.is_contiguous() || !v.is_contiguous() || !k_cache.is_contiguous() ||
        !v_cache.is_contiguous() || !q_out.is_contiguous())
        throw std::invalid_argument("fused rope: tensors must be contiguous");
    if (k.numel() != kv_heads * d || v.numel() != kv_heads * d || q_out.numel() != q.numel())
        throw std::invalid_argument("fused rope: q/k/v sizes do not match the cache");
    if (inv_freq.scalar_type() != at::kFloat || position.scalar_type() != at::kLong || pos_cache.scalar_type() != at::kLong)
        throw std::invalid_argument("fused rope: inv_freq float, position and pos_cache int64");
    check(fusedRopeKvWrite(typeOf(q), q.data_ptr(), k.data_ptr(), v.data_ptr(), position.data_ptr<int64_t>(),
                           inv_freq.data_ptr<float>(), q_out.data_ptr(), k_cache.data_ptr(), v_cache.data_ptr(),
                           pos_cache.data_ptr<int64_t>(), static_cast<int>(q_heads), static_cast<int>(kv_heads),
                           static_cast<int>(d), capacity, streamOf(q)));
}

void siluMul(const at::Tensor& gate, const at::Tensor& up, at::Tensor& out) {
    if (!gate.is_contiguous() || !up.is_contiguous() || !out.is_contiguous() || gate.numel() != up.numel())
        throw std::invalid_argument("fused silu*mul: tensors must be contiguous and equal in size");
    check(fusedSiluMul(typeOf(gate), gate.data_ptr(), up.data_ptr(), out.data_ptr(), gate.numel(), streamOf(gate)));
}

namespace {
bool rowsKernelSuits(const at::Tensor& t) {
    static const bool enabled = !switchedOff("ATTNLAB_ROWS_KERNELS");
    return enabled && t.is_cuda() && t.is_contiguous() &&
           (t.scalar_type() == at::kBFloat16 || t.scalar_type() == at::kHalf) &&
           reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0;
}
}  // namespace

at::Tensor rmsNormRows(const at::Tensor& x, const at::Tensor& w, double eps) {
    const int64_t hidden = x.size(-1);
    const int64_t rows = hidden > 0 ? x.numel() / hidden : 0;
    if (rows <= 0 || hidden % 8 || rows >= (int64_t(1) << 31) || !rowsKernelSuits(x) || !rowsKernelSuits(w) ||
        w.scalar_type() != x.scalar_type() || w.numel() != hidden)
        return {};
    at::Tensor out = at::empty_like(x);
    check(fusedRmsNormRows(typeOf(x), x.data_ptr(), w.data_ptr(), out.data_ptr(), static_cast<int>(rows),
                           static_cast<int>(hidden), static_cast<float>(eps), streamOf(x)));
    return out;
}

at::Tensor siluMulRows(const at::Tensor& gu, int64_t inter) {
    if (gu.dim() != 2 || gu.size(1) != 2 * inter || inter % 8 || inter >= (int64_t(1) << 31) || !rowsKernelSuits(gu))
        return {};
    at::Tensor out = at::empty({gu.size(0), inter}, gu.options());
    check(fusedSiluMulRows(typeOf(gu), gu.data_ptr(), out.data_ptr(), gu.size(0), static_cast<int>(inter), streamOf(gu)));
    return out;
}

at::Tensor linearToken(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias, bool silu_mul,
                       const at::Tensor& norm_w, double eps, at::Tensor* residual) {
    static const bool enabled = !switchedOff("ATTNLAB_GEMV");
    if (residual && silu_mul) throw std::invalid_argument("linearToken: a residual add needs the plain product");
    const int64_t k = w.size(1);
    const int64_t rows = w.size(0);
    auto aligned = [](const at::Tensor& t) { return !t.defined() || reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0; };
    const bool usable = enabled && x.numel() == k && k % 8 == 0 && k <= kGemvMaxK && x.is_contiguous() &&
                        w.is_contiguous() && x.scalar_type() == w.scalar_type() && (!bias.defined() || bias.is_contiguous()) &&
                        aligned(w) && aligned(x) && aligned(norm_w) && (!norm_w.defined() || norm_w.numel() == k) &&
                        (!silu_mul || rows % 2 == 0) && rows < (int64_t(1) << 31) && w.is_cuda() &&
                        (!residual || (residual->is_contiguous() && residual->numel() == rows)) &&
                        (w.scalar_type() == at::kBFloat16 || w.scalar_type() == at::kHalf);
    if (!usable) {
        at::Tensor in = x.reshape({-1, k});
        if (norm_w.defined()) {
            at::Tensor src = in.contiguous(), normed = at::empty_like(src);
            rmsNorm(src, norm_w, normed, eps);
            in = normed;
        }
        at::Tensor y = at::linear(in, w, bias);
        if (residual) {
            residual->add_(y.view_as(*residual));
            return *residual;
        }
        if (!silu_mul) return y;
        const int64_t n = rows / 2;
        at::Tensor gate = y.narrow(-1, 0, n).contiguous(), up = y.narrow(-1, n, n).contiguous();
        siluMul(gate, up, gate);
        return gate;
    }
    const int64_t n = silu_mul ? rows / 2 : rows;
    at::Tensor y = residual ? *residual : at::empty({1, n}, x.options());
    GemvArgs a;
    a.dtype = typeOf(x);
    a.epilogue = silu_mul ? GemvEpilogue::kSiluMul : GemvEpilogue::kStore;
    a.w = w.data_ptr();
    a.x = x.data_ptr();
    a.bias = bias.defined() ? bias.data_ptr() : nullptr;
    a.norm_w = norm_w.defined() ? norm_w.data_ptr() : nullptr;
    a.eps = static_cast<float>(eps);
    a.residual = residual ? residual->data_ptr() : nullptr;
    a.y = y.data_ptr();
    a.n = static_cast<int>(n);
    a.k = static_cast<int>(k);
    a.stream = streamOf(x);
    check(fusedGemv(a));
    return y;
}

}  // namespace attnlab::kernels
