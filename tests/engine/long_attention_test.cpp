// Long-context attention (issue 7): row normalisers, pooled pyramid and on-demand tiles against a
// dense softmax reference on small N, the capture file round trip and its error messages, and a real
// prefill's captured head against the engine's own exact probabilities.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include "core/analysis/long_attention.h"
#include "core/engine/model.h"
#include "core/io/safetensors.h"
#include "core/model/attention.h"
#include "test_util.h"

namespace attnlab {
namespace {

// Dense reference in double precision: w[i][j] = softmax_j<=i(scale * q_i . k_j).
std::vector<double> denseWeights(const LongAttentionCapture& c) {
    const int64_t n = c.tokens, d = c.head_dim;
    std::vector<double> w(static_cast<size_t>(n * n), 0.0);
    for (int64_t i = 0; i < n; ++i) {
        double mx = -1e300;
        std::vector<double> s(static_cast<size_t>(i + 1));
        for (int64_t j = 0; j <= i; ++j) {
            double dot = 0;
            for (int64_t t = 0; t < d; ++t) dot += double(c.queries[i * d + t]) * c.keys[j * d + t];
            s[j] = dot * c.scale;
            mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (double v : s) sum += std::exp(v - mx);
        for (int64_t j = 0; j <= i; ++j) w[i * n + j] = std::exp(s[j] - mx) / sum;
    }
    return w;
}

LongAttentionCapture randomCapture(int64_t n, int64_t d, uint32_t seed, double amp) {
    LongAttentionCapture c;
    c.tokens = n;
    c.head_dim = d;
    c.scale = 1.0 / std::sqrt(double(d));
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.f, float(amp));
    c.queries.resize(n * d);
    c.keys.resize(n * d);
    for (float& x : c.queries) x = nd(rng);
    for (float& x : c.keys) x = nd(rng);
    return c;
}

void checkPooled(const PooledWeights& p, const std::vector<double>& w, int64_t n) {
    for (int64_t r = 0; r < p.rows; ++r)
        for (int64_t c = 0; c < p.cols; ++c) {
            double mx = 0, sum = 0;
            for (int64_t i = p.row_edges[r]; i < p.row_edges[r + 1]; ++i)
                for (int64_t j = p.col_edges[c]; j < p.col_edges[c + 1]; ++j) {
                    mx = std::max(mx, w[i * n + j]);
                    sum += w[i * n + j];
                }
            const double area = double(p.row_edges[r + 1] - p.row_edges[r]) * double(p.col_edges[c + 1] - p.col_edges[c]);
            ASSERT_NEAR(p.max[r * p.cols + c], mx, 1e-5 + 1e-4 * mx) << "cell " << r << "," << c;
            ASSERT_NEAR(p.mean[r * p.cols + c], sum / area, 1e-6 + 1e-4 * sum / area) << "cell " << r << "," << c;
        }
}

class LongAttentionDense : public ::testing::TestWithParam<int64_t> {};

TEST_P(LongAttentionDense, NormalisersPyramidAndTilesMatchDenseSoftmax) {
    const int64_t n = GetParam();
    // amp 2.5 gives peaked rows (logits spread of ~20), which exercises the running max.
    LongAttentionCapture c = randomCapture(n, 32, 7, 2.5);
    // Small blocks so several row and key blocks meet the diagonal.
    ASSERT_TRUE(computeRowNormalisers(c, 97).isOk());
    const std::vector<double> w = denseWeights(c);
    for (int64_t i = 0; i < n; ++i) {
        double sum = 0;
        for (int64_t j = 0; j <= i; ++j) sum += w[i * n + j];
        ASSERT_NEAR(sum, 1.0, 1e-9);
    }
    // Exact tile across the diagonal.
    const int64_t r0 = n / 3, r1 = n / 3 + 70, c0 = n / 3 - 20, c1 = n / 3 + 90;
    auto tile = computeTile(c, r0, r1, c0, c1);
    ASSERT_TRUE(tile.isOk()) << tile.error();
    for (int64_t i = r0; i < r1; ++i)
        for (int64_t j = c0; j < c1; ++j)
            ASSERT_NEAR((*tile)[(i - r0) * (c1 - c0) + (j - c0)], w[i * n + j], 1e-5) << i << "," << j;
    EXPECT_NEAR(exactWeight(c, n - 1, 3), w[(n - 1) * n + 3], 1e-6);
    EXPECT_EQ(exactWeight(c, 3, 4), 0.f);

    // Pyramid with a finest level that does not divide N (uneven cells), and its coarser levels.
    auto pyr = buildPyramid(c, 64);
    ASSERT_TRUE(pyr.isOk()) << pyr.error();
    ASSERT_EQ(pyr->levels.front().rows, 64);
    EXPECT_EQ(pyr->levels.back().rows, 1);
    for (const PooledWeights& level : pyr->levels) checkPooled(level, w, n);
    // The single top cell's mean is N rows of weight 1 over N^2 cells.
    EXPECT_NEAR(pyr->levels.back().mean[0], 1.0 / double(n), 1e-6);

    // On-demand pooled tile (what the view asks for when zoomed), off the diagonal and across it.
    auto pooled = computePooledTile(c, n / 2, n, 0, n / 2 + 30, 37, 23);
    ASSERT_TRUE(pooled.isOk()) << pooled.error();
    checkPooled(*pooled, w, n);
    // A range smaller than the requested resolution comes back exact.
    auto exact = computePooledTile(c, 10, 20, 5, 15, 100, 100);
    ASSERT_TRUE(exact.isOk());
    EXPECT_TRUE(exact->isExact());
    checkPooled(*exact, w, n);
}

INSTANTIATE_TEST_SUITE_P(Sizes, LongAttentionDense, ::testing::Values<int64_t>(300, 1000));

TEST(LongAttention, DevicePyramidEqualsTheBlockwiseOne) {
    // The tensor-reduction path (what runs on CUDA) on the CPU, against the C++ pooling path.
    LongAttentionCapture c = randomCapture(1024, 32, 11, 2.0);
    LongAttentionCapture on_device = c;
    ASSERT_TRUE(computeRowNormalisers(c).isOk());
    auto ref = buildPyramid(c, 64);
    ASSERT_TRUE(ref.isOk());
    auto dev = buildPyramidOnDevice(on_device, "cpu", 64);
    ASSERT_TRUE(dev.isOk()) << dev.error();
    for (size_t i = 0; i < c.row_lse.size(); ++i) ASSERT_NEAR(on_device.row_lse[i], c.row_lse[i], 1e-4);
    ASSERT_EQ(dev->levels.size(), ref->levels.size());
    for (size_t l = 0; l < ref->levels.size(); ++l)
        for (size_t i = 0; i < ref->levels[l].max.size(); ++i) {
            ASSERT_NEAR(dev->levels[l].max[i], ref->levels[l].max[i], 1e-5 + 1e-4 * ref->levels[l].max[i]);
            ASSERT_NEAR(dev->levels[l].mean[i], ref->levels[l].mean[i], 1e-7 + 1e-4 * ref->levels[l].mean[i]);
        }
    LongAttentionCapture odd = randomCapture(1000, 8, 1, 1.0);
    auto bad = buildPyramidOnDevice(odd, "cpu", 64);
    ASSERT_FALSE(bad.isOk());
    EXPECT_NE(bad.error().find("multiple of the cell count"), std::string::npos);
}

TEST(LongAttention, RangesAndMissingNormalisersAreErrors) {
    LongAttentionCapture c = randomCapture(50, 8, 1, 1.0);
    auto t = computeTile(c, 0, 10, 0, 10);
    ASSERT_FALSE(t.isOk());
    EXPECT_NE(t.error().find("normalisers"), std::string::npos);
    ASSERT_TRUE(computeRowNormalisers(c).isOk());
    auto bad = computeTile(c, 40, 60, 0, 10);
    ASSERT_FALSE(bad.isOk());
    EXPECT_NE(bad.error().find("outside the 50-token capture"), std::string::npos) << bad.error();
    c.keys.pop_back();
    EXPECT_FALSE(computeRowNormalisers(c).isOk());
}

TEST(LongAttention, FileRoundTripKeepsCapturePyramidAndInfo) {
    test::TempDir tmp;
    LongAttentionCapture c = synthesizeLongAttention(700, 3);
    ASSERT_TRUE(computeRowNormalisers(c).isOk());
    auto pyr = buildPyramid(c, 128);
    ASSERT_TRUE(pyr.isOk());
    const std::string path = tmp.path() + "/head.safetensors";
    ASSERT_TRUE(saveLongAttention(path, c, &*pyr).isOk());
    auto loaded = loadLongAttention(path);
    ASSERT_TRUE(loaded.isOk()) << loaded.error();
    const LongAttentionCapture& l = *loaded->capture;
    EXPECT_EQ(l.tokens, 700);
    EXPECT_EQ(l.head_dim, 64);
    EXPECT_DOUBLE_EQ(l.scale, c.scale);
    EXPECT_EQ(l.queries, c.queries);
    EXPECT_EQ(l.row_lse, c.row_lse);
    EXPECT_EQ(l.info.at("source"), "synthetic");
    ASSERT_TRUE(loaded->pyramid);
    ASSERT_EQ(loaded->pyramid->levels.size(), pyr->levels.size());
    for (size_t i = 0; i < pyr->levels.size(); ++i) {
        EXPECT_EQ(loaded->pyramid->levels[i].max, pyr->levels[i].max) << "level " << i;
        EXPECT_EQ(loaded->pyramid->levels[i].row_edges, pyr->levels[i].row_edges);
    }
}

TEST(LongAttention, BadFilesGiveMessagesNamingTheFile) {
    test::TempDir tmp;
    const std::string missing = tmp.path() + "/none.safetensors";
    auto r = loadLongAttention(missing);
    ASSERT_FALSE(r.isOk());
    EXPECT_NE(r.error().find("none.safetensors"), std::string::npos) << r.error();

    // A valid safetensors file that is not a capture.
    const std::string other = tmp.path() + "/other.safetensors";
    std::vector<float> x(6, 1.f);
    ASSERT_TRUE(writeSafetensors(other, {{"w", DType::F32, {2, 3}, x.data(), x.size() * 4}}).isOk());
    r = loadLongAttention(other);
    ASSERT_FALSE(r.isOk());
    EXPECT_NE(r.error().find("other.safetensors: not an attnlab long-attention capture"), std::string::npos) << r.error();

    // Right format tag, wrong shapes.
    const std::string shapes = tmp.path() + "/shapes.safetensors";
    std::vector<float> q(12, 0.f), lse(3, 0.f);
    ASSERT_TRUE(writeSafetensors(shapes,
                                 {{"queries", DType::F32, {3, 4}, q.data(), 48}, {"keys", DType::F32, {4, 3}, q.data(), 48},
                                  {"row_max", DType::F32, {3}, lse.data(), 12}, {"row_lse", DType::F32, {3}, lse.data(), 12}},
                                 {{"format", "attnlab.long_attention"}, {"version", "1"}, {"scale", "0.5"}})
                    .isOk());
    r = loadLongAttention(shapes);
    ASSERT_FALSE(r.isOk());
    EXPECT_NE(r.error().find("shapes.safetensors: queries 3x4 do not match"), std::string::npos) << r.error();

    // Truncated file.
    const std::string cut = tmp.path() + "/cut.safetensors";
    LongAttentionCapture c = synthesizeLongAttention(64, 1);
    ASSERT_TRUE(computeRowNormalisers(c).isOk());
    ASSERT_TRUE(saveLongAttention(cut, c).isOk());
    std::string bytes = test::readFile(cut);
    std::ofstream(cut, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(bytes.size() / 2));
    r = loadLongAttention(cut);
    ASSERT_FALSE(r.isOk());
    EXPECT_NE(r.error().find("cut.safetensors"), std::string::npos) << r.error();
}

TEST(LongAttention, SyntheticHeadHasASinkAndARecencyBand) {
    LongAttentionCapture c = synthesizeLongAttention(4096, 1);
    ASSERT_TRUE(computeRowNormalisers(c).isOk());
    // Late queries: key 0 (sink) and the nearest keys outweigh a key in the middle distance.
    double sink = 0, near = 0, far = 0;
    for (int64_t i = 3000; i < 3100; ++i) {
        sink += exactWeight(c, i, 0);
        near += exactWeight(c, i, i - 1);
        far += exactWeight(c, i, i - 1500);
    }
    EXPECT_GT(sink, 10 * far);
    EXPECT_GT(near, 10 * far);
}

// Hands the engine's exact probabilities of one layer/head to the test.
class ProbeObserver : public AttentionObserver {
public:
    ProbeObserver(int64_t layer, int64_t head) : m_layer(layer), m_head(head) {}
    bool wantsLayer(int64_t layer) const override { return layer == m_layer; }
    bool wantsHead(int64_t layer, int64_t head) const override { return layer == m_layer && head == m_head; }
    void onProbabilities(int64_t, int64_t, const at::Tensor& p, const at::Tensor&, const at::Tensor&) override {
        probs.assign(p.contiguous().data_ptr<float>(), p.contiguous().data_ptr<float>() + p.numel());
        cols = p.size(1);
    }
    std::vector<float> probs;
    int64_t cols = 0;

private:
    int64_t m_layer, m_head;
};

TEST(LongAttention, CaptureFromPrefillMatchesTheEnginesProbabilities) {
    auto model = Model::open(test::parityDir() + "/llama3");
    ASSERT_TRUE(model.isOk()) << model.error();
    std::vector<int32_t> ids;
    for (int i = 0; i < 90; ++i) ids.push_back(static_cast<int32_t>((i * 37 + 11) % (*model)->config().vocab_size));
    const int64_t layer = (*model)->config().num_layers - 1, head = (*model)->config().num_heads - 1;
    auto cap = captureLongAttention(**model, ids, layer, head);
    ASSERT_TRUE(cap.isOk()) << cap.error();
    EXPECT_EQ(cap->tokens, 90);
    ProbeObserver probe(layer, head);
    ASSERT_TRUE((*model)->prefillObserved(ids, probe).isOk());
    ASSERT_EQ(probe.cols, 90);
    auto tile = computeTile(*cap, 0, 90, 0, 90);
    ASSERT_TRUE(tile.isOk());
    for (size_t i = 0; i < tile->size(); ++i) ASSERT_NEAR((*tile)[i], probe.probs[i], 2e-5) << "entry " << i;
    auto bad = captureLongAttention(**model, ids, layer + 1, 0);
    ASSERT_FALSE(bad.isOk());
    EXPECT_NE(bad.error().find("outside the model"), std::string::npos);
}

}  // namespace
}  // namespace attnlab
