#include "core/model/attention.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/model/kv_cache.h"
#include "core/util/result.h"

using namespace attnlab;

namespace {

// Independent reference: K/V repeated to every query head, one full masked softmax per head.
at::Tensor referenceAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& qpos,
                              const at::Tensor& kpos, int64_t window, double scale) {
    const int64_t hq = q.size(0), hkv = k.size(0), group = hq / hkv;
    std::vector<at::Tensor> outs;
    for (int64_t h = 0; h < hq; ++h) {
        at::Tensor kh = k[h / group].to(at::kDouble), vh = v[h / group].to(at::kDouble);
        at::Tensor s = at::matmul(q[h].to(at::kDouble), kh.t()) * scale;
        for (int64_t i = 0; i < q.size(1); ++i)
            for (int64_t j = 0; j < k.size(1); ++j) {
                int64_t qp = qpos[i].item<int64_t>(), kp = kpos[j].item<int64_t>();
                bool visible = kp <= qp && (window == 0 || qp - kp < window);
                if (!visible) s[i][j] = -INFINITY;
            }
        outs.push_back(at::matmul(at::softmax(s, -1), vh));
    }
    return at::stack(outs).to(at::kFloat);
}

LayerKv filledCache(const at::Tensor& k, const at::Tensor& v, const at::Tensor& pos) {
    LayerKv kv(k.size(0), k.size(2), at::TensorOptions().dtype(at::kFloat));
    kv.append(k, v, pos);
    return kv;
}

TEST(AttentionTest, DenseGqaMatchesReferenceWithAndWithoutWindow) {
    at::manual_seed(0);
    const int64_t hq = 8, hkv = 2, t = 300, d = 16;  // t > one query block
    at::Tensor q = at::randn({hq, t, d}), k = at::randn({hkv, t, d}), v = at::randn({hkv, t, d});
    at::Tensor pos = at::arange(t, at::kLong);
    LayerKv kv = filledCache(k, v, pos);
    for (int64_t window : {0, 17}) {
        AttentionParams p;
        p.sliding_window = window;
        p.scale = 0.25;
        at::Tensor ours = attend(q, pos, kv, p);
        at::Tensor ref = referenceAttention(q, k, v, pos, pos, window, 0.25);
        EXPECT_LT((ours - ref).abs().max().item<double>(), 1e-5) << "window " << window;
    }
}

TEST(AttentionTest, DecodeStepSeesOnlyEarlierPositions) {
    at::manual_seed(1);
    const int64_t hq = 4, hkv = 4, t = 10, d = 8;
    at::Tensor k = at::randn({hkv, t, d}), v = at::randn({hkv, t, d});
    LayerKv kv = filledCache(k, v, at::arange(t, at::kLong));
    at::Tensor q = at::randn({hq, 1, d});
    at::Tensor qpos = at::full({1}, int64_t{4}, at::kLong);  // a query at position 4 must ignore keys 5..9
    AttentionParams p;
    p.scale = 1.0;
    at::Tensor ours = attend(q, qpos, kv, p);
    at::Tensor ref = referenceAttention(q, k.narrow(1, 0, 5), v.narrow(1, 0, 5), qpos, at::arange(5, at::kLong), 0, 1.0);
    EXPECT_LT((ours - ref).abs().max().item<double>(), 1e-5);
}

TEST(AttentionTest, RaggedCacheAfterKeepAllEqualsDense) {
    at::manual_seed(2);
    const int64_t hq = 6, hkv = 3, t = 40, d = 8;
    at::Tensor q = at::randn({hq, t, d}), k = at::randn({hkv, t, d}), v = at::randn({hkv, t, d});
    at::Tensor pos = at::arange(t, at::kLong);
    LayerKv dense = filledCache(k, v, pos);
    LayerKv ragged = filledCache(k, v, pos);
    // Indices in shuffled order: keep() must restore position order.
    std::vector<at::Tensor> all(3, at::randperm(t, at::kLong));
    ragged.keep(all);
    ASSERT_FALSE(ragged.isDense());
    AttentionParams p;
    p.scale = 0.3;
    EXPECT_LT((attend(q, pos, dense, p) - attend(q, pos, ragged, p)).abs().max().item<double>(), 1e-5);
}

TEST(AttentionTest, RaggedHeadsReadOnlyTheirKeptEntries) {
    at::manual_seed(3);
    const int64_t hq = 4, hkv = 2, t = 12, d = 8;
    at::Tensor k = at::randn({hkv, t, d}), v = at::randn({hkv, t, d});
    at::Tensor pos = at::arange(t, at::kLong);
    LayerKv kv = filledCache(k, v, pos);
    at::Tensor keep0 = at::tensor(std::vector<int64_t>{0, 1, 10, 11});
    at::Tensor keep1 = at::tensor(std::vector<int64_t>{5, 6, 7});
    kv.keep({keep0, keep1});
    EXPECT_EQ(kv.headLength(0), 4);
    EXPECT_EQ(kv.headLength(1), 3);
    at::Tensor q = at::randn({hq, 1, d});
    at::Tensor qpos = at::full({1}, int64_t{11}, at::kLong);
    AttentionParams p;
    p.scale = 0.5;
    at::Tensor ours = attend(q, qpos, kv, p);
    at::Tensor ref0 = referenceAttention(q.narrow(0, 0, 2), k.narrow(0, 0, 1).index_select(1, keep0),
                                         v.narrow(0, 0, 1).index_select(1, keep0), qpos, keep0, 0, 0.5);
    at::Tensor ref1 = referenceAttention(q.narrow(0, 2, 2), k.narrow(0, 1, 1).index_select(1, keep1),
                                         v.narrow(0, 1, 1).index_select(1, keep1), qpos, keep1, 0, 0.5);
    EXPECT_LT((ours.narrow(0, 0, 2) - ref0).abs().max().item<double>(), 1e-5);
    EXPECT_LT((ours.narrow(0, 2, 2) - ref1).abs().max().item<double>(), 1e-5);
}

TEST(KvCacheTest, EvictionFreesMemoryAndCountsBytesExactly) {
    const int64_t hkv = 2, d = 8;
    LayerKv kv(hkv, d, at::TensorOptions().dtype(at::kFloat));
    kv.reserve(100);
    EXPECT_EQ(kv.allocatedBytes(), 2 * hkv * 100 * d * 4);  // exact reservation, K and V
    kv.append(at::randn({hkv, 100, d}), at::randn({hkv, 100, d}), at::arange(100, at::kLong));
    kv.keep({at::arange(10, at::kLong), at::arange(30, at::kLong)});
    EXPECT_EQ(kv.allocatedBytes(), (10 + 30) * d * 4 * 2);
    // Appending after eviction grows each head on its own.
    kv.append(at::randn({hkv, 1, d}), at::randn({hkv, 1, d}), at::full({1}, int64_t{100}, at::kLong));
    EXPECT_EQ(kv.headLength(0), 11);
    EXPECT_EQ(kv.headLength(1), 31);
    EXPECT_EQ(kv.headPositions(0)[10].item<int64_t>(), 100);
}

TEST(KvCacheTest, KeepAscendingEqualsKeepForAscendingIndices) {
    // Ascending indices into heads in position order (the streaming strategy's case): the same cache as
    // keep() gives, without its sort; after an earlier keep too.
    const int64_t hkv = 2, d = 4, t = 40;
    at::Tensor k = at::randn({hkv, t, d}), v = at::randn({hkv, t, d}), pos = at::arange(t, at::kLong) * 3;
    LayerKv a = filledCache(k, v, pos), b = filledCache(k, v, pos);
    const std::vector<at::Tensor> first{at::arange(0, t, 2, at::kLong), at::cat({at::arange(4, at::kLong), at::arange(30, t, at::kLong)})};
    a.keep(first, 1);
    b.keepAscending(first, 1);
    const std::vector<at::Tensor> second{at::arange(3, 12, at::kLong), at::tensor({0, 1, 5, 13}, at::kLong)};
    a.keep(second, 1);
    b.keepAscending(second, 1);
    for (int64_t h = 0; h < hkv; ++h) {
        EXPECT_TRUE(at::equal(a.headPositions(h), b.headPositions(h))) << h;
        EXPECT_TRUE(at::equal(a.headKeys(h), b.headKeys(h))) << h;
        EXPECT_TRUE(at::equal(a.headValues(h), b.headValues(h))) << h;
    }
    EXPECT_EQ(b.headPositions(1)[2].item<int64_t>(), 3 * 31);  // head 1 kept entries 0-3 and 30-39; then 0, 1, 5, 13
    EXPECT_EQ(b.headPositions(1)[3].item<int64_t>(), 3 * 39);
    EXPECT_EQ(b.device(), at::Device(at::kCPU));
}

TEST(KvCacheTest, PositionsSurviveDenseGrowth) {
    LayerKv kv(1, 4, at::TensorOptions().dtype(at::kFloat));
    for (int64_t i = 0; i < 600; ++i)
        kv.append(at::full({1, 1, 4}, static_cast<float>(i)), at::zeros({1, 1, 4}), at::full({1}, i, at::kLong));
    EXPECT_EQ(kv.maxLength(), 600);
    EXPECT_EQ(kv.densePositions()[599].item<int64_t>(), 599);
    EXPECT_EQ(kv.denseKeys()[0][321][2].item<float>(), 321.0f);
}

TEST(AttentionTest, VisibilityMaskHonoursTheWindow) {
    at::Tensor pos = at::arange(5, at::kLong);
    at::Tensor m = visibilityMask(pos, pos, 2);
    // Row 4 sees keys 3 and 4 only.
    EXPECT_FALSE(m[4][2].item<bool>());
    EXPECT_TRUE(m[4][3].item<bool>());
    EXPECT_TRUE(m[4][4].item<bool>());
    EXPECT_FALSE(m[1][2].item<bool>());
}

// Block-masked prefill: an independent double-precision softmax per head over the keys its block mask
// and causality allow (rows that see nothing give zeros), against attend()'s CPU path; the observer
// sees the same masked probabilities.
struct ProbeObserver : AttentionObserver {
    std::vector<at::Tensor> probs;
    bool wantsLayer(int64_t) const override { return true; }
    bool wantsHead(int64_t, int64_t head) const override { return head == 5; }
    void onProbabilities(int64_t, int64_t, const at::Tensor& p, const at::Tensor&, const at::Tensor&) override {
        probs.push_back(p.clone());
    }
};

TEST(AttentionTest, BlockMaskedPrefillMatchesReferenceAndTheObserverSeesTheMask) {
    at::manual_seed(4);
    const int64_t hq = 8, hkv = 2, group = hq / hkv, t = 300, d = 16, nb = 5;  // a partial last block
    at::Tensor q = at::randn({hq, t, d}), k = at::randn({hkv, t, d}), v = at::randn({hkv, t, d});
    at::Tensor pos = at::arange(t, at::kLong);
    LayerKv kv = filledCache(k, v, pos);
    at::Tensor blocks = at::rand({hq, nb, nb}).lt(0.5);
    blocks[3][2].fill_(false);  // head 3's query block 2 sees nothing
    blocks[5].diagonal().fill_(true);
    ProbeObserver probe;
    AttentionParams p;
    p.scale = 0.3;
    p.block_mask = blocks;
    p.observer = &probe;
    at::Tensor ours = attend(q, pos, kv, p);
    for (int64_t h = 0; h < hq; ++h) {
        at::Tensor allowed = at::zeros({t, t}, at::kBool);
        for (int64_t i = 0; i < t; ++i)
            for (int64_t j = 0; j <= i; ++j) allowed[i][j] = blocks[h][i / 64][j / 64].item<bool>();
        at::Tensor s = at::matmul(q[h].to(at::kDouble), k[h / group].to(at::kDouble).t()) * 0.3;
        s.masked_fill_(allowed.logical_not(), -INFINITY);
        at::Tensor w = at::softmax(s, -1).nan_to_num(0.0);
        at::Tensor want = at::matmul(w, v[h / group].to(at::kDouble)).to(at::kFloat);
        EXPECT_LT((ours[h] - want).abs().max().item<double>(), 1e-5) << "head " << h;
        if (h == 5) {
            ASSERT_EQ(probe.probs.size(), 1u);
            EXPECT_LT((probe.probs[0] - w.to(at::kFloat)).abs().max().item<double>(), 1e-5);
            EXPECT_EQ(probe.probs[0].masked_select(allowed.logical_not()).abs().sum().item<float>(), 0.f);
        }
    }
    EXPECT_EQ(ours[3].narrow(0, 128, 64).abs().sum().item<float>(), 0.f);
}

TEST(AttentionTest, BlockMaskOutsideAFreshPrefillOrOfTheWrongShapeIsAnError) {
    at::manual_seed(5);
    const int64_t hq = 4, t = 70, d = 8;
    at::Tensor q = at::randn({hq, t, d}), k = at::randn({hq, t, d}), v = at::randn({hq, t, d});
    at::Tensor pos = at::arange(t, at::kLong);
    LayerKv kv = filledCache(k, v, pos);
    AttentionParams p;
    p.block_mask = at::ones({hq, 3, 3}, at::kBool);  // 70 tokens are 2 blocks
    EXPECT_THROW(attend(q, pos, kv, p), Error);
    p.block_mask = at::ones({hq, 2, 2}, at::kBool);
    p.sliding_window = 16;
    EXPECT_THROW(attend(q, pos, kv, p), Error);
    p.sliding_window = 0;
    EXPECT_NO_THROW(attend(q, pos, kv, p));
    // A second chunk on top of a cache that already holds the first is not a fresh prefill.
    kv.append(k.narrow(1, 0, 2), v.narrow(1, 0, 2), at::arange(t, t + 2, at::kLong));
    p.block_mask = at::ones({hq, 1, 1}, at::kBool);
    EXPECT_THROW(attend(q.narrow(1, 0, 2), at::arange(t, t + 2, at::kLong), kv, p), Error);
}

}  // namespace
