// The many-row RMSNorm and SiLU(gate)*up kernels the prefill uses on CUDA (kernels::rmsNormRows,
// kernels::siluMulRows, label `cuda`) against the ATen sequences they replace (the ones
// Transformer::norm and Transformer::mlp run elsewhere): the same roundings, so nearly every element
// is bit-equal; the rest differ by one unit in the last place (float summation order in the mean,
// a different exp), never more. Unsuitable inputs return an undefined tensor (the caller's fallback).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <tuple>

#include "kernels/decode_fused_torch.h"

namespace {

// Fraction of bit-equal elements and the largest difference in units of the output's last place.
void expectNearlyEqual(const at::Tensor& got, const at::Tensor& want, at::ScalarType dtype, const std::string& what) {
    ASSERT_TRUE(got.defined()) << what;
    ASSERT_EQ(got.sizes(), want.sizes()) << what;
    at::Tensor g = got.to(at::kFloat).cpu().flatten(), w = want.to(at::kFloat).cpu().flatten();
    const double equal = g.eq(w).to(at::kDouble).mean().item<double>();
    const double mantissa = dtype == at::kBFloat16 ? 128.0 : 1024.0;  // 2^(stored mantissa bits)
    // The spacing at the larger of the two magnitudes; fp16's subnormals are spaced 2^-24 apart.
    const double smallest = dtype == at::kBFloat16 ? 1e-38 : std::ldexp(1.0, -24);
    at::Tensor big = at::maximum(g.abs(), w.abs()).clamp_min(1e-30);
    at::Tensor ulp = at::clamp_min(at::exp2(at::floor(at::log2(big))) / mantissa, smallest);
    const double worst = ((g - w).abs() / ulp).max().item<double>();
    EXPECT_GE(equal, 0.99) << what;
    EXPECT_LE(worst, 2.0 + 1e-6) << what;
}

class RowsKernelTest : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, at::ScalarType>> {};

TEST_P(RowsKernelTest, RmsNormMatchesAtenSequence) {
    const auto [rows, hidden, dtype] = GetParam();
    at::manual_seed(rows * 7 + hidden);
    const auto opts = at::TensorOptions().device(at::kCUDA).dtype(dtype);
    at::Tensor x = (at::randn({rows, hidden}, at::kFloat) * 3).to(opts);
    at::Tensor w = (1 + at::randn({hidden}, at::kFloat) * 0.2).to(opts);
    const double eps = 1e-6;
    at::Tensor xf = x.to(at::kFloat);
    at::Tensor want = w * (xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps)).to(dtype);
    expectNearlyEqual(attnlab::kernels::rmsNormRows(x, w, eps), want, dtype, "rmsnorm");
}

TEST_P(RowsKernelTest, SiluMulMatchesAtenSequence) {
    const auto [rows, inter, dtype] = GetParam();
    at::manual_seed(rows * 11 + inter);
    const auto opts = at::TensorOptions().device(at::kCUDA).dtype(dtype);
    at::Tensor gu = (at::randn({rows, 2 * inter}, at::kFloat) * 2).to(opts);
    at::Tensor want = at::silu(gu.narrow(1, 0, inter)) * gu.narrow(1, inter, inter);
    expectNearlyEqual(attnlab::kernels::siluMulRows(gu, inter), want, dtype, "silu*mul");
}

INSTANTIATE_TEST_SUITE_P(Shapes, RowsKernelTest,
                         ::testing::Combine(::testing::Values(int64_t(1), int64_t(7), int64_t(300)),
                                            ::testing::Values(int64_t(64), int64_t(896), int64_t(2048), int64_t(4104)),
                                            ::testing::Values(at::kBFloat16, at::kHalf)));

TEST(RowsKernelFallback, UnsuitableInputsAreLeftToAten) {
    const auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
    at::Tensor odd = at::randn({4, 36}, opts);  // hidden % 8 != 0
    EXPECT_FALSE(attnlab::kernels::rmsNormRows(odd, at::ones({36}, opts), 1e-6).defined());
    at::Tensor strided = at::randn({4, 128}, opts).t();  // not contiguous
    EXPECT_FALSE(attnlab::kernels::rmsNormRows(strided, at::ones({4}, opts), 1e-6).defined());
    at::Tensor f32 = at::randn({4, 64}, opts.dtype(at::kFloat));
    EXPECT_FALSE(attnlab::kernels::rmsNormRows(f32, at::ones({64}, f32.options()), 1e-6).defined());
    EXPECT_FALSE(attnlab::kernels::siluMulRows(at::randn({4, 60}, opts), 30).defined());     // inter % 8 != 0
    EXPECT_FALSE(attnlab::kernels::siluMulRows(at::randn({4, 64}, opts), 16).defined());     // not [rows, 2*inter]
    at::Tensor cpu = at::randn({4, 64}, at::TensorOptions().dtype(at::kBFloat16));
    EXPECT_FALSE(attnlab::kernels::siluMulRows(cpu, 32).defined());
}

}  // namespace
