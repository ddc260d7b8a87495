// DuoAttention and RazorAttention: head roles from calibrations, full equivalence when every head is
// a retrieval head, the compensation token against an independent formula, calibration storage.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/engine/model.h"
#include "core/model/attention.h"
#include "core/strategy/calibration.h"
#include "core/strategy/registry.h"
#include "plugins/duo/duo.h"
#include "plugins/razor/razor.h"
#include "tests/engine/test_util.h"

using namespace attnlab;

namespace {

std::unique_ptr<StrategyRegistry> registry() {
    auto r = std::make_unique<StrategyRegistry>();
    EXPECT_TRUE(r->add(plugins::makeDuoFactory(), "static").isOk());
    EXPECT_TRUE(r->add(plugins::makeRazorFactory(), "static").isOk());
    return r;
}

HeadScores ramp(const std::string& kind, int64_t layers, int64_t heads) {
    HeadScores s;
    s.kind = kind;
    for (int64_t l = 0; l < layers; ++l) {
        s.scores.emplace_back();
        s.secondary.emplace_back();
        for (int64_t h = 0; h < heads; ++h) {
            s.scores.back().push_back(double(l * heads + h));       // later heads score higher
            s.secondary.back().push_back(double(-(l * heads + h)));  // echo prefers the first head
        }
    }
    if (kind == "duo") s.secondary.clear();
    return s;
}

struct RunOut {
    GenerationResult result;
    StrategyTrace trace;
};

RunOut run(Model& model, const StrategyRegistry& reg, const std::string& spec, const HeadScores* scores,
           const std::vector<int32_t>& prompt, int64_t new_tokens) {
    auto inst = reg.create(spec);
    EXPECT_TRUE(inst.isOk()) << inst.error();
    RunOut out;
    GenerationSettings s;
    s.max_new_tokens = new_tokens;
    s.stop_at_eos = false;
    s.keep_step_logits = true;
    GenerationHooks hooks;
    hooks.strategy = inst->strategy.get();
    hooks.calibration = scores;
    hooks.trace = &out.trace;
    auto r = model.generate(prompt, s, hooks);
    EXPECT_TRUE(r.isOk()) << r.error();
    out.result = *r;
    return out;
}

struct Fixture {
    std::shared_ptr<Model> model;
    std::vector<int32_t> prompt;
};

Fixture llama3() {
    const std::string dir = test::parityDir() + "/llama3";
    auto golden = test::readJson(dir + "/golden.json");
    auto model = Model::open(dir);
    EXPECT_TRUE(model.isOk());
    return {*model, golden.at("prompts").at(1).at("ids").get<std::vector<int32_t>>()};
}

double maxDiff(const std::vector<float>& a, const std::vector<float>& b) {
    double d = 0;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, double(std::fabs(a[i] - b[i])));
    return a.size() == b.size() ? d : 1e9;
}

TEST(HeadwiseStrategyTest, AllRetrievalHeadsGiveFullsTokensAndLogits) {
    Fixture f = llama3();
    auto reg = registry();
    const ModelConfig& c = f.model->config();
    HeadScores duo = ramp("duo", c.num_layers, c.num_kv_heads), razor = ramp("razor", c.num_layers, c.num_kv_heads);
    GenerationSettings s;
    s.max_new_tokens = 8;
    s.stop_at_eos = false;
    s.keep_step_logits = true;
    auto full = f.model->generate(f.prompt, s);
    ASSERT_TRUE(full.isOk());
    RunOut d = run(*f.model, *reg, "duo:retrieval_ratio=1,sink=2,recent=4", &duo, f.prompt, 8);
    EXPECT_EQ(d.result.output_ids, full->output_ids);
    EXPECT_LT(maxDiff(d.result.step_logits, full->step_logits), 1e-5);
    EXPECT_EQ(d.result.kv_bytes, full->kv_bytes);
    RunOut r = run(*f.model, *reg, "razor:retrieval_ratio=1,sink=2,recent=4", &razor, f.prompt, 8);
    EXPECT_EQ(r.result.output_ids, full->output_ids);
    EXPECT_LT(maxDiff(r.result.step_logits, full->step_logits), 1e-5);
}

TEST(HeadwiseStrategyTest, DuoStreamingHeadsKeepSinkAndRecentAndRetrievalHeadsEverything) {
    Fixture f = llama3();
    auto reg = registry();
    const ModelConfig& c = f.model->config();  // 2 layers x 2 KV heads: ratio 0.5 -> the 2 best
    HeadScores duo = ramp("duo", c.num_layers, c.num_kv_heads);
    const int64_t n = static_cast<int64_t>(f.prompt.size()), new_tokens = 5;
    RunOut d = run(*f.model, *reg, "duo:retrieval_ratio=0.5,sink=3,recent=10", &duo, f.prompt, new_tokens);
    ASSERT_EQ(d.trace.head_roles, (std::vector<std::vector<int>>{{0, 0}, {1, 1}}));
    for (const auto& dec : d.trace.decisions) {
        if (dec.layer == 0) {
            std::vector<int64_t> expected{0, 1, 2};
            for (int64_t p = n - 10; p < n; ++p) expected.push_back(p);
            EXPECT_EQ(dec.kept_positions, expected);
        } else {
            EXPECT_EQ(static_cast<int64_t>(dec.kept_positions.size()), n);
        }
    }
    // Memory: layer 0's heads hold 13 + 1 spare; layer 1's heads the prompt + the decode tokens.
    const int64_t entries = 2 * (13 + 1) + 2 * (n + new_tokens - 1);
    EXPECT_EQ(d.result.kv_bytes, entries * c.head_dim * 4 * 2);
    EXPECT_EQ(static_cast<int64_t>(d.trace.evictions.size()), (new_tokens - 1) * 2);  // layer 0's two heads
}

TEST(HeadwiseStrategyTest, RazorCompensationTokenMatchesTheFormula) {
    // One layer, 2 KV heads x 2 query heads, random K/V; head 0 compressed, head 1 protected.
    at::manual_seed(3);
    const int64_t t = 40, d = 8, sink = 3, recent = 6;
    ModelConfig config;
    config.num_layers = 1;
    config.num_heads = 4;
    config.num_kv_heads = 2;
    config.head_dim = d;
    at::Tensor k = at::randn({2, t, d}), v = at::randn({2, t, d}), pos = at::arange(t, at::kLong);
    LayerKv kv(2, d, at::TensorOptions().dtype(at::kFloat));
    kv.append(k, v, pos);
    HeadScores scores = ramp("razor", 1, 2);  // induction prefers head 1
    scores.secondary = {{-5.0, 1.0}};         // and so does echo: only head 1 is protected
    auto reg = registry();
    auto inst = reg->create("razor:retrieval_ratio=0.5,sink=3,recent=6");
    ASSERT_TRUE(inst.isOk());
    StrategyTrace trace;
    RunSetup setup;
    setup.config = &config;
    setup.prompt_tokens = t;
    setup.calibration = &scores;
    setup.trace = &trace;
    ASSERT_TRUE(inst->strategy->prepare(setup).isOk());
    ASSERT_EQ(trace.head_roles, (std::vector<std::vector<int>>{{0, 1}}));
    at::Tensor q = at::randn({4, 1, d});
    at::Tensor qpos = at::full({1}, t - 1, at::kLong);
    LayerContext ctx;
    ctx.layer = 0;
    ctx.q = &q;
    ctx.q_positions = &qpos;
    ctx.kv = &kv;
    ctx.config = &config;
    ctx.scale = 0.3;
    ctx.prompt_tokens = t;
    ctx.trace = &trace;
    ASSERT_TRUE(inst->strategy->afterPrefillLayer(ctx).isOk());
    EXPECT_EQ(kv.headLength(0), sink + 1 + recent);
    EXPECT_EQ(kv.headLength(1), t);

    AttentionParams p;
    p.scale = 0.3;
    at::Tensor out = attend(q, qpos, kv, p);
    // Independent formula for query heads 0 and 1 (KV head 0).
    const int64_t dropped = t - sink - recent;
    at::Tensor kd = k[0].to(at::kDouble), vd = v[0].to(at::kDouble);
    at::Tensor kbar = kd.narrow(0, sink, dropped).mean(0), vbar = vd.narrow(0, sink, dropped).mean(0);
    for (int64_t h = 0; h < 2; ++h) {
        at::Tensor qh = q[h][0].to(at::kDouble);
        at::Tensor num = at::zeros({d}, at::kDouble);
        double den = 0;
        for (int64_t j = 0; j < t; ++j) {
            if (j >= sink && j < t - recent) continue;
            const double e = std::exp((qh * kd[j]).sum().item<double>() * 0.3);
            num += e * vd[j];
            den += e;
        }
        const double ec = double(dropped) * std::exp((qh * kbar).sum().item<double>() * 0.3);
        num += ec * vbar;
        den += ec;
        at::Tensor expected = num / den;
        EXPECT_LT((out[h][0].to(at::kDouble) - expected).abs().max().item<double>(), 1e-5) << "query head " << h;
    }
}

TEST(CalibrationTest, RunsStoresAndReloadsKeyedByContent) {
    test::TempDir tmp;
    setenv("ATTNLAB_CACHE_DIR", tmp.path().c_str(), 1);
    Fixture f = llama3();
    const std::string dir = test::parityDir() + "/llama3";
    EXPECT_FALSE(loadCalibration(dir, "razor").isOk());
    CalibrationOptions options;
    options.razor_repeat_tokens = 64;
    std::vector<std::string> notes;
    options.on_note = [&](const std::string& n) { notes.push_back(n); };
    auto first = ensureCalibration(*f.model, "razor", options);
    ASSERT_TRUE(first.isOk()) << first.error();
    EXPECT_EQ(first->scores.size(), 2u);
    EXPECT_EQ(first->scores[0].size(), 2u);
    EXPECT_EQ(first->secondary.size(), 2u);
    for (const auto& layer : first->scores)
        for (double s : layer) EXPECT_TRUE(s >= 0 && s <= 1) << s;
    ASSERT_FALSE(notes.empty());
    EXPECT_NE(notes[0].find("running it first"), std::string::npos);
    auto again = loadCalibration(dir, "razor");
    ASSERT_TRUE(again.isOk()) << again.error();
    EXPECT_EQ(again->scores, first->scores);
    // The key is the content: the path lies under the cache folder, never in the model folder.
    auto path = calibrationPath(dir, "razor");
    ASSERT_TRUE(path.isOk());
    EXPECT_EQ(path->rfind(tmp.path(), 0), 0u);
    // A file from an older probe (no version) is not used: ensureCalibration runs the probe again and says why.
    std::ofstream(*path) << R"({"kind": "razor", "scores": [[0.5, 0.5], [0.5, 0.5]]})";
    auto old = loadCalibration(dir, "razor");
    ASSERT_FALSE(old.isOk());
    EXPECT_NE(old.error().find("older probe"), std::string::npos) << old.error();
    notes.clear();
    auto redone = ensureCalibration(*f.model, "razor", options);
    ASSERT_TRUE(redone.isOk()) << redone.error();
    EXPECT_EQ(redone->scores, first->scores);
    ASSERT_FALSE(notes.empty());
    EXPECT_NE(notes[0].find("older probe"), std::string::npos) << notes[0];
    // A damaged file is reported with its path.
    std::ofstream(*path) << "{not json";
    auto damaged = loadCalibration(dir, "razor");
    ASSERT_FALSE(damaged.isOk());
    EXPECT_NE(damaged.error().find("damaged"), std::string::npos);
    unsetenv("ATTNLAB_CACHE_DIR");
}

TEST(CalibrationTest, StrategiesWithoutTheirCalibrationRefuseToStart) {
    Fixture f = llama3();
    auto reg = registry();
    auto inst = reg->create("duo");
    ASSERT_TRUE(inst.isOk());
    GenerationHooks hooks;
    hooks.strategy = inst->strategy.get();
    auto r = f.model->generate(f.prompt, GenerationSettings{}, hooks);
    ASSERT_FALSE(r.isOk());
    EXPECT_NE(r.error().find("calibrat"), std::string::npos) << r.error();
}

}  // namespace
