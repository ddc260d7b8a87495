// Budget sweep specs and JSON (torch-free half of core/analysis/budget_sweep.h).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/analysis/budget_sweep.h"

namespace attnlab {
namespace {

TEST(BudgetSweepSpecs, AlternativesExpandInOrder) {
    auto specs = expandSweepSpecs({"snapkv:budget=10%|25%|50%,window=32", "streaming:budget=64"});
    ASSERT_TRUE(specs.isOk()) << specs.error();
    EXPECT_EQ(*specs, (std::vector<std::string>{"snapkv:budget=10%,window=32", "snapkv:budget=25%,window=32",
                                                "snapkv:budget=50%,window=32", "streaming:budget=64"}));
    auto product = expandSweepSpecs({"snapkv:budget=10%|20%,window=8|16"});
    ASSERT_TRUE(product.isOk());
    EXPECT_EQ(product->size(), 4u);
    EXPECT_EQ(expandSweepSpecs({"full"})->front(), "full");
}

TEST(BudgetSweepSpecs, BadListsSayWhatIsWrong) {
    auto empty = expandSweepSpecs({});
    ASSERT_FALSE(empty.isOk());
    EXPECT_NE(empty.error().find("no strategy"), std::string::npos) << empty.error();
    auto hole = expandSweepSpecs({"snapkv:budget=10%||50%"});
    ASSERT_FALSE(hole.isOk());
    EXPECT_NE(hole.error().find("empty value"), std::string::npos) << hole.error();
    EXPECT_FALSE(expandSweepSpecs({"  "}).isOk());
    EXPECT_FALSE(parseBudgetList("").isOk());
    EXPECT_FALSE(parseBudgetList("10%,,50%").isOk());
    EXPECT_EQ(*parseBudgetList("10%, 25% ,64"), (std::vector<std::string>{"10%", "25%", "64"}));
    EXPECT_EQ(*parseBudgetList("10%|25%"), (std::vector<std::string>{"10%", "25%"}));
}

TEST(BudgetSweepSpecs, ParamsAndSeeds) {
    EXPECT_EQ(withSweepSpecParam("snapkv:budget=25%,window=32", "budget", "10%"), "snapkv:budget=10%,window=32");
    EXPECT_EQ(withSweepSpecParam("streaming", "budget", "64"), "streaming:budget=64");
    EXPECT_EQ(sweepSpecParam("snapkv:budget=25%,window=32", "window"), "32");
    EXPECT_EQ(sweepSpecParam("snapkv:window=32", "budget"), "");
    EXPECT_EQ(sweepStrategyName("snapkv:budget=25%"), "snapkv");
    EXPECT_EQ(taskSpecWithSeed("needle:length=512,depth=0.5", 3), "needle:length=512,depth=0.5,seed=3");
    EXPECT_EQ(taskSpecWithSeed("needle:seed=7,length=512", 8), "needle:length=512,seed=8");
    EXPECT_EQ(taskSpecWithSeed("mqar", 2), "mqar:seed=2");
}

TEST(BudgetSweepJson, RoundTripKeepsMissingValuesMissing) {
    SweepResult r;
    r.model = "attnlab-demo";
    r.input = "needle:length=128";
    r.prompt_tokens = 130;
    r.trials = 2;
    r.source = "run";
    SweepPoint full = sweepPointFromMetrics("full", {{"kv_bytes", 4096}, {"accuracy", 1}});
    SweepPoint snap = sweepPointFromMetrics("snapkv:budget=25%,kernel=7,window=32",
                                            {{"kv_bytes", 1024}, {"kv_bytes_vs_full", 0.25}, {"kl_vs_full", 0.5}});
    r.points = {full, snap};
    EXPECT_EQ(snap.budget, "25%");
    EXPECT_TRUE(std::isnan(snap.accuracy));
    EXPECT_DOUBLE_EQ(r.fullKvBytes(), 4096);
    auto back = sweepFromJsonText(sweepJsonText(r), "mem.json");
    ASSERT_TRUE(back.isOk()) << back.error();
    ASSERT_EQ(back->points.size(), 2u);
    EXPECT_EQ(back->model, "attnlab-demo");
    EXPECT_EQ(back->prompt_tokens, 130);
    EXPECT_EQ(back->points[1].strategy, "snapkv");
    EXPECT_DOUBLE_EQ(back->points[1].kv_share, 0.25);
    EXPECT_DOUBLE_EQ(back->points[1].kl_vs_full, 0.5);
    EXPECT_TRUE(std::isnan(back->points[1].accuracy));
    EXPECT_DOUBLE_EQ(back->points[0].kl_vs_full, 0);
}

TEST(BudgetSweepJson, CommittedQualityBenchmarkLoadsOneLength) {
    const std::string path = std::string(ATTNLAB_SOURCE_DIR) + "/tests/bench/results/quality_bench-2026-11-28.json";
    auto r = loadSweepJson(path);  // the longest length by default
    ASSERT_TRUE(r.isOk()) << r.error();
    EXPECT_EQ(r->prompt_tokens, 4096);
    ASSERT_NE(r->full(), nullptr);
    EXPECT_EQ(&r->points.front(), r->full());
    EXPECT_DOUBLE_EQ(r->full()->kv_share, 1.0);
    EXPECT_GT(r->fullKvBytes(), 0);
    int snapkv = 0;
    for (const SweepPoint& p : r->points) {
        EXPECT_TRUE(std::isfinite(p.accuracy)) << p.spec;
        EXPECT_GT(p.kv_bytes, 0) << p.spec;
        EXPECT_NEAR(p.kv_bytes / r->fullKvBytes(), p.kv_share, 1e-6) << p.spec;
        if (p.strategy == "snapkv") ++snapkv;
    }
    EXPECT_EQ(snapkv, 3);
    auto shorter = loadSweepJson(path, 1024);
    ASSERT_TRUE(shorter.isOk());
    EXPECT_EQ(shorter->prompt_tokens, 1024);
    auto missing = loadSweepJson(path, 777);
    ASSERT_FALSE(missing.isOk());
    EXPECT_NE(missing.error().find("777"), std::string::npos) << missing.error();
    EXPECT_NE(missing.error().find("1024, 2048, 4096"), std::string::npos) << missing.error();
}

TEST(BudgetSweepJson, GzippedBenchmarkResultsLoad) {
    const std::string path =
        std::string(ATTNLAB_SOURCE_DIR) + "/tests/bench/results/quality_bench-2026-11-28-gpu20.json.gz";
    auto r = loadSweepJson(path, 2048);
    ASSERT_TRUE(r.isOk()) << r.error();
    EXPECT_EQ(r->prompt_tokens, 2048);
    ASSERT_NE(r->full(), nullptr);
    EXPECT_GT(r->points.size(), 4u);
    for (const SweepPoint& p : r->points) EXPECT_TRUE(std::isfinite(p.accuracy)) << p.spec;
}

TEST(BudgetSweepJson, BadFilesNameTheFileAndTheProblem) {
    auto not_json = sweepFromJsonText("{oops", "x.json");
    ASSERT_FALSE(not_json.isOk());
    EXPECT_EQ(not_json.error().rfind("x.json: not JSON", 0), 0u) << not_json.error();
    auto other = sweepFromJsonText("{\"a\": 1}", "y.json");
    ASSERT_FALSE(other.isOk());
    EXPECT_NE(other.error().find("y.json"), std::string::npos);
    auto bad_point = sweepFromJsonText("{\"points\": [{\"kv_bytes\": 3}]}", "z.json");
    ASSERT_FALSE(bad_point.isOk());
    EXPECT_NE(bad_point.error().find("spec"), std::string::npos) << bad_point.error();
    auto missing = loadSweepJson("/nonexistent/sweep.json");
    ASSERT_FALSE(missing.isOk());
    EXPECT_NE(missing.error().find("/nonexistent/sweep.json"), std::string::npos);
}

}  // namespace
}  // namespace attnlab
