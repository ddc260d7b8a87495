// The one-token matrix-vector kernel of the fused decode step (kernels::linearToken, label `cuda`)
// against float32 at::linear on the same bf16/fp16 inputs: plain and SiLU(gate)*up epilogues, with
// and without bias, row counts that leave partial blocks, k with and without a whole unrolled
// stride. Tolerance: the kernel accumulates in float like cuBLAS, only the summation order
// differs, so outputs agree to a few ulps of the output type (a rounded gate feeds SiLU).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <tuple>

#include "kernels/decode_fused_torch.h"

namespace {

void expectClose(const at::Tensor& got, const at::Tensor& want, at::ScalarType dtype, const std::string& what) {
    const double ulp = dtype == at::kBFloat16 ? 1.0 / 128 : 1.0 / 1024;
    at::Tensor g = got.to(at::kFloat).cpu().flatten(), w = want.to(at::kFloat).cpu().flatten();
    ASSERT_EQ(g.numel(), w.numel()) << what;
    at::Tensor excess = (g - w).abs() - (w.abs() * (4 * ulp) + 2e-3);
    const double worst = excess.max().item<double>();
    EXPECT_LE(worst, 0.0) << what << ": max |diff| " << (g - w).abs().max().item<double>();
}

class GemvTest : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, bool, at::ScalarType>> {};

TEST_P(GemvTest, MatchesFloatLinear) {
    const auto [n, k, with_bias, dtype] = GetParam();
    at::manual_seed(n * 131 + k);
    const auto opts = at::TensorOptions().device(at::kCUDA).dtype(dtype);
    at::Tensor w = (at::randn({2 * n, k}, at::kFloat) / std::sqrt(double(k))).to(opts);
    at::Tensor x = at::randn({1, k}, at::kFloat).to(opts);
    at::Tensor b = with_bias ? (at::randn({2 * n}, at::kFloat) * 0.1).to(opts) : at::Tensor();

    // Plain: the first n rows.
    at::Tensor w1 = w.narrow(0, 0, n);
    at::Tensor b1 = with_bias ? b.narrow(0, 0, n) : at::Tensor();
    at::Tensor ref = at::linear(x.to(at::kFloat), w1.to(at::kFloat), with_bias ? b1.to(at::kFloat) : at::Tensor());
    expectClose(attnlab::kernels::linearToken(x, w1, b1), ref.to(dtype), dtype, "store");

    // SiLU(gate) * up over the stacked [gate; up] rows, each rounded as the unfused path does.
    at::Tensor gu = at::linear(x.to(at::kFloat), w.to(at::kFloat), with_bias ? b.to(at::kFloat) : at::Tensor()).to(dtype);
    at::Tensor g = gu.narrow(1, 0, n).to(at::kFloat), u = gu.narrow(1, n, n).to(at::kFloat);
    at::Tensor want = (at::silu(g).to(dtype).to(at::kFloat) * u);
    expectClose(attnlab::kernels::linearToken(x, w, b, /*silu_mul=*/true), want.to(dtype), dtype, "silu_mul");
}

// The RMSNorm prologue against the norm kernel followed by the plain product, and the residual
// epilogue against rounding the product and adding it in the element type.
TEST_P(GemvTest, NormPrologueAndResidualEpilogue) {
    const auto [n, k, with_bias, dtype] = GetParam();
    at::manual_seed(n * 17 + k);
    const auto opts = at::TensorOptions().device(at::kCUDA).dtype(dtype);
    at::Tensor w = (at::randn({2 * n, k}, at::kFloat) / std::sqrt(double(k))).to(opts);
    at::Tensor x = (at::randn({1, k}, at::kFloat) * 3.0).to(opts);
    at::Tensor norm_w = (at::rand({k}, at::kFloat) + 0.5).to(opts);
    at::Tensor b = with_bias ? (at::randn({2 * n}, at::kFloat) * 0.1).to(opts) : at::Tensor();
    const double eps = 1e-5;
    at::Tensor src = x.clone(), normed = at::empty_like(x);
    attnlab::kernels::rmsNorm(src, norm_w, normed, eps);
    at::Tensor bf = with_bias ? b.to(at::kFloat) : at::Tensor();
    at::Tensor ref = at::linear(normed.to(at::kFloat), w.to(at::kFloat), bf);  // [1, 2n]
    expectClose(attnlab::kernels::linearToken(x, w, b, false, norm_w, eps), ref.to(dtype), dtype, "norm+store");
    at::Tensor gu = ref.to(dtype);
    at::Tensor want = at::silu(gu.narrow(1, 0, n).to(at::kFloat)).to(dtype).to(at::kFloat) * gu.narrow(1, n, n).to(at::kFloat);
    expectClose(attnlab::kernels::linearToken(x, w, b, true, norm_w, eps), want.to(dtype), dtype, "norm+silu_mul");

    at::Tensor w1 = w.narrow(0, 0, n), b1 = with_bias ? b.narrow(0, 0, n) : at::Tensor();
    at::Tensor res = at::randn({1, n}, at::kFloat).to(opts);
    at::Tensor prod = at::linear(x.to(at::kFloat), w1.to(at::kFloat), with_bias ? b1.to(at::kFloat) : at::Tensor()).to(dtype);
    at::Tensor expected = (res.to(at::kFloat) + prod.to(at::kFloat)).to(dtype);
    at::Tensor inout = res.clone();
    at::Tensor out = attnlab::kernels::linearToken(x, w1, b1, false, at::Tensor(), 0.0, &inout);
    EXPECT_EQ(out.data_ptr(), inout.data_ptr());
    expectClose(inout, expected, dtype, "residual");
}

INSTANTIATE_TEST_SUITE_P(Shapes, GemvTest,
                         ::testing::Combine(::testing::Values<int64_t>(1, 37, 3072),
                                            ::testing::Values<int64_t>(8, 264, 2048, 8200),
                                            ::testing::Bool(), ::testing::Values(at::kBFloat16, at::kHalf)));

TEST(GemvTest, UnalignedInputFallsBackToLinear) {
    const auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
    at::Tensor w = at::randn({16, 64}, opts);
    at::Tensor xs = at::randn({1, 65}, opts);
    at::Tensor x = xs.narrow(1, 1, 64);  // 2-byte offset: not 16-byte aligned
    at::Tensor ref = at::linear(x.to(at::kFloat), w.to(at::kFloat));
    expectClose(attnlab::kernels::linearToken(x, w, at::Tensor()), ref.to(at::kBFloat16), at::kBFloat16, "fallback");
}

}  // namespace
