// The sparse decode reference (kernels/sparse_decode_ref.h) against an independent scalar loop in
// double precision, plus its edge cases. The CUDA kernel is tested against this reference
// (tests/cuda/sparse_decode_test.cpp).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>

#include "kernels/sparse_decode_ref.h"

using namespace attnlab;

namespace {

// Softmax attention of one query row over picked rows, scalar double math.
std::vector<double> scalarAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                    const std::vector<int64_t>& rows, const at::Tensor& bias, double scale) {
    const int64_t d = q.size(0);
    auto qa = q.accessor<float, 1>();
    auto ka = k.accessor<float, 2>();
    auto va = v.accessor<float, 2>();
    std::vector<double> scores;
    double mx = -INFINITY;
    for (int64_t r : rows) {
        double s = 0;
        for (int64_t j = 0; j < d; ++j) s += double(qa[j]) * ka[r][j];
        s *= scale;
        if (bias.defined()) s += bias.accessor<float, 1>()[r];
        scores.push_back(s);
        mx = std::max(mx, s);
    }
    std::vector<double> out(d, 0.0);
    double total = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
        const double p = std::exp(scores[i] - mx);
        total += p;
        for (int64_t j = 0; j < d; ++j) out[j] += p * va[rows[i]][j];
    }
    for (double& x : out) x = rows.empty() ? 0.0 : x / total;
    return out;
}

struct Case {
    int64_t batch, q_heads, kv_heads, d;
    bool indices, bias;
};

class SparseDecodeRefTest : public ::testing::TestWithParam<Case> {};

TEST_P(SparseDecodeRefTest, MatchesScalarLoop) {
    const Case c = GetParam();
    at::manual_seed(7);
    const double scale = 1.0 / std::sqrt(double(c.d));
    at::Tensor q = at::randn({c.batch, c.q_heads, c.d});
    std::vector<at::Tensor> ks, vs, idx, bias;
    std::vector<std::vector<int64_t>> picked;
    for (int64_t s = 0; s < c.batch * c.kv_heads; ++s) {
        const int64_t rows = (s * 37 + 5) % 23;  // 0 rows for one sequence, odd counts elsewhere
        ks.push_back(at::randn({rows, c.d}));
        vs.push_back(at::randn({rows, c.d}));
        std::vector<int64_t> pick;
        for (int64_t r = 0; r < rows; ++r)
            if (!c.indices || (r * 7) % 3 != 1) pick.push_back(c.indices ? rows - 1 - r : r);  // any order
        picked.push_back(pick);
        if (c.indices) idx.push_back(at::tensor(std::vector<int64_t>(pick.begin(), pick.end()), at::kLong).to(at::kInt));
        if (c.bias) bias.push_back(at::randn({rows}));
    }
    at::Tensor out = kernels::sparseDecodeReference(q, ks, vs, idx, bias, c.kv_heads, scale);
    ASSERT_EQ(out.sizes(), q.sizes());
    const int64_t group = c.q_heads / c.kv_heads;
    for (int64_t b = 0; b < c.batch; ++b) {
        for (int64_t h = 0; h < c.q_heads; ++h) {
            const size_t s = size_t(b * c.kv_heads + h / group);
            std::vector<double> want = scalarAttention(q[b][h], ks[s], vs[s], picked[s],
                                                       c.bias ? bias[s] : at::Tensor(), scale);
            for (int64_t j = 0; j < c.d; ++j)
                ASSERT_NEAR(out[b][h][j].item<float>(), want[size_t(j)], 1e-5) << "b=" << b << " h=" << h << " j=" << j;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Shapes, SparseDecodeRefTest,
                         ::testing::Values(Case{1, 4, 4, 8, false, false}, Case{2, 8, 2, 16, true, false},
                                           Case{3, 8, 1, 8, false, true}, Case{2, 6, 2, 4, true, true}));

TEST(SparseDecodeRef, EmptySelectionGivesZerosAndKeepsDtype) {
    at::Tensor q = at::randn({1, 2, 8}).to(at::kBFloat16);
    std::vector<at::Tensor> ks{at::randn({5, 8}).to(at::kBFloat16)}, vs{at::randn({5, 8}).to(at::kBFloat16)};
    std::vector<at::Tensor> idx{at::empty({0}, at::kInt)};
    at::Tensor out = kernels::sparseDecodeReference(q, ks, vs, idx, {}, 1, 0.3);
    EXPECT_EQ(out.scalar_type(), at::kBFloat16);
    EXPECT_EQ(out.abs().sum().item<float>(), 0.f);
}

TEST(SparseDecodeRef, IndicesEqualGatheredRows) {
    at::manual_seed(3);
    at::Tensor q = at::randn({1, 4, 16});
    at::Tensor k = at::randn({40, 16}), v = at::randn({40, 16});
    at::Tensor pick = at::tensor({3, 17, 4, 39, 0}, at::kInt);
    at::Tensor a = kernels::sparseDecodeReference(q, {k}, {v}, {pick}, {}, 1, 0.25);
    at::Tensor b = kernels::sparseDecodeReference(q, {k.index_select(0, pick.to(at::kLong))},
                                                  {v.index_select(0, pick.to(at::kLong))}, {}, {}, 1, 0.25);
    EXPECT_TRUE(at::allclose(a, b, 1e-6, 1e-6));
}

TEST(SparseDecodeRef, RejectsBadShapesAndIndices) {
    at::Tensor q = at::randn({1, 3, 8});
    at::Tensor k = at::randn({4, 8});
    EXPECT_THROW(kernels::sparseDecodeReference(q, {k}, {k}, {}, {}, 2, 1.0), std::invalid_argument);
    at::Tensor q2 = at::randn({1, 2, 8});
    EXPECT_THROW(kernels::sparseDecodeReference(q2, {k}, {k}, {at::tensor({4}, at::kInt)}, {}, 1, 1.0), std::out_of_range);
    EXPECT_THROW(kernels::sparseDecodeReference(q2, {k, k}, {k}, {}, {}, 1, 1.0), std::invalid_argument);
}

}  // namespace
