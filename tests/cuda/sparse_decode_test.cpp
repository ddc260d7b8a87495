// The split-K sparse decode kernel against its plain-ATen reference (label `cuda`). Tolerance:
// bf16 output, so |kernel - reference| <= 2e-2 absolute (one bf16 ulp at |x| ~ 2 is 1.6e-2; the
// reference rounds its float32 result to bf16 as well), fp16: 4e-3.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>

#include <algorithm>

#include <cmath>

#include "kernels/sparse_decode.h"
#include "kernels/sparse_decode_ref.h"
#include "kernels/sparse_decode_torch.h"

using namespace attnlab;

namespace {

struct Case {
    int64_t batch, q_heads, kv_heads, d;
    bool indices, bias, fp16;
    int64_t max_rows;
    const char* name;
};

const char* variantName(kernels::DecodeVariant v) {
    switch (v) {
        case kernels::DecodeVariant::kTensorCores: return "tc";
        case kernels::DecodeVariant::kCudaCores: return "fma";
        case kernels::DecodeVariant::kTensorCoresBulk: return "bulk";
        default: return "cpasync";
    }
}

class SparseDecodeKernelTest : public ::testing::TestWithParam<std::tuple<Case, kernels::DecodeVariant>> {};

TEST_P(SparseDecodeKernelTest, MatchesReference) {
    ASSERT_TRUE(kernels::sparseDecodeCompiled());
    const Case c = std::get<0>(GetParam());
    const kernels::DecodeVariant variant = std::get<1>(GetParam());
    at::manual_seed(11);
    const auto dtype = c.fp16 ? at::kHalf : at::kBFloat16;
    const auto opts = at::TensorOptions().device(at::kCUDA).dtype(dtype);
    const double scale = 1.0 / std::sqrt(double(c.d));
    at::Tensor q = at::randn({c.batch, c.q_heads, c.d}, opts);
    std::vector<at::Tensor> ks, vs, idx, bias;
    for (int64_t s = 0; s < c.batch * c.kv_heads; ++s) {
        // Odd lengths, one empty head, one single-row head, one at max_rows.
        int64_t rows = (s * 7919 + 13) % c.max_rows;
        if (s == 1) rows = 0;
        if (s == 2) rows = 1;
        if (s == 3) rows = c.max_rows;
        // Rows are views into a wider buffer (row stride 2*D) when max_rows is odd.
        const int64_t width = c.max_rows % 2 ? 2 * c.d : c.d;
        ks.push_back(at::randn({rows, width}, opts).mul_(2.0).narrow(1, 0, c.d));
        vs.push_back(at::randn({rows, width}, opts).narrow(1, 0, c.d));
        if (c.indices) {
            at::Tensor perm = rows > 0 ? at::randperm(rows, at::TensorOptions().dtype(at::kLong)) : at::empty({0}, at::kLong);
            idx.push_back(perm.narrow(0, 0, (rows * 3 + 3) / 4).to(at::kInt).to(at::kCUDA));
        }
        if (c.bias) bias.push_back(at::randn({std::max<int64_t>(rows, 1)}, opts.dtype(at::kFloat)));
    }
    at::Tensor got = kernels::sparseDecode(q, ks, vs, idx, bias, c.kv_heads, scale, variant).to(at::kFloat).cpu();
    at::Tensor want = kernels::sparseDecodeReference(q, ks, vs, idx, bias, c.kv_heads, scale).to(at::kFloat).cpu();
    const double tol = c.fp16 ? 4e-3 : 2e-2;
    const double err = (got - want).abs().max().item<double>();
    std::cout << "RESULT sparse_decode " << c.name << " " << variantName(variant) << " max_abs_err=" << err << "\n";
    EXPECT_LE(err, tol);
    EXPECT_FALSE(got.isnan().any().item<bool>());
    // The empty head's query heads are zero.
    const int64_t group = c.q_heads / c.kv_heads;
    if (c.kv_heads > 1) EXPECT_EQ(got[0].narrow(0, group, group).abs().sum().item<float>(), 0.f);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, SparseDecodeKernelTest,
    ::testing::Combine(::testing::Values(Case{1, 8, 8, 128, false, false, false, 300, "mha_d128"},
                      Case{1, 32, 8, 128, false, false, false, 5000, "gqa4_d128_long"},
                      Case{2, 64, 8, 64, false, false, false, 999, "gqa8_d64_b2"},
                      Case{3, 32, 8, 128, true, false, false, 777, "gqa4_indices_b3"},
                      Case{1, 14, 2, 64, true, true, false, 513, "gqa7_indices_bias"},
                      Case{1, 64, 4, 128, false, true, true, 2049, "gqa16_fp16_bias"},
                      Case{2, 16, 4, 64, true, false, true, 17, "fp16_short"},
                      Case{1, 40, 2, 128, false, false, false, 3001, "gqa20_two_subgroups"}),
                       ::testing::Values(kernels::DecodeVariant::kTensorCores, kernels::DecodeVariant::kCudaCores,
                                         kernels::DecodeVariant::kTensorCoresBulk,
                                         kernels::DecodeVariant::kTensorCoresCpAsync)),
    [](const ::testing::TestParamInfo<std::tuple<Case, kernels::DecodeVariant>>& info) {
        return std::string(std::get<0>(info.param).name) + "_" + variantName(std::get<1>(info.param));
    });

TEST(SparseDecodeKernel, ForcedSplitCountsAgree) {
    // The same inputs with 1, 3 and 64 splits (through the raw entry point) give the same output.
    at::manual_seed(5);
    const auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
    const int64_t rows = 1000, d = 128, hq = 8, hkv = 2;
    at::Tensor q = at::randn({1, hq, d}, opts);
    at::Tensor k = at::randn({hkv, rows, d}, opts), v = at::randn({hkv, rows, d}, opts);
    std::vector<int64_t> ptr_k{reinterpret_cast<int64_t>(k[0].data_ptr()), reinterpret_cast<int64_t>(k[1].data_ptr())};
    std::vector<int64_t> ptr_v{reinterpret_cast<int64_t>(v[0].data_ptr()), reinterpret_cast<int64_t>(v[1].data_ptr())};
    at::Tensor kp = at::tensor(ptr_k, at::kLong).to(at::kCUDA), vp = at::tensor(ptr_v, at::kLong).to(at::kCUDA);
    at::Tensor lens = at::tensor({int(rows), int(rows - 333)}, at::kInt).to(at::kCUDA);
    std::vector<at::Tensor> outs;
    for (auto variant : {kernels::DecodeVariant::kTensorCores, kernels::DecodeVariant::kCudaCores,
                         kernels::DecodeVariant::kTensorCoresBulk, kernels::DecodeVariant::kTensorCoresCpAsync})
    for (int splits : {1, 3, 64}) {
        kernels::SparseDecodeParams p;
        p.batch = 1;
        p.q_heads = hq;
        p.kv_heads = hkv;
        p.head_dim = d;
        p.scale = 0.088f;
        p.q = q.data_ptr();
        at::Tensor out = at::empty_like(q);
        p.out = out.data_ptr();
        p.k_rows = reinterpret_cast<const void* const*>(kp.data_ptr());
        p.v_rows = reinterpret_cast<const void* const*>(vp.data_ptr());
        p.lengths = lens.data_ptr<int>();
        p.max_length = rows;
        p.splits = splits;
        p.variant = variant;
        at::Tensor ws = at::empty({int64_t(kernels::sparseDecodeWorkspaceBytes(p) / 4 + 1)}, opts.dtype(at::kFloat));
        p.workspace = ws.data_ptr();
        p.workspace_bytes = size_t(ws.numel()) * 4;
        ASSERT_EQ(kernels::sparseDecodeAttention(p), "");
        outs.push_back(out.to(at::kFloat).cpu());
    }
    for (size_t i = 1; i < outs.size(); ++i) EXPECT_LE((outs[0] - outs[i]).abs().max().item<double>(), 2e-2) << i;
}

TEST(SparseDecodeKernel, RejectsBadParameters) {
    kernels::SparseDecodeParams p;
    p.batch = 1;
    p.q_heads = 6;
    p.kv_heads = 4;
    p.head_dim = 128;
    EXPECT_NE(kernels::sparseDecodeAttention(p).find("multiple"), std::string::npos);
    p.q_heads = 8;
    p.head_dim = 96;
    EXPECT_NE(kernels::sparseDecodeAttention(p).find("head_dim"), std::string::npos);
}

TEST(SparseDecodeKernel, RowsPastTheLengthAreIgnored) {
    // Sequences in one [seqs, capacity, D] buffer (as a KV cache lays them out), shorter than the
    // capacity, with NaN in every row past a sequence's length: bulk row copies (which leave those
    // rows of the last tile unwritten) and cp.async (which zero-fills them) must both ignore them.
    if (at::cuda::getCurrentDeviceProperties()->major != 9) GTEST_SKIP() << "bulk row copies need compute capability 9.0";
    at::manual_seed(23);
    for (const int64_t d : {64, 128})
        for (const bool fp16 : {false, true})
            for (const bool with_bias : {false, true}) {
                const int64_t batch = 2, hkv = 4, hq = 16, cap = 700;
                const auto opts = at::TensorOptions().device(at::kCUDA).dtype(fp16 ? at::kHalf : at::kBFloat16);
                const double scale = 1.0 / std::sqrt(double(d));
                at::Tensor q = at::randn({batch, hq, d}, opts);
                at::Tensor kc = at::randn({batch * hkv, cap, d}, opts), vc = at::randn({batch * hkv, cap, d}, opts);
                std::vector<int> lengths;
                std::vector<at::Tensor> kf, vf, kn, vn, bias, bias_n;
                for (int64_t s = 0; s < batch * hkv; ++s) {
                    const int64_t len = s == 1 ? 0 : s == 2 ? 1 : (s * 131 + 77) % (cap - 10) + 3;  // odd, ragged, one empty
                    lengths.push_back(int(len));
                    kc[s].narrow(0, len, cap - len).fill_(NAN);
                    vc[s].narrow(0, len, cap - len).fill_(NAN);
                    kf.push_back(kc[s]);
                    vf.push_back(vc[s]);
                    kn.push_back(kc[s].narrow(0, 0, len));
                    vn.push_back(vc[s].narrow(0, 0, len));
                    if (with_bias) {
                        bias.push_back(at::randn({cap}, opts.dtype(at::kFloat)));
                        bias_n.push_back(bias.back().narrow(0, 0, std::max<int64_t>(len, 1)));
                    }
                }
                const int64_t max_len = *std::max_element(lengths.begin(), lengths.end());
                at::Tensor want = kernels::sparseDecodeReference(q, kn, vn, {}, bias_n, hkv, scale).to(at::kFloat).cpu();
                for (auto variant : {kernels::DecodeVariant::kTensorCoresBulk, kernels::DecodeVariant::kTensorCoresCpAsync}) {
                    kernels::SparseDecodePlan plan(q, kf, vf, {}, bias, lengths, hkv, max_len, scale, variant);
                    at::Tensor out = at::empty_like(q);
                    plan.run(q, out);
                    at::Tensor got = out.to(at::kFloat).cpu();
                    const double err = (got - want).abs().max().item<double>();
                    std::cout << "RESULT sparse_decode past_length d=" << d << (fp16 ? " fp16" : " bf16")
                              << (with_bias ? " bias " : " ") << variantName(variant) << " max_abs_err=" << err << "\n";
                    EXPECT_FALSE(got.isnan().any().item<bool>()) << variantName(variant);
                    EXPECT_LE(err, fp16 ? 4e-3 : 2e-2) << variantName(variant);
                }
            }
}

}  // namespace
