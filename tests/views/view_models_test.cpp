// View models of the attention, mask and head-grid views: plain data in, plain data out, no GL.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "views/attention_model.h"
#include "views/colormap.h"
#include "views/head_grid_model.h"
#include "views/view_data.h"

namespace attnlab {
namespace {

// A causal [n, n] matrix whose rows are given (only the first q+1 entries of row q are used).
AttentionMatrix causal(int64_t layer, int64_t head, const std::vector<std::vector<float>>& rows) {
    AttentionMatrix m;
    m.layer = layer;
    m.head = head;
    m.rows = static_cast<int64_t>(rows.size());
    m.cols = m.rows;
    m.probs.assign(static_cast<size_t>(m.rows * m.cols), 0.f);
    for (int64_t r = 0; r < m.rows; ++r) {
        for (int64_t c = 0; c <= r; ++c) m.probs[static_cast<size_t>(r * m.cols + c)] = rows[size_t(r)][size_t(c)];
        m.query_positions.push_back(r);
        m.key_positions.push_back(r);
    }
    return m;
}

// 2 layers, 4 query heads over 2 KV heads, 4 prompt tokens; run 0 is full, run 1 kept {0, 3}
// for layer 0 / KV head 0 and {2, 3} for layer 0 / KV head 1.
std::shared_ptr<ComparisonData> sample() {
    auto d = std::make_shared<ComparisonData>();
    d->model_name = "tiny";
    d->layers = 2;
    d->heads = 4;
    d->kv_heads = 2;
    d->prompt_tokens = {"<s>", "The", " pass\nkey", " is"};
    const std::vector<std::vector<float>> rows{{1}, {0.5f, 0.5f}, {0.2f, 0.3f, 0.5f}, {0.4f, 0.1f, 0.2f, 0.3f}};
    RunData full;
    full.spec = "full";
    RunData streaming;
    streaming.spec = "streaming:budget=2,sink=1";
    for (int64_t l = 0; l < 2; ++l) {
        for (int64_t h = 0; h < 4; ++h) {
            full.captures.push_back(causal(l, h, rows));
            streaming.captures.push_back(causal(l, h, rows));
        }
    }
    HeadDecision kv0;
    kv0.layer = 0;
    kv0.kv_head = 0;
    kv0.stage = "compress_prefill";
    kv0.budget = 2;
    kv0.kept_positions = {0, 3};
    HeadDecision kv1 = kv0;
    kv1.kv_head = 1;
    kv1.kept_positions = {2, 3};
    streaming.trace.decisions = {kv0, kv1};
    d->runs = {full, streaming};
    return d;
}

TEST(ColorMap, ViridisEndsAndClamps) {
    const Rgba8 lo = viridis(0), hi = viridis(1);
    EXPECT_EQ(lo.r, 68);
    EXPECT_EQ(lo.g, 1);
    EXPECT_EQ(lo.b, 84);
    EXPECT_EQ(hi.r, 253);
    EXPECT_EQ(hi.g, 231);
    EXPECT_EQ(viridis(-3).r, lo.r);
    EXPECT_EQ(viridis(7).g, hi.g);
    EXPECT_EQ(viridis(std::nan("")).b, lo.b);
}

TEST(ColorMap, LinearAndLogScales) {
    const ScaleRange lin = ScaleRange::forMaximum(ColorScale::Linear, 0.5);
    EXPECT_DOUBLE_EQ(lin.normalize(0.25), 0.5);
    EXPECT_DOUBLE_EQ(lin.normalize(2.0), 1.0);
    EXPECT_EQ(lin.ticks().front().second, "0");
    EXPECT_EQ(lin.ticks().back().second, "0.5");

    const ScaleRange log = ScaleRange::forMaximum(ColorScale::Log, 1.0);
    EXPECT_DOUBLE_EQ(log.min_value, 1e-4);
    EXPECT_NEAR(log.normalize(1e-2), 0.5, 1e-12);
    EXPECT_DOUBLE_EQ(log.normalize(0), 0);
    EXPECT_DOUBLE_EQ(log.normalize(1e-9), 0);
    const auto ticks = log.ticks();
    ASSERT_EQ(ticks.size(), 5u);  // 1e-4 .. 1, one per decade
    EXPECT_EQ(ticks[1].second, "1e-3");
    EXPECT_NEAR(ticks[2].first, 0.5, 1e-12);
}

TEST(ViewData, DisplayTokenEscapesAndCuts) {
    EXPECT_EQ(displayToken(" pass\nkey"), " pass\\nkey");
    EXPECT_EQ(displayToken(std::string("a\x01z")), "a\\x01z");
    EXPECT_EQ(displayToken("abcdefgh", 4), "abcd…");
    // A cut never splits a UTF-8 sequence: "é" is two bytes, one character.
    EXPECT_EQ(displayToken("ééé", 2), "éé…");
}

TEST(AttentionViewModel, GroupsQueryHeadsByKvHead) {
    auto data = sample();
    const auto groups = headGroups(*data);
    ASSERT_EQ(groups.size(), 2u);
    EXPECT_EQ(groups[0].query_heads, (std::vector<int64_t>{0, 1}));
    EXPECT_EQ(groups[1].query_heads, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(data->kvHeadOf(3), 1);

    AttentionViewModel m;
    m.setData(data);
    m.select(1, 0, 3);
    EXPECT_EQ(m.kvHead(), 1);
    EXPECT_NE(m.title().find("KV head 1: q2–q3"), std::string::npos) << m.title();
    EXPECT_NE(m.title().find("streaming:budget=2,sink=1"), std::string::npos);
}

TEST(AttentionViewModel, SelectionIsClamped) {
    AttentionViewModel m;
    m.setData(sample());
    m.select(9, 7, -2);
    EXPECT_EQ(m.run(), 1);
    EXPECT_EQ(m.layer(), 1);
    EXPECT_EQ(m.head(), 0);
    ASSERT_NE(m.matrix(), nullptr);
}

TEST(AttentionViewModel, EmptyWithoutDataOrCapture) {
    AttentionViewModel m;
    EXPECT_EQ(m.matrix(), nullptr);
    EXPECT_FALSE(m.emptyReason().empty());
    EXPECT_TRUE(m.image().isEmpty());
    auto data = sample();
    data->runs[0].captures.clear();
    m.setData(data);
    EXPECT_EQ(m.matrix(), nullptr);
    EXPECT_NE(m.emptyReason().find("not captured"), std::string::npos);
}

TEST(AttentionViewModel, HoverReadsExactCells) {
    AttentionViewModel m;
    m.setData(sample());
    m.select(0, 0, 0);
    const CellInfo c = m.cell(3, 1);
    ASSERT_TRUE(c.is_valid);
    EXPECT_EQ(c.query_position, 3);
    EXPECT_EQ(c.key_position, 1);
    EXPECT_EQ(c.query_token, " is");
    EXPECT_EQ(c.key_token, "The");
    EXPECT_FLOAT_EQ(c.weight, 0.1f);
    EXPECT_FALSE(c.is_future);
    EXPECT_TRUE(c.is_kept);  // full keeps everything
    EXPECT_TRUE(m.cell(1, 2).is_future);
    EXPECT_FALSE(m.cell(4, 0).is_valid);
    EXPECT_FALSE(m.cell(0, -1).is_valid);
}

TEST(AttentionViewModel, RowAndColumnFocusWeighThePromptTokens) {
    AttentionViewModel m;
    m.setData(sample());
    m.select(0, 0, 0);
    EXPECT_EQ(m.tokenFocus().kind, FocusKind::None);
    // Row 3: the query " is" and its weights over the keys.
    m.setFocus(FocusKind::Query, 3);
    TokenFocus f = m.tokenFocus();
    EXPECT_EQ(f.kind, FocusKind::Query);
    EXPECT_EQ(f.position, 3);
    EXPECT_EQ(f.tokens, sample()->prompt_tokens);
    EXPECT_EQ(f.weights, (std::vector<float>{0.4f, 0.1f, 0.2f, 0.3f}));
    EXPECT_FLOAT_EQ(f.max_weight, 0.4f);
    EXPECT_NE(f.description.find("query #3"), std::string::npos) << f.description;
    EXPECT_NE(f.description.find("\" is\""), std::string::npos) << f.description;
    // Column 1: the key "The" and every query's weight on it (0 where the causal mask hides it).
    m.setFocus(FocusKind::Key, 1);
    f = m.tokenFocus();
    EXPECT_EQ(f.kind, FocusKind::Key);
    EXPECT_EQ(f.position, 1);
    EXPECT_EQ(f.weights, (std::vector<float>{0, 0.5f, 0.3f, 0.1f}));
    EXPECT_EQ(m.focusIndex(), 1);
    // The focus follows its position to another head and run; new data on another prompt clears it.
    m.select(1, 1, 3);
    EXPECT_EQ(m.tokenFocus().position, 1);
    m.setData(sample());
    EXPECT_EQ(m.focusKind(), FocusKind::Key);
    auto other = std::make_shared<ComparisonData>(*sample());
    other->prompt_tokens[1] = "A";
    m.setData(other);
    EXPECT_EQ(m.focusKind(), FocusKind::None);
    m.setFocus(FocusKind::Query, 9);  // outside the matrix: no focus
    EXPECT_EQ(m.focusKind(), FocusKind::None);
    m.setFocus(FocusKind::Query, 0);
    m.setFocus(FocusKind::None, 0);
    EXPECT_EQ(m.tokenFocus().kind, FocusKind::None);
}

TEST(AttentionViewModel, KeptMaskAndCoverage) {
    AttentionViewModel m;
    m.setData(sample());
    m.select(0, 0, 1);  // full: no decision
    EXPECT_TRUE(m.keptMask().empty());
    EXPECT_FALSE(m.coverage().has_mask);
    EXPECT_DOUBLE_EQ(m.coverage().last_row_mass, 1.0);

    m.select(1, 0, 1);  // streaming, query head 1 reads KV head 0: kept {0, 3}
    EXPECT_EQ(m.keptMask(), (std::vector<uint8_t>{1, 0, 0, 1}));
    const KeptCoverage c = m.coverage();
    EXPECT_TRUE(c.has_mask);
    EXPECT_EQ(c.kept_keys, 2);
    EXPECT_EQ(c.total_keys, 4);
    EXPECT_NEAR(c.last_row_mass, 0.4 + 0.3, 1e-6);
    // Rows: 1, 0.5, 0.2, 0.7.
    EXPECT_NEAR(c.mean_row_mass, (1.0 + 0.5 + 0.2 + 0.7) / 4, 1e-6);
    EXPECT_FALSE(m.cell(3, 1).is_kept);

    m.select(1, 0, 2);  // KV head 1: kept {2, 3}
    EXPECT_EQ(m.keptMask(), (std::vector<uint8_t>{0, 0, 1, 1}));
    m.select(1, 1, 2);  // layer 1 has no decision
    EXPECT_TRUE(m.keptMask().empty());
}

TEST(AttentionViewModel, ImageColoursCellsAndDimsEvictedKeys) {
    AttentionViewModel m;
    m.setData(sample());
    m.setScale(ColorScale::Linear);
    m.select(1, 0, 0);
    const RgbaImage& plain = m.image();
    ASSERT_EQ(plain.width, 4);
    ASSERT_EQ(plain.height, 4);
    const uint64_t v1 = plain.version;
    const Rgba8 top = plain.at(0, 0);  // weight 1 = the maximum
    EXPECT_EQ(top.r, viridis(1).r);
    const Rgba8 future = plain.at(3, 0);
    EXPECT_EQ(future.r, 24);
    EXPECT_EQ(future.b, 28);
    const Rgba8 evicted_plain = plain.at(1, 3);

    m.setMaskOverlay(true);
    const RgbaImage& masked = m.image();
    EXPECT_NE(masked.version, v1);
    const Rgba8 evicted = masked.at(1, 3);  // key 1 was evicted: grey, darker
    EXPECT_EQ(evicted.r, evicted.g);
    EXPECT_NE(evicted.r, evicted_plain.r);
    const Rgba8 kept = masked.at(0, 3);
    EXPECT_EQ(kept.r, plain.at(0, 3).r);
}

TEST(AttentionViewModel, LargeMatricesArePooledForTheTexture) {
    auto data = std::make_shared<ComparisonData>();
    data->layers = 1;
    data->heads = 1;
    data->kv_heads = 1;
    AttentionMatrix m;
    m.rows = 3000;
    m.cols = 10;
    m.probs.assign(static_cast<size_t>(m.rows * m.cols), 0.01f);
    m.probs[static_cast<size_t>(2999 * 10 + 9)] = 0.9f;
    for (int64_t r = 0; r < m.rows; ++r) m.query_positions.push_back(r + 10);
    for (int64_t c = 0; c < m.cols; ++c) m.key_positions.push_back(c);
    RunData run;
    run.spec = "full";
    run.captures.push_back(m);
    data->runs.push_back(run);
    AttentionViewModel model;
    model.setData(data);
    model.setScale(ColorScale::Linear);
    const RgbaImage& img = model.image();
    EXPECT_EQ(img.height, 1500);  // two rows per texel
    EXPECT_EQ(img.width, 5);
    EXPECT_EQ(img.at(4, 1499).r, viridis(1).r);  // max pooling keeps the peak
    EXPECT_FLOAT_EQ(model.cell(2999, 9).weight, 0.9f);
}

TEST(HeadGrid, StatsOfKnownPatterns) {
    // Uniform causal rows: normalised entropy 1; row 0 has one key and is left out.
    std::vector<std::vector<float>> uniform{{1}, {0.5f, 0.5f}, {1 / 3.f, 1 / 3.f, 1 / 3.f}};
    HeadStats s = computeHeadStats(causal(0, 0, uniform), {});
    EXPECT_TRUE(s.has_capture);
    EXPECT_NEAR(s.entropy, 1.0, 1e-6);
    EXPECT_NEAR(s.sink_mass, 1.0, 1e-6);  // three tokens, all within the first four
    EXPECT_DOUBLE_EQ(s.kept_fraction, 1.0);

    // Everything on the diagonal: entropy 0.
    std::vector<std::vector<float>> diagonal(6);
    for (size_t r = 0; r < 6; ++r) {
        diagonal[r].assign(r + 1, 0.f);
        diagonal[r][r] = 1.f;
    }
    s = computeHeadStats(causal(0, 0, diagonal), {1, 0, 0, 0, 0, 1});
    EXPECT_NEAR(s.entropy, 0.0, 1e-6);
    EXPECT_NEAR(s.sink_mass, 4.0 / 6.0, 1e-6);  // rows 0..3 attend to themselves, inside the sinks
    EXPECT_NEAR(s.kept_fraction, 2.0 / 6.0, 1e-12);
    EXPECT_NEAR(s.kept_coverage, 1.0, 1e-6);  // the last row's weight is on position 5, kept
}

TEST(HeadGrid, ScoresThumbnailsAndMissingHeads) {
    auto data = sample();
    // Layer 1, head 3 not captured in the streaming run.
    auto& caps = data->runs[1].captures;
    caps.erase(std::remove_if(caps.begin(), caps.end(), [](const AttentionMatrix& m) { return m.layer == 1 && m.head == 3; }),
               caps.end());
    HeadGridModel g;
    g.setData(data);
    g.setRun(1);
    g.setScore(HeadScore::KeptFraction);
    EXPECT_EQ(g.layers(), 2);
    EXPECT_EQ(g.heads(), 4);
    EXPECT_DOUBLE_EQ(g.scoreAt(0, 0), 0.5);
    EXPECT_DOUBLE_EQ(g.scoreAt(1, 0), 1.0);  // no decision in layer 1
    EXPECT_LT(g.scoreAt(1, 3), 0);
    g.setScore(HeadScore::KeptCoverage);
    EXPECT_NEAR(g.scoreAt(0, 2), 0.2 + 0.3, 1e-6);  // KV head 1 kept {2, 3}
    EXPECT_EQ(g.thumbnails().width, 4 * HeadGridModel::kThumbSide);
    EXPECT_EQ(g.thumbnails().height, 2 * HeadGridModel::kThumbSide);
    // The thumbnail of head (0, 0) is brightest where the weight is largest: the top-left cell.
    EXPECT_EQ(g.thumbnails().at(0, 0).a, 255);
    EXPECT_EQ(g.thumbnails().at(HeadGridModel::kThumbSide - 1, 0).a, 0);  // future
    EXPECT_NE(g.title().find("kept coverage"), std::string::npos);
    EXPECT_EQ(allHeadScores().size(), 4u);
}

}  // namespace
}  // namespace attnlab
