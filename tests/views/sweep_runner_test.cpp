// Budget sweep runner on the bundled demo model (short needle prompts, CPU) and `attnlab-cli sweep`'s
// handling of bad input. Label fast.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <set>

#include "core/analysis/budget_sweep.h"
#include "core/engine/compare.h"
#include "core/engine/model.h"
#include "core/strategy/registry.h"
#include "core/tasks/tasks.h"
#include "core/util/files.h"
#include "tests/engine/test_util.h"

namespace attnlab {
namespace {

std::string demoDir() { return test::sourceDir() + "/assets/models/attnlab-demo"; }

struct Demo {
    std::shared_ptr<Model> model;
    std::unique_ptr<StrategyRegistry> registry;
    std::string tasks;
};

Demo& demo() {
    static Demo d = [] {
        Demo out;
        auto m = Model::open(demoDir());
        EXPECT_TRUE(m.isOk()) << m.error();
        if (m) out.model = *m;
        out.registry = std::make_unique<StrategyRegistry>();
        out.registry->loadDefaultPlugins(executablePath());
        out.tasks = findTaskFolder(executablePath());
        return out;
    }();
    return d;
}

RunInput needle(int64_t length, int64_t seed) {
    Demo& d = demo();
    const int64_t bos = d.model->config().bos_token_ids.empty() ? -1 : d.model->config().bos_token_ids.front();
    auto task = makeTask("needle:length=" + std::to_string(length) + ",depth=0.5,seed=" + std::to_string(seed), d.tasks,
                         d.model->tokenizer(), bos);
    EXPECT_TRUE(task.isOk()) << task.error();
    RunInput in;
    in.has_task = true;
    in.task = *task;
    in.prompt_ids = task->prompt_ids;
    return in;
}

const SweepPoint* find(const SweepResult& r, const std::string& spec) {
    for (const SweepPoint& p : r.points)
        if (p.spec == spec) return &p;
    return nullptr;
}

TEST(BudgetSweepRunner, KvBytesGrowWithTheBudgetAndAFullBudgetEqualsFull) {
    Demo& d = demo();
    ASSERT_TRUE(d.model);
    const RunInput input = needle(128, 0);
    const int64_t prompt = static_cast<int64_t>(input.prompt_ids.size());
    auto specs = expandSweepSpecs({"streaming:budget=16|32|64", "snapkv:budget=16|64|100%", "full"});
    ASSERT_TRUE(specs.isOk());
    std::vector<SweepProgress> seen;
    SweepOptions options;
    options.task_folder = d.tasks;
    options.on_progress = [&](const SweepProgress& p) { seen.push_back(p); };
    auto r = runBudgetSweep(*d.model, *d.registry, {input}, *specs, options);
    ASSERT_TRUE(r.isOk()) << r.error();
    ASSERT_EQ(r->points.size(), 7u);  // full once (the listed `full` is the reference), then six specs
    const SweepPoint& full = r->points.front();
    EXPECT_TRUE(full.isFull());
    EXPECT_DOUBLE_EQ(full.kv_share, 1.0);
    EXPECT_EQ(r->prompt_tokens, prompt);
    EXPECT_EQ(r->trials, 1);
    EXPECT_EQ(r->model, "attnlab-demo");
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back().runs_done, seen.back().runs_total);
    EXPECT_EQ(seen.back().runs_total, 1 + 2 * 6);

    for (const std::string name : {"streaming", "snapkv"}) {
        double last = 0;
        for (const SweepPoint& p : r->points) {
            if (p.strategy != name) continue;
            EXPECT_GT(p.kv_bytes, last) << p.spec << ": a larger budget keeps more";
            EXPECT_NEAR(p.kv_share, p.kv_bytes / full.kv_bytes, 1e-12) << p.spec;
            EXPECT_TRUE(std::isfinite(p.kl_vs_full) && p.kl_vs_full >= 0) << p.spec;
            EXPECT_TRUE(p.top1_vs_full >= 0 && p.top1_vs_full <= 1) << p.spec;
            EXPECT_TRUE(p.accuracy == 0 || p.accuracy == 1) << p.spec;
            EXPECT_GT(p.decode_ms_per_token, 0) << p.spec;
            last = p.kv_bytes;
        }
    }
    const SweepPoint* s16 = find(*r, "streaming:budget=16,sink=4");
    ASSERT_NE(s16, nullptr);
    EXPECT_LT(s16->kv_share, 0.5);
    // A budget of the whole prompt keeps everything: the same distributions as full.
    const SweepPoint* all = find(*r, "snapkv:budget=100%,kernel=7,window=32");
    ASSERT_NE(all, nullptr);
    EXPECT_LT(all->kl_vs_full, 1e-6);
    EXPECT_DOUBLE_EQ(all->top1_vs_full, 1.0);
    EXPECT_EQ(all->accuracy, full.accuracy);
    EXPECT_GT(all->kv_share, 0.9);
    EXPECT_LE(all->kv_share, 1.0 + 1e-9);
}

TEST(BudgetSweepRunner, AgreesWithTheComparisonRunnerAndAveragesTrials) {
    Demo& d = demo();
    ASSERT_TRUE(d.model);
    const std::vector<RunInput> inputs{needle(96, 1), needle(96, 2)};
    const std::string spec = "streaming:budget=24,sink=4";
    SweepOptions options;
    options.task_folder = d.tasks;
    auto r = runBudgetSweep(*d.model, *d.registry, inputs, {spec}, options);
    ASSERT_TRUE(r.isOk()) << r.error();
    ASSERT_EQ(r->points.size(), 2u);
    EXPECT_EQ(r->trials, 2);
    double kv = 0, kl = 0, top1 = 0, accuracy = 0, full_kv = 0;
    for (const RunInput& in : inputs) {  // the path `attnlab-cli run` takes: fresh prefills
        CompareOptions c;
        c.list_full = true;
        auto cmp = runComparison(*d.model, *d.registry, in, {spec}, c);
        ASSERT_TRUE(cmp.isOk()) << cmp.error();
        full_kv += cmp->runs[0].metrics.at("kv_bytes") / 2;
        kv += cmp->runs[1].metrics.at("kv_bytes") / 2;
        kl += cmp->runs[1].metrics.at("kl_vs_full") / 2;
        top1 += cmp->runs[1].metrics.at("top1_vs_full") / 2;
        accuracy += cmp->runs[1].metrics.at("accuracy") / 2;
    }
    const SweepPoint& p = r->points[1];
    EXPECT_EQ(p.spec, spec);
    EXPECT_EQ(p.trials, 2);
    EXPECT_DOUBLE_EQ(r->points[0].kv_bytes, full_kv);
    EXPECT_DOUBLE_EQ(p.kv_bytes, kv);
    EXPECT_NEAR(p.kl_vs_full, kl, 1e-5);
    EXPECT_DOUBLE_EQ(p.top1_vs_full, top1);
    EXPECT_DOUBLE_EQ(p.accuracy, accuracy);
}

TEST(BudgetSweepRunner, BadSpecsAndCancelFailWithAMessage) {
    Demo& d = demo();
    ASSERT_TRUE(d.model);
    const RunInput input = needle(64, 0);
    auto unknown = runBudgetSweep(*d.model, *d.registry, {input}, {"nosuch:budget=10%"}, {});
    ASSERT_FALSE(unknown.isOk());
    EXPECT_NE(unknown.error().find("nosuch"), std::string::npos) << unknown.error();
    EXPECT_NE(unknown.error().find("snapkv"), std::string::npos) << "lists the valid choices: " << unknown.error();
    auto none = runBudgetSweep(*d.model, *d.registry, {input}, {}, {});
    ASSERT_FALSE(none.isOk());
    EXPECT_NE(none.error().find("no strategy"), std::string::npos);
    std::atomic<bool> cancel{true};
    SweepOptions options;
    options.cancel = &cancel;
    auto cancelled = runBudgetSweep(*d.model, *d.registry, {input}, {"streaming:budget=16"}, options);
    ASSERT_FALSE(cancelled.isOk());
    EXPECT_NE(cancelled.error().find("cancel"), std::string::npos) << cancelled.error();
}

// ---- attnlab-cli sweep ------------------------------------------------------------------------------

TEST(SweepCli, BadInputGetsAClearError) {
    using test::runCli;
    auto no_strategy = runCli({"sweep", "--model", demoDir(), "--task", "needle:length=64"});
    EXPECT_EQ(no_strategy.exit_code, 2);
    EXPECT_NE(no_strategy.err.find("give at least one --strategy"), std::string::npos) << no_strategy.err;
    auto unknown = runCli({"sweep", "--model", demoDir(), "--task", "needle:length=64", "--strategy", "nosuch"});
    EXPECT_EQ(unknown.exit_code, 2);
    EXPECT_NE(unknown.err.find("nosuch"), std::string::npos) << unknown.err;
    EXPECT_NE(unknown.err.find("streaming"), std::string::npos) << unknown.err;
    auto hole = runCli({"sweep", "--model", demoDir(), "--task", "needle:length=64", "--strategy", "snapkv:budget=10%||50%"});
    EXPECT_EQ(hole.exit_code, 2);
    EXPECT_NE(hole.err.find("empty value"), std::string::npos) << hole.err;
    auto budgets = runCli({"sweep", "--model", demoDir(), "--task", "needle:length=64", "--strategy", "snapkv",
                           "--budgets", "10%,,50%"});
    EXPECT_EQ(budgets.exit_code, 2);
    EXPECT_NE(budgets.err.find("--budgets"), std::string::npos) << budgets.err;
    auto bad_budget = runCli({"sweep", "--model", demoDir(), "--task", "needle:length=64", "--strategy", "snapkv",
                              "--budgets", "10%,-3"});
    EXPECT_EQ(bad_budget.exit_code, 2);
    EXPECT_NE(bad_budget.err.find("budget"), std::string::npos) << bad_budget.err;
    auto missing = runCli({"sweep", "--from-quality-json", "/nonexistent/q.json"});
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_NE(missing.err.find("/nonexistent/q.json"), std::string::npos) << missing.err;
    auto both = runCli({"sweep", "--from-quality-json", "q.json", "--strategy", "snapkv"});
    EXPECT_EQ(both.exit_code, 2);
    EXPECT_NE(both.err.find("--from-quality-json"), std::string::npos) << both.err;
    auto no_input = runCli({"sweep", "--model", demoDir(), "--strategy", "snapkv"});
    EXPECT_EQ(no_input.exit_code, 2);
    EXPECT_NE(no_input.err.find("--task"), std::string::npos) << no_input.err;
}

TEST(SweepCli, RunsASmallSweepAsJson) {
    auto r = test::runCli({"sweep", "--model", demoDir(), "--task", "needle:length=64,depth=0.5", "--strategy",
                           "streaming:budget=16|48", "--json", "--quiet"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["points"].size(), 3u);
    EXPECT_EQ(j["points"][0]["spec"], "full");
    EXPECT_EQ(j["points"][1]["spec"], "streaming:budget=16,sink=4");
    EXPECT_LT(j["points"][1]["kv_bytes"].get<double>(), j["points"][2]["kv_bytes"].get<double>());
    EXPECT_TRUE(j["points"][1]["kl_vs_full"].is_number());
    auto back = sweepFromJsonText(r.out, "stdout");
    ASSERT_TRUE(back.isOk()) << back.error();
    EXPECT_EQ(back->points.size(), 3u);
}

#ifdef ATTNLAB_CLI_HAS_FIGURE
TEST(SweepCli, DrawsTheCommittedBenchmarkAsSvg) {
    test::TempDir tmp;
    const std::string svg = tmp.path() + "/quality.svg";
    auto r = test::runCli({"sweep", "--from-quality-json",
                           test::sourceDir() + "/tests/bench/results/quality_bench-2026-11-28.json", "--length", "2048",
                           "--figure", svg});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string text = test::readFile(svg);
    EXPECT_NE(text.find("<svg"), std::string::npos);
    EXPECT_NE(text.find("snapkv"), std::string::npos);
    EXPECT_NE(text.find("KV cache kept"), std::string::npos);
    auto bad = test::runCli({"sweep", "--from-quality-json",
                             test::sourceDir() + "/tests/bench/results/quality_bench-2026-11-28.json", "--figure",
                             tmp.path() + "/q.gif"});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("q.gif"), std::string::npos) << bad.err;
}
#endif

}  // namespace
}  // namespace attnlab
