// The block-sparse prefill reference (kernels/block_sparse_prefill_ref.h) against independent
// computations: a scalar double loop over an element mask built by hand, and dense causal
// attention when every block is allowed. The CUDA kernel is tested against this reference
// (tests/cuda/block_sparse_prefill_test.cpp).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>

#include "kernels/block_sparse_prefill_ref.h"

using namespace attnlab;

TEST(BlockSparseRef, MatchesScalarLoopOnRandomBlocks) {
    at::manual_seed(21);
    const int64_t b = 2, hq = 4, hkv = 2, n = 13, d = 6, bs = 4, blocks = 4;
    const double scale = 0.4;
    at::Tensor q = at::randn({b, hq, n, d}), k = at::randn({b, hkv, n, d}), v = at::randn({b, hkv, n, d});
    at::Tensor mask = at::rand({b, hq, blocks, blocks}).lt(0.5);
    mask.select(2, 1).fill_(false);  // block row 1 (queries 4..7) sees nothing at all
    for (bool causal : {true, false}) {
        at::Tensor out = kernels::blockSparsePrefillReference(q, k, v, mask, bs, causal, scale);
        for (int64_t bi = 0; bi < b; ++bi)
            for (int64_t h = 0; h < hq; ++h)
                for (int64_t i = 0; i < n; ++i) {
                    std::vector<double> s;
                    std::vector<int64_t> keys;
                    for (int64_t j = 0; j < n; ++j) {
                        if (!mask[bi][h][i / bs][j / bs].item<bool>() || (causal && j > i)) continue;
                        double dot = 0;
                        for (int64_t x = 0; x < d; ++x)
                            dot += double(q[bi][h][i][x].item<float>()) * k[bi][h / 2][j][x].item<float>();
                        s.push_back(dot * scale);
                        keys.push_back(j);
                    }
                    double mx = -INFINITY, total = 0;
                    for (double x : s) mx = std::max(mx, x);
                    std::vector<double> want(size_t(d), 0.0);
                    for (size_t t = 0; t < s.size(); ++t) {
                        const double p = std::exp(s[t] - mx);
                        total += p;
                        for (int64_t x = 0; x < d; ++x) want[size_t(x)] += p * v[bi][h / 2][keys[t]][x].item<float>();
                    }
                    for (int64_t x = 0; x < d; ++x) {
                        const double w = keys.empty() ? 0.0 : want[size_t(x)] / total;
                        ASSERT_NEAR(out[bi][h][i][x].item<float>(), w, 1e-5)
                            << "causal=" << causal << " b=" << bi << " h=" << h << " i=" << i;
                    }
                }
    }
}

TEST(BlockSparseRef, AllBlocksEqualDenseCausalAttention) {
    at::manual_seed(4);
    const int64_t hq = 8, hkv = 2, n = 37, d = 16;
    at::Tensor q = at::randn({1, hq, n, d}), k = at::randn({1, hkv, n, d}), v = at::randn({1, hkv, n, d});
    at::Tensor mask = at::ones({1, hq, 3, 3}, at::kBool);
    at::Tensor got = kernels::blockSparsePrefillReference(q, k, v, mask, 16, true, 0.25);
    // Dense causal attention written out with an upper-triangular -inf.
    at::Tensor kk = k.repeat_interleave(4, 1), vv = v.repeat_interleave(4, 1);
    at::Tensor s = at::matmul(q, kk.transpose(-2, -1)) * 0.25 +
                   at::full({n, n}, -INFINITY).triu(1);
    at::Tensor want = at::matmul(at::softmax(s, -1), vv);
    EXPECT_TRUE(at::allclose(got, want, 1e-5, 1e-5));
}

TEST(BlockSparseRef, RejectsMasksThatDoNotCoverThePrompt) {
    at::Tensor q = at::randn({1, 2, 10, 4});
    EXPECT_THROW(kernels::blockSparsePrefillReference(q, q, q, at::ones({1, 2, 2, 2}, at::kBool), 4, true, 1.0),
                 std::invalid_argument);
    EXPECT_THROW(kernels::blockSparsePrefillReference(q, q.narrow(1, 0, 1).repeat({1, 3, 1, 1}), q,
                                                      at::ones({1, 2, 3, 3}, at::kBool), 4, true, 1.0),
                 std::invalid_argument);
}
