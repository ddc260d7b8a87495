// Strategy pipeline: registry and plugins, StreamingLLM and SnapKV against independent references,
// full-equivalence at large budgets, exact memory accounting.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <set>

#include "core/engine/compare.h"
#include "core/engine/model.h"
#include "core/model/kv_cache.h"
#include "core/strategy/registry.h"
#include "core/strategy/strategy.h"
#include "core/strategy/trace.h"
#include "plugins/snapkv/snapkv.h"
#include "plugins/streaming/streaming.h"
#include "tests/engine/test_util.h"

using namespace attnlab;

namespace {

std::unique_ptr<StrategyRegistry> staticRegistry() {
    auto r = std::make_unique<StrategyRegistry>();
    EXPECT_TRUE(r->add(plugins::makeStreamingFactory(), "static").isOk());
    EXPECT_TRUE(r->add(plugins::makeSnapKvFactory(), "static").isOk());
    return r;
}

struct Fixture {
    std::shared_ptr<Model> model;
    std::vector<int32_t> prompt;  // 54 tokens
};

Fixture llama3() {
    const std::string dir = test::parityDir() + "/llama3";
    auto golden = test::readJson(dir + "/golden.json");
    auto model = Model::open(dir);
    EXPECT_TRUE(model.isOk()) << model.error();
    Fixture f;
    f.model = *model;
    f.prompt = golden.at("prompts").at(1).at("ids").get<std::vector<int32_t>>();
    return f;
}

// hooks: anything besides the strategy and the trace (captures, a shared prefill).
GenerationResult runWith(Model& model, const StrategyRegistry& registry, const std::string& spec,
                         const std::vector<int32_t>& prompt, int64_t new_tokens, StrategyTrace* trace,
                         const std::vector<int32_t>& forced = {}, GenerationHooks hooks = {}) {
    auto inst = registry.create(spec);
    EXPECT_TRUE(inst.isOk()) << inst.error();
    GenerationSettings s;
    s.max_new_tokens = new_tokens;
    s.stop_at_eos = false;
    s.keep_step_logits = true;
    s.forced_tokens = forced;
    hooks.strategy = inst->strategy.get();
    hooks.trace = trace;
    auto r = model.generate(prompt, s, hooks);
    EXPECT_TRUE(r.isOk()) << r.error();
    return *r;
}

TEST(StrategyRegistryTest, ParsesSpecsAndListsValidChoicesOnErrors) {
    auto registry = staticRegistry();
    auto ok = registry->create("snapkv:budget=25%,window=16");
    ASSERT_TRUE(ok.isOk()) << ok.error();
    EXPECT_EQ(ok->canonical_spec, "snapkv:budget=25%,kernel=7,window=16");
    auto unknown = registry->create("snapkw");
    ASSERT_FALSE(unknown.isOk());
    EXPECT_NE(unknown.error().find("full, streaming, snapkv"), std::string::npos) << unknown.error();
    auto key = registry->create("streaming:sinks=4");
    ASSERT_FALSE(key.isOk());
    EXPECT_NE(key.error().find("budget"), std::string::npos) << key.error();
    EXPECT_NE(key.error().find("sink"), std::string::npos);
    auto range = registry->create("snapkv:window=0");
    ASSERT_FALSE(range.isOk());
    EXPECT_NE(range.error().find("out of range"), std::string::npos) << range.error();
    auto share = registry->create("streaming:budget=150%");
    EXPECT_FALSE(share.isOk());
    Budget b;
    b.is_share = true;
    b.share = 0.25;
    EXPECT_EQ(b.resolve(54), 14);  // ceil(13.5)
}

TEST(StrategyRegistryTest, LoadsBuiltPluginsAndRefusesBadOnes) {
    StrategyRegistry registry;
    registry.loadDefaultPlugins(ATTNLAB_TEST_EXE_DIR "/test-binary");
    std::set<std::string> names;
    for (const auto& info : registry.list()) names.insert(info.name);
    EXPECT_TRUE(names.count("streaming")) << "plugins not found next to the binaries";
    EXPECT_TRUE(names.count("snapkv"));
    for (const auto& info : registry.list())
        if (info.name == "snapkv") EXPECT_NE(info.origin.find("attnlab-strategy-snapkv.so"), std::string::npos);

    Status bad = registry.loadPlugin(ATTNLAB_BAD_ABI_PLUGIN);
    ASSERT_FALSE(bad.isOk());
    EXPECT_NE(bad.error().find("ABI tag"), std::string::npos) << bad.error();
    Status future = registry.loadPlugin(ATTNLAB_FUTURE_API_PLUGIN);
    ASSERT_FALSE(future.isOk());
    EXPECT_NE(future.error().find("API version"), std::string::npos) << future.error();
    Status missing = registry.loadPlugin("/nonexistent/attnlab-strategy-x.so");
    EXPECT_FALSE(missing.isOk());
    EXPECT_EQ(registry.find("badabi"), nullptr);
}

TEST(StreamingTest, KeepsExactlySinksAndTheWindowAndSlidesIt) {
    Fixture f = llama3();
    auto registry = staticRegistry();
    StrategyTrace trace;
    const int64_t new_tokens = 6, budget = 16, sink = 4, n = static_cast<int64_t>(f.prompt.size());
    GenerationResult r = runWith(*f.model, *registry, "streaming:budget=16,sink=4", f.prompt, new_tokens, &trace);
    const ModelConfig& c = f.model->config();
    ASSERT_EQ(static_cast<int64_t>(trace.decisions.size()), c.num_layers * c.num_kv_heads);
    std::vector<int64_t> expected{0, 1, 2, 3};
    for (int64_t p = n - (budget - sink); p < n; ++p) expected.push_back(p);
    for (const auto& d : trace.decisions) EXPECT_EQ(d.kept_positions, expected) << "layer " << d.layer;
    // Each decode step appends one entry and evicts the oldest non-sink one, per layer and head.
    ASSERT_EQ(static_cast<int64_t>(trace.evictions.size()), (new_tokens - 1) * c.num_layers * c.num_kv_heads);
    for (const auto& e : trace.evictions) {
        ASSERT_EQ(e.evicted_positions.size(), 1u);
        EXPECT_EQ(e.evicted_positions[0], n - (budget - sink) + e.step);
    }
    // Memory: budget + one spare slot per head, K and V, f32.
    EXPECT_EQ(r.kv_bytes, c.num_layers * c.num_kv_heads * (budget + 1) * c.head_dim * 4 * 2);
}

std::vector<int64_t> toVector(const at::Tensor& t);

// RoPE of one pre-rotation key at position p (half-split layout, as transformers' Llama), in doubles.
std::vector<double> ropeKey(const std::vector<double>& x, double p, const std::vector<double>& inv_freq) {
    const size_t half = x.size() / 2;
    std::vector<double> out(x.size());
    for (size_t i = 0; i < half; ++i) {
        const double c = std::cos(p * inv_freq[i]), s = std::sin(p * inv_freq[i]);
        out[i] = x[i] * c - x[i + half] * s;
        out[i + half] = x[i + half] * c + x[i] * s;
    }
    return out;
}

// rerotate=true: after prefill and after each slide of the window, every kept key equals its
// pre-rotation key rotated at its index in the cache (checked against RoPE computed from scratch),
// the cache still records original positions, and new tokens are placed right after the kept ones.
TEST(StrategyHelpersTest, RecordEvictionsReadsEveryRangeInOrderWithOneCopy) {
    LayerKv kv(3, 4, at::TensorOptions().dtype(at::kFloat));
    kv.append(at::randn({3, 10, 4}), at::randn({3, 10, 4}), at::arange(10, at::kLong) + 100);
    kv.keep({at::arange(10, at::kLong), at::arange(2, 8, at::kLong), at::tensor({0, 9}, at::kLong)});
    LayerContext ctx;
    ctx.layer = 2;
    ctx.is_prefill = false;
    ctx.step = 5;
    ctx.kv = &kv;
    StrategyTrace trace;
    recordEvictions(trace, ctx, {{2, 0, 1}, {0, 3, 6}, {1, 4, 4}, {1, 1, 3}});
    ASSERT_EQ(trace.evictions.size(), 4u);
    EXPECT_EQ(trace.evictions[0].kv_head, 2);
    EXPECT_EQ(trace.evictions[0].evicted_positions, (std::vector<int64_t>{100}));
    EXPECT_EQ(trace.evictions[1].evicted_positions, (std::vector<int64_t>{103, 104, 105}));
    EXPECT_TRUE(trace.evictions[2].evicted_positions.empty());  // an empty range still records the step
    EXPECT_EQ(trace.evictions[3].evicted_positions, (std::vector<int64_t>{103, 104}));
    for (const auto& e : trace.evictions) {
        EXPECT_EQ(e.step, 5);
        EXPECT_EQ(e.layer, 2);
    }
    // The one-head helper records the same event.
    StrategyTrace one;
    recordEviction(one, ctx, 0, 3, 6);
    ASSERT_EQ(one.evictions.size(), 1u);
    EXPECT_EQ(one.evictions[0].evicted_positions, trace.evictions[1].evicted_positions);
}

TEST(StreamingTest, RerotateMovesKeptKeysToContiguousPositionsWithinTheCache) {
    auto registry = staticRegistry();
    auto inst = registry->create("streaming:budget=6,sink=2,rerotate=true");
    ASSERT_TRUE(inst.isOk()) << inst.error();
    Strategy& strategy = *inst->strategy;
    const int64_t heads = 2, d = 8, n = 12;
    std::vector<double> inv_freq(d / 2);
    for (int64_t i = 0; i < d / 2; ++i) inv_freq[i] = 1.0 / std::pow(10000.0, 2.0 * double(i) / double(d));
    at::Tensor inv = at::tensor(std::vector<float>(inv_freq.begin(), inv_freq.end()));
    at::manual_seed(3);
    at::Tensor pre = at::randn({heads, n + 3, d}, at::kDouble);  // pre-rotation keys of every token
    auto pre_of = [&](int64_t h, int64_t token) {
        std::vector<double> x(d);
        for (int64_t i = 0; i < d; ++i) x[i] = pre[h][token][i].item<double>();
        return x;
    };
    auto keysAt = [&](const std::vector<int64_t>& tokens, const std::vector<int64_t>& rope_positions) {
        at::Tensor k = at::empty({heads, int64_t(tokens.size()), d}, at::kFloat);
        for (int64_t h = 0; h < heads; ++h)
            for (size_t t = 0; t < tokens.size(); ++t) {
                std::vector<double> r = ropeKey(pre_of(h, tokens[t]), double(rope_positions[t]), inv_freq);
                for (int64_t i = 0; i < d; ++i) k[h][int64_t(t)][i] = r[i];
            }
        return k;
    };
    LayerKv kv(heads, d, at::TensorOptions().dtype(at::kFloat));
    std::vector<int64_t> prompt(n);
    std::iota(prompt.begin(), prompt.end(), 0);
    at::Tensor k0 = keysAt(prompt, prompt);
    kv.append(k0, at::zeros_like(k0), at::arange(n, at::kLong));
    StrategyTrace trace;
    RunSetup setup;
    setup.prompt_tokens = n;
    setup.trace = &trace;
    ASSERT_TRUE(strategy.prepare(setup).isOk());
    LayerContext ctx;
    ctx.kv = &kv;
    ctx.trace = &trace;
    ctx.prompt_tokens = n;
    ctx.inv_freq = &inv;
    at::Tensor q_positions = at::arange(n, at::kLong);
    ctx.q_positions = &q_positions;
    ASSERT_TRUE(strategy.afterPrefillLayer(ctx).isOk());

    auto expectKeys = [&](const std::vector<int64_t>& tokens, const std::string& when) {
        std::vector<int64_t> slots(tokens.size());
        std::iota(slots.begin(), slots.end(), 0);
        at::Tensor want = keysAt(tokens, slots);
        for (int64_t h = 0; h < heads; ++h) {
            EXPECT_EQ(toVector(kv.headPositions(h)), tokens) << when;
            EXPECT_LT((kv.headKeys(h) - want[h]).abs().max().item<double>(), 1e-5) << when << " head " << h;
        }
    };
    expectKeys({0, 1, 8, 9, 10, 11}, "after prefill");
    EXPECT_EQ(strategy.ropePosition(n), 6);  // right after the 6 kept entries

    // Two decode steps: the token at position p is embedded at ropePosition(p), then the window slides.
    std::vector<int64_t> kept{0, 1, 8, 9, 10, 11};
    for (int64_t step = 0; step < 2; ++step) {
        const int64_t p = n + step;
        at::Tensor k1 = keysAt({p}, {strategy.ropePosition(p)});
        kv.append(k1, at::zeros_like(k1), at::full({1}, p, at::kLong));
        at::Tensor qp = at::full({1}, p, at::kLong);
        ctx.is_prefill = false;
        ctx.step = step;
        ctx.q_positions = &qp;
        ASSERT_TRUE(strategy.afterDecodeLayer(ctx).isOk());
        kept.erase(kept.begin() + 2);
        kept.push_back(p);
        expectKeys(kept, "after decode step " + std::to_string(step));
        EXPECT_EQ(strategy.ropePosition(p + 1), 6);
    }
}

// Independent reference of the SnapKV definition in issue 4, in plain loops and doubles.
std::vector<int64_t> referenceSnapKv(const at::Tensor& q, const at::Tensor& k, int64_t budget, int64_t window,
                                     int64_t kernel, double scale) {
    const int64_t g = q.size(0), t = k.size(0), d = k.size(1);
    auto qa = q.accessor<float, 3>();
    auto ka = k.accessor<float, 2>();
    std::vector<double> votes(static_cast<size_t>(t), 0.0);
    for (int64_t h = 0; h < g; ++h)
        for (int64_t i = t - window; i < t; ++i) {
            std::vector<double> s(static_cast<size_t>(i + 1));
            double m = -1e300;
            for (int64_t j = 0; j <= i; ++j) {
                double dot = 0;
                for (int64_t x = 0; x < d; ++x) dot += double(qa[h][i][x]) * double(ka[j][x]);
                s[j] = dot * scale;
                m = std::max(m, s[j]);
            }
            double z = 0;
            for (double& v : s) z += (v = std::exp(v - m));
            for (int64_t j = 0; j <= i; ++j) votes[j] += s[j] / z / double(g);
        }
    const int64_t prefix = t - window;
    std::vector<double> pooled(static_cast<size_t>(prefix), 0.0);
    for (int64_t j = 0; j < prefix; ++j) {
        for (int64_t m = j - kernel / 2; m <= j + kernel / 2; ++m)
            if (m >= 0 && m < prefix) pooled[j] += votes[m];
        pooled[j] /= double(kernel);
    }
    std::vector<int64_t> order(static_cast<size_t>(prefix));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return pooled[a] > pooled[b] + 1e-12; });
    std::vector<int64_t> kept(order.begin(), order.begin() + (budget - window));
    for (int64_t j = prefix; j < t; ++j) kept.push_back(j);
    std::sort(kept.begin(), kept.end());
    return kept;
}

std::vector<int64_t> toVector(const at::Tensor& t) {
    at::Tensor c = t.contiguous();
    return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

TEST(SnapKvTest, PicksTheSameIndicesAsAnIndependentReference) {
    at::manual_seed(7);
    for (int64_t trial = 0; trial < 6; ++trial) {
        const int64_t g = 1 + trial % 4, t = 60 + 13 * trial, d = 16, window = 4 + trial, kernel = 1 + 2 * (trial % 4);
        const int64_t budget = window + 10 + trial;
        at::Tensor q = at::randn({g, t, d}) * 0.7, k = at::randn({t, d});
        at::Tensor kept = plugins::snapKvSelect(q, k, at::arange(t, at::kLong), budget, window, kernel, 0.25, 0);
        EXPECT_EQ(toVector(kept), referenceSnapKv(q, k, budget, window, kernel, 0.25)) << "trial " << trial;
    }
}

TEST(SnapKvTest, TiesGoToTheLowerPosition) {
    // Zero queries attend uniformly: every interior prefix position gets the same pooled vote.
    const int64_t t = 40, window = 4, budget = 12;
    at::Tensor q = at::zeros({2, t, 8}), k = at::randn({t, 8});
    at::Tensor kept = plugins::snapKvSelect(q, k, at::arange(t, at::kLong), budget, window, 3, 1.0, 0);
    EXPECT_EQ(toVector(kept), referenceSnapKv(q, k, budget, window, 3, 1.0));
    // Positions 0 and 35 (pool edges) lose mass to zero padding; 1..8 win the ties.
    std::vector<int64_t> expected{1, 2, 3, 4, 5, 6, 7, 8, 36, 37, 38, 39};
    EXPECT_EQ(toVector(kept), expected);
}

TEST(SnapKvTest, ModelRunKeepsBudgetPerHeadAndCountsMemoryExactly) {
    Fixture f = llama3();
    auto registry = staticRegistry();
    StrategyTrace trace;
    const int64_t new_tokens = 5, n = static_cast<int64_t>(f.prompt.size());
    GenerationResult r = runWith(*f.model, *registry, "snapkv:budget=20,window=8,kernel=5", f.prompt, new_tokens, &trace);
    const ModelConfig& c = f.model->config();
    ASSERT_EQ(static_cast<int64_t>(trace.decisions.size()), c.num_layers * c.num_kv_heads);
    for (const auto& d : trace.decisions) {
        ASSERT_EQ(d.kept_positions.size(), 20u);
        for (int64_t p = n - 8; p < n; ++p)  // the observation window is always kept
            EXPECT_TRUE(std::count(d.kept_positions.begin(), d.kept_positions.end(), p));
        EXPECT_EQ(static_cast<int64_t>(d.scores.size()), n - 8);
    }
    EXPECT_EQ(r.kv_bytes, c.num_layers * c.num_kv_heads * (20 + new_tokens - 1) * c.head_dim * 4 * 2);
}

// lambda_prefill: over a 216-token prompt (4 blocks) with budget 16 and 4 sinks, query block b reads
// key blocks 0, b-1 and b only; the captured prefill probabilities are zero everywhere else, and the
// first token's logits differ from the same strategy's dense prefill.
TEST(StreamingTest, LambdaPrefillAttendsOnlyToSinkAndWindowBlocks) {
    Fixture f = llama3();
    auto registry = staticRegistry();
    std::vector<int32_t> prompt;
    for (int i = 0; i < 4; ++i) prompt.insert(prompt.end(), f.prompt.begin(), f.prompt.end());
    const int64_t n = static_cast<int64_t>(prompt.size());
    auto run = [&](const std::string& spec) {
        GenerationHooks hooks;
        hooks.capture.layers = {1};
        hooks.capture.heads = {2};
        return runWith(*f.model, *registry, spec, prompt, 2, nullptr, {}, hooks);
    };
    GenerationResult lambda = run("streaming:budget=16,sink=4,lambda_prefill=true");
    GenerationResult dense = run("streaming:budget=16,sink=4");
    ASSERT_EQ(lambda.captures.size(), 1u);
    const AttentionMatrix& m = lambda.captures[0];
    ASSERT_EQ(m.rows, n);
    ASSERT_EQ(m.cols, n);
    double outside = 0, worst_row = 0;
    for (int64_t i = 0; i < n; ++i) {
        double row = 0;
        for (int64_t j = 0; j < n; ++j) {
            const float p = m.probs[size_t(i * n + j)];
            const bool allowed = j <= i && (j / 64 == 0 || i / 64 - j / 64 <= 1);
            if (!allowed) outside += std::fabs(p);
            row += p;
        }
        worst_row = std::max(worst_row, std::fabs(row - 1.0));
    }
    EXPECT_EQ(outside, 0.0);
    EXPECT_LT(worst_row, 1e-4);
    // The dense prefill's capture does see the middle blocks.
    double middle = 0;
    for (int64_t j = 64; j < 128; ++j) middle += dense.captures[0].probs[size_t((n - 1) * n + j)];
    EXPECT_GT(middle, 0.0);
    double diff = 0;
    for (size_t i = 0; i < lambda.step_logits.size(); ++i)
        diff = std::max(diff, double(std::fabs(lambda.step_logits[i] - dense.step_logits[i])));
    EXPECT_GT(diff, 1e-4);
}

// A model with its own sliding window (Mistral's 16 tokens in the fixture) refuses lambda_prefill
// with a message naming the window, and the model stays usable.
TEST(StreamingTest, LambdaPrefillOnASlidingWindowModelIsRefusedClearly) {
    const std::string dir = test::parityDir() + "/mistral";
    auto golden = test::readJson(dir + "/golden.json");
    auto model = Model::open(dir);
    ASSERT_TRUE(model.isOk()) << model.error();
    const auto prompt = golden.at("prompts").at(1).at("ids").get<std::vector<int32_t>>();
    auto registry = staticRegistry();
    auto inst = registry->create("streaming:budget=8,lambda_prefill=true");
    ASSERT_TRUE(inst.isOk()) << inst.error();
    GenerationHooks hooks;
    hooks.strategy = inst->strategy.get();
    GenerationSettings s;
    s.max_new_tokens = 2;
    auto r = (*model)->generate(prompt, s, hooks);
    ASSERT_FALSE(r.isOk());
    EXPECT_NE(r.error().find("sliding window (16 tokens)"), std::string::npos) << r.error();
    EXPECT_TRUE((*model)->generate(prompt, s).isOk());
}

TEST(StrategyEquivalenceTest, BudgetCoveringThePromptGivesFullsTokensAndLogits) {
    Fixture f = llama3();
    auto registry = staticRegistry();
    const int64_t new_tokens = 8;
    GenerationResult full = runWith(*f.model, *registry, "full", f.prompt, new_tokens, nullptr);
    for (const std::string spec :
         {"streaming:budget=1000", "streaming:budget=1000,rerotate=true", "streaming:budget=1000,lambda_prefill=true",
          "snapkv:budget=100%", "snapkv:budget=54,window=8"}) {
        GenerationResult r = runWith(*f.model, *registry, spec, f.prompt, new_tokens, nullptr);
        EXPECT_EQ(r.output_ids, full.output_ids) << spec;
        ASSERT_EQ(r.step_logits.size(), full.step_logits.size());
        double diff = 0;
        for (size_t i = 0; i < r.step_logits.size(); ++i)
            diff = std::max(diff, double(std::fabs(r.step_logits[i] - full.step_logits[i])));
        EXPECT_LT(diff, 1e-5) << spec;
        EXPECT_EQ(r.kv_bytes, full.kv_bytes) << spec;
    }
}

}  // namespace

namespace {

// One shared prefill serves every cache strategy: same tokens, logits, memory and trace as a fresh run.
TEST(SharedPrefillTest, ReusedPrefillEqualsAFreshRunForEveryCacheStrategy) {
    Fixture f = llama3();
    auto registry = staticRegistry();
    auto snapshot = f.model->prefill(f.prompt);
    ASSERT_TRUE(snapshot.isOk()) << snapshot.error();
    // (lambda_prefill: the engine computes that strategy's own sparse prefill instead of reusing.)
    for (const std::string spec : {"full", "streaming:budget=16", "streaming:budget=16,lambda_prefill=true",
                                   "snapkv:budget=20,window=8"}) {
        StrategyTrace fresh_trace, reused_trace;
        GenerationResult fresh = runWith(*f.model, *registry, spec, f.prompt, 6, &fresh_trace);
        GenerationHooks shared;
        shared.reuse_prefill = snapshot->get();
        GenerationResult reused = runWith(*f.model, *registry, spec, f.prompt, 6, &reused_trace, {}, shared);
        EXPECT_EQ(reused.output_ids, fresh.output_ids) << spec;
        EXPECT_EQ(reused.kv_bytes, fresh.kv_bytes) << spec;
        ASSERT_EQ(reused.step_logits.size(), fresh.step_logits.size());
        double diff = 0;
        for (size_t i = 0; i < fresh.step_logits.size(); ++i)
            diff = std::max(diff, double(std::fabs(reused.step_logits[i] - fresh.step_logits[i])));
        EXPECT_LT(diff, 1e-5) << spec;
        ASSERT_EQ(reused_trace.decisions.size(), fresh_trace.decisions.size());
        for (size_t i = 0; i < fresh_trace.decisions.size(); ++i)
            EXPECT_EQ(reused_trace.decisions[i].kept_positions, fresh_trace.decisions[i].kept_positions);
    }
    // Another prompt is refused.
    GenerationHooks hooks;
    hooks.reuse_prefill = snapshot->get();
    std::vector<int32_t> other(f.prompt.begin(), f.prompt.end() - 1);
    EXPECT_FALSE(f.model->generate(other, GenerationSettings{}, hooks).isOk());
}

}  // namespace

namespace {

TEST(ComparisonTest, PerTokenKlAveragesToTheReportedKlAndFullIsZero) {
    Fixture f = llama3();
    auto registry = staticRegistry();
    RunInput input;
    input.prompt_ids = f.prompt;
    CompareOptions options;
    options.settings.max_new_tokens = 6;
    options.settings.stop_at_eos = false;
    options.list_full = true;
    auto cmp = runComparison(*f.model, *registry, input, {"streaming:budget=12", "snapkv:budget=20,window=8"}, options);
    ASSERT_TRUE(cmp.isOk()) << cmp.error();
    ASSERT_EQ(cmp->runs.size(), 3u);
    EXPECT_EQ(cmp->runs[0].spec, "full");
    for (const auto& run : cmp->runs) {
        ASSERT_EQ(run.kl_per_token.size(), cmp->runs[0].result.output_ids.size()) << run.spec;
        double mean = 0;
        for (double k : run.kl_per_token) mean += k / double(run.kl_per_token.size());
        EXPECT_NEAR(mean, run.metrics.at("kl_vs_full"), 1e-9) << run.spec;
    }
    EXPECT_GT(cmp->runs[1].metrics.at("kl_vs_full"), 0.0);  // 12 of 54 entries cannot be lossless
    EXPECT_LT(cmp->runs[1].metrics.at("kv_bytes_vs_full"), 0.5);
}

}  // namespace
