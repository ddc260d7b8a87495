// The block-sparse prefill kernels (mma.sync, and wgmma on compute capability 9.0) against their
// plain-ATen reference (label `cuda`). Tolerance: 2e-2 absolute for bf16 (the kernels round P to
// bf16 for the P.V product, as FlashAttention does), 4e-3 for fp16.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>

#include <cmath>

#include "core/model/attention.h"
#include "core/model/kv_cache.h"
#include "kernels/block_sparse_prefill_ref.h"
#include "kernels/block_sparse_prefill_torch.h"

using namespace attnlab;

namespace {

struct Case {
    int64_t batch, hq, hkv, n, d, block;
    bool causal, fp16;
    const char* pattern;  // "all", "random", "sink_window", "empty_rows"
    const char* name;
};

at::Tensor makeMask(const Case& c) {
    const int64_t blocks = (c.n + c.block - 1) / c.block;
    const std::string pat = c.pattern;
    if (pat == "all") return at::ones({1, c.hq, blocks, blocks}, at::kBool);
    if (pat == "random") return at::rand({c.batch, c.hq, blocks, blocks}).lt(0.35);
    at::Tensor m = at::zeros({1, c.hq, blocks, blocks}, at::kBool);
    if (pat == "sink_window") {
        for (int64_t i = 0; i < blocks; ++i) {
            m.select(2, i).select(2, 0).fill_(true);                             // sink block
            for (int64_t j = std::max<int64_t>(0, i - 1); j <= i; ++j) m.select(2, i).select(2, j).fill_(true);  // window
        }
        return m;
    }
    m = at::rand({1, c.hq, blocks, blocks}).lt(0.5);
    m.select(2, blocks / 2).fill_(false);  // a block row that reads nothing
    return m;
}

class BlockSparsePrefillTest : public ::testing::TestWithParam<Case> {};

TEST_P(BlockSparsePrefillTest, MatchesReference) {
    const Case c = GetParam();
    at::manual_seed(17);
    const auto opts = at::TensorOptions().device(at::kCUDA).dtype(c.fp16 ? at::kHalf : at::kBFloat16);
    at::Tensor q = at::randn({c.batch, c.hq, c.n, c.d}, opts);
    at::Tensor k = at::randn({c.batch, c.hkv, c.n, c.d}, opts);
    at::Tensor v = at::randn({c.batch, c.hkv, c.n, c.d}, opts);
    at::Tensor mask = makeMask(c);
    const double scale = 1.0 / std::sqrt(double(c.d));
    kernels::TileLists tiles = kernels::buildTileLists(mask, c.block, c.batch, c.hq, c.n, c.causal, q.device());
    at::Tensor want = kernels::blockSparsePrefillReference(q, k, v, mask.to(at::kCUDA), c.block, c.causal, scale)
                          .to(at::kFloat)
                          .cpu();
    const bool hopper = at::cuda::getCurrentDeviceProperties()->major == 9;
    for (int kernel : {1, 2}) {
        const char* name = kernel == 1 ? "mma" : "wgmma";
        if (kernel == 2 && !hopper) {
            EXPECT_THROW(kernels::blockSparseAttention(q, k, v, tiles, c.causal, scale, kernel), std::runtime_error);
            continue;
        }
        at::Tensor got = kernels::blockSparseAttention(q, k, v, tiles, c.causal, scale, kernel).to(at::kFloat).cpu();
        const double err = (got - want).abs().max().item<double>();
        std::cout << "RESULT block_sparse_prefill " << name << " " << c.name << " tiles=" << tiles.computed_tiles
                  << " max_abs_err=" << err << "\n";
        EXPECT_LE(err, c.fp16 ? 4e-3 : 2e-2) << name;
        EXPECT_FALSE(got.isnan().any().item<bool>()) << name;
    }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, BlockSparsePrefillTest,
    ::testing::Values(Case{1, 4, 4, 1, 128, 64, true, false, "all", "one_token"},
                      Case{1, 8, 2, 63, 64, 64, true, false, "all", "n63_gqa4_d64"},
                      Case{2, 8, 1, 200, 128, 64, true, false, "random", "n200_gqa8_random"},
                      Case{1, 32, 8, 1000, 128, 128, true, false, "sink_window", "n1000_block128_window"},
                      Case{1, 4, 4, 777, 64, 64, false, false, "random", "noncausal_random"},
                      Case{1, 8, 8, 640, 128, 64, true, true, "empty_rows", "fp16_empty_rows"},
                      Case{1, 16, 4, 2048, 128, 128, true, false, "all", "n2048_dense"}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(BlockSparsePrefill, RejectsBadMasks) {
    at::Tensor m = at::ones({1, 4, 3, 3}, at::kBool);
    EXPECT_THROW(kernels::buildTileLists(m, 32, 1, 4, 150, true, at::kCUDA), std::invalid_argument);
    EXPECT_THROW(kernels::buildTileLists(m, 64, 1, 4, 300, true, at::kCUDA), std::invalid_argument);
    EXPECT_THROW(kernels::buildTileLists(m, 64, 1, 8, 150, true, at::kCUDA), std::invalid_argument);
}

// The engine's attention with a prefill block mask (a strategy's sparse prefill) runs the kernel on
// CUDA and matches the reference.
TEST(BlockSparsePrefill, EngineAttendWithABlockMaskMatchesTheReference) {
    at::manual_seed(29);
    const int64_t hq = 16, hkv = 4, n = 777, d = 128, nb = (n + 63) / 64;
    const auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
    at::Tensor q = at::randn({hq, n, d}, opts), k = at::randn({hkv, n, d}, opts), v = at::randn({hkv, n, d}, opts);
    at::Tensor pos = at::arange(n, opts.dtype(at::kLong));
    LayerKv kv(hkv, d, opts);
    kv.append(k, v, pos);
    at::Tensor blocks = at::rand({hq, nb, nb}).lt(0.4);
    blocks.diagonal(0, 1, 2).fill_(true);
    AttentionParams p;
    p.scale = 1.0 / std::sqrt(double(d));
    p.block_mask = blocks;
    at::Tensor got = attend(q, pos, kv, p).to(at::kFloat).cpu();
    at::Tensor want = kernels::blockSparsePrefillReference(q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0),
                                                           blocks.unsqueeze(0).to(at::kCUDA), 64, true, p.scale)
                          .squeeze(0)
                          .to(at::kFloat)
                          .cpu();
    const double err = (got - want).abs().max().item<double>();
    std::cout << "RESULT block_sparse_prefill engine_attend max_abs_err=" << err << "\n";
    EXPECT_LE(err, 2e-2);
}

}  // namespace
