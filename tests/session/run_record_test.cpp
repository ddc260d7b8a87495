// Run records (core/session/run_record): the layout attnlab-cli and the app save, and reading a saved
// comparison back for the app's session browser without recomputing anything.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/session/run_record.h"
#include "tests/session/session_test_util.h"

namespace attnlab {
namespace {

using Json = nlohmann::json;

AttentionMatrix matrix(int64_t layer, int64_t head, int64_t n, float salt) {
    AttentionMatrix m;
    m.layer = layer;
    m.head = head;
    m.rows = m.cols = n;
    for (int64_t i = 0; i < n; ++i) {
        m.query_positions.push_back(i);
        m.key_positions.push_back(i);
        for (int64_t j = 0; j < n; ++j) m.probs.push_back(j <= i ? (salt + float(j)) / float((i + 1) * 10) : 0.0f);
    }
    return m;
}

struct Fixture {
    RecordContext context;
    RunInput input;
    std::vector<StrategyRun> runs;
    std::vector<RunViewData> views;
};

Fixture makeFixture(bool streaming_has_own_captures = false) {
    Fixture f;
    f.context.model.dir = "/models/tiny";
    f.context.model.architecture = "LlamaForCausalLM";
    f.context.model.layers = 2;
    f.context.model.heads = 4;
    f.context.model.kv_heads = 2;
    f.context.model.device = "cpu";
    f.context.model.dtype = "f32";
    f.context.content_hash = "fnv1a64:0123";
    f.context.attnlab_version = "0.1.0";
    f.context.libtorch_version = "1.13.1";
    f.context.started_unix_ms = 1764300000000;
    f.context.ended_unix_ms = 1764300001234;
    f.context.strategy_origins = {{"full", "built-in"}, {"streaming", "/lib/libattnlab_streaming.so"}};
    f.input.has_task = true;
    f.input.task.spec = "needle:depth=0.5,length=6,seed=0";
    f.input.task.answer = " 42";
    f.input.task.numbers = {{"length", 6}};
    f.input.prompt_ids = {1, 5, 6, 7, 8, 9};

    StrategyRun full;
    full.spec = "full";
    full.result.output_ids = {11, 12};
    full.result.output_text = " 42";
    full.result.stop_reason = "max_new_tokens";
    full.result.kv_bytes = 4096;
    full.result.prefill_ms = 3.5;
    full.metrics = {{"accuracy", 1}, {"kl_vs_full", 0}, {"kv_bytes", 4096}};
    full.kl_per_token = {0, 0};
    StrategyRun streaming;
    streaming.spec = "streaming:budget=4,sink=1";
    streaming.result.output_ids = {11, 13};
    streaming.result.output_text = " 43";
    streaming.result.stop_reason = "max_new_tokens";
    streaming.result.kv_bytes = 2048;
    streaming.result.decode_ms_per_token = 1.5;
    streaming.metrics = {{"accuracy", 0}, {"kl_vs_full", 0.25}, {"kv_bytes", 2048}};
    streaming.kl_per_token = {0.125, 0.375};
    for (int64_t l = 0; l < 2; ++l)
        for (int64_t h = 0; h < 2; ++h) {
            HeadDecision d;
            d.layer = l;
            d.kv_head = h;
            d.stage = "compress_prefill";
            d.budget = 4;
            d.kept_positions = {0, 3, 4, 5};
            streaming.trace.decisions.push_back(d);
        }
    streaming.trace.evictions.push_back(EvictionEvent{0, 1, 1, {3}});
    streaming.trace.head_roles = {{0, 1}, {1, 0}};
    f.runs = {full, streaming};

    RunViewData view;
    view.prompt_tokens = {"<s>", "a", "b", "c", "d", "?"};
    view.output_tokens = {" 4", "2"};
    view.reference_tokens = {" 4", "2"};
    for (int64_t l = 0; l < 2; ++l)
        for (int64_t h = 0; h < 4; ++h) view.captures.push_back(matrix(l, h, 6, float(l * 4 + h)));
    RunViewData view2 = view;
    view2.output_tokens = {" 4", "3"};
    if (streaming_has_own_captures) view2.captures[3].probs[7] = 0.5f;
    f.views = {view, view2};
    return f;
}

const BlobRecord* blob(const RunRecord& r, const std::string& name) {
    for (const auto& b : r.blobs)
        if (b.name == name) return &b;
    return nullptr;
}

TEST(RunRecord, ComparisonLayoutMatchesTheCliJsonAndGroupsTheColumns) {
    Fixture f = makeFixture();
    const auto records = comparisonRecords(f.context, f.input, f.runs, {"a note"}, 32);
    ASSERT_EQ(records.size(), 2u);
    const Json spec0 = Json::parse(records[0].spec_json);
    const Json spec1 = Json::parse(records[1].spec_json);
    // The run's `run --json` entry plus input, model, settings, notes and the comparison key.
    EXPECT_EQ(spec1["strategy"], "streaming:budget=4,sink=1");
    EXPECT_EQ(spec1["kl_per_token"], Json({0.125, 0.375}));
    EXPECT_EQ(spec1["trace"]["decisions"].size(), 4u);
    EXPECT_EQ(spec1["trace"]["evictions"][0]["evicted_positions"], Json({3}));
    EXPECT_EQ(spec1["head_roles"], Json({{0, 1}, {1, 0}}));
    EXPECT_EQ(spec1["input"]["task"], "needle:depth=0.5,length=6,seed=0");
    EXPECT_EQ(spec1["input"]["length"], 6);
    EXPECT_EQ(spec1["model"]["kv_heads"], 2);
    EXPECT_EQ(spec1["settings"]["max_new_tokens"], 32);
    EXPECT_EQ(spec1["notes"], Json({"a note"}));
    EXPECT_EQ(spec0["comparison"]["key"], spec1["comparison"]["key"]);
    EXPECT_EQ(spec1["comparison"]["column"], 1);
    EXPECT_EQ(spec1["comparison"]["columns"], 2);
    EXPECT_EQ(Json::parse(records[1].versions_json)["strategy_origin"], "/lib/libattnlab_streaming.so");
    EXPECT_EQ(records[1].model.content_hash, "fnv1a64:0123");
    EXPECT_EQ(records[1].device, "cpu (f32)");
    EXPECT_EQ(records[1].prompt_ids, f.input.prompt_ids);
    // Without view data: exactly the kept-position blobs, as attnlab-cli has always saved them.
    EXPECT_TRUE(records[0].blobs.empty());
    ASSERT_EQ(records[1].blobs.size(), 4u);
    EXPECT_EQ(records[1].blobs[3].name, "kept_l1_h1");
    EXPECT_EQ(records[1].blobs[3].dtype, "I64");
    EXPECT_EQ(records[1].blobs[3].shape, std::vector<int64_t>{4});
    // Two comparisons get different keys.
    const auto again = comparisonRecords(f.context, f.input, f.runs, {}, 32);
    EXPECT_NE(Json::parse(again[0].spec_json)["comparison"]["key"], spec0["comparison"]["key"]);
}

TEST(RunRecord, EqualCapturesAreStoredOncePerComparison) {
    Fixture f = makeFixture();
    const auto records = comparisonRecords(f.context, f.input, f.runs, {}, 32, &f.views);
    ASSERT_NE(blob(records[0], "attn_l1_h3"), nullptr);
    EXPECT_EQ(blob(records[0], "attn_l1_h3")->bytes.size(), 6u * 6u * sizeof(float));
    EXPECT_EQ(blob(records[1], "attn_l1_h3"), nullptr);
    ASSERT_NE(blob(records[1], "view_captures"), nullptr);
    const auto& b = blob(records[1], "view_captures")->bytes;
    EXPECT_EQ(Json::parse(b.begin(), b.end())["shared_with_column"], 0);
    // Different matrices are kept per column.
    Fixture g = makeFixture(true);
    const auto own = comparisonRecords(g.context, g.input, g.runs, {}, 32, &g.views);
    EXPECT_NE(blob(own[1], "attn_l0_h3"), nullptr);
}

TEST(RunRecord, SavedComparisonReopensWithoutRecomputing) {
    test::TempDir dir;
    const std::string path = dir.file("s.attnlab");
    Fixture f = makeFixture(true);
    auto records = comparisonRecords(f.context, f.input, f.runs, {}, 32, &f.views);
    // Another comparison saved in between must not confuse the grouping.
    Fixture other = makeFixture();
    auto first = saveRunsToSession(path, {records[0]});
    ASSERT_TRUE(first) << first.error();
    auto middle = saveRunsToSession(path, comparisonRecords(other.context, other.input, other.runs, {}, 32));
    ASSERT_TRUE(middle) << middle.error();
    auto second = saveRunsToSession(path, {records[1]});
    ASSERT_TRUE(second) << second.error();

    auto store = SessionStore::open(path);
    ASSERT_TRUE(store) << store.error();
    auto entries = listSessionEntries(*store);
    ASSERT_TRUE(entries) << entries.error();
    ASSERT_EQ(entries->size(), 2u);
    const SessionEntry& e = (*entries)[0];
    EXPECT_EQ(e.run_ids, (std::vector<int64_t>{(*first)[0], (*second)[0]}));
    EXPECT_EQ(e.strategies, (std::vector<std::string>{"full", "streaming:budget=4,sink=1"}));
    EXPECT_EQ(e.model, "tiny");
    EXPECT_EQ(e.input, "needle:depth=0.5,length=6,seed=0");
    EXPECT_TRUE(e.has_view_data);
    EXPECT_FALSE((*entries)[1].has_view_data);
    EXPECT_EQ(e.metrics[1].at("kl_vs_full"), 0.25);

    for (int64_t id : e.run_ids) {  // any column's id opens the whole comparison
        auto saved = loadSavedComparison(*store, id);
        ASSERT_TRUE(saved) << saved.error();
        EXPECT_EQ(saved->model_name, "tiny");
        EXPECT_EQ(saved->layers, 2);
        EXPECT_EQ(saved->heads, 4);
        EXPECT_EQ(saved->kv_heads, 2);
        EXPECT_EQ(saved->task_spec, f.input.task.spec);
        EXPECT_EQ(saved->answer, " 42");
        ASSERT_EQ(saved->columns.size(), 2u);
        const SavedColumn& c = saved->columns[1];
        EXPECT_EQ(c.spec, "streaming:budget=4,sink=1");
        EXPECT_EQ(c.output_text, " 43");
        EXPECT_EQ(c.kl_per_token, f.runs[1].kl_per_token);
        EXPECT_EQ(c.metrics, f.runs[1].metrics);
        EXPECT_EQ(c.kv_bytes, 2048);
        EXPECT_EQ(c.decode_tokens, 2);
        EXPECT_EQ(c.stop_reason, "max_new_tokens");
        ASSERT_EQ(c.trace.decisions.size(), 4u);
        EXPECT_EQ(c.trace.decisions[2].layer, 1);
        EXPECT_EQ(c.trace.decisions[2].kept_positions, (std::vector<int64_t>{0, 3, 4, 5}));
        EXPECT_EQ(c.trace.evictions.size(), 1u);
        EXPECT_EQ(c.trace.head_roles, f.runs[1].trace.head_roles);
        EXPECT_TRUE(c.has_view_data);
        EXPECT_EQ(c.view.prompt_tokens, f.views[1].prompt_tokens);
        EXPECT_EQ(c.view.output_tokens, f.views[1].output_tokens);
        EXPECT_EQ(c.view.reference_tokens, f.views[1].reference_tokens);
        for (size_t col = 0; col < 2; ++col) {
            const auto& got = saved->columns[col].view.captures;
            ASSERT_EQ(got.size(), f.views[col].captures.size());
            for (size_t i = 0; i < got.size(); ++i) {
                EXPECT_EQ(got[i].layer, f.views[col].captures[i].layer);
                EXPECT_EQ(got[i].head, f.views[col].captures[i].head);
                EXPECT_EQ(got[i].probs, f.views[col].captures[i].probs);  // bit-exact
                EXPECT_EQ(got[i].key_positions, f.views[col].captures[i].key_positions);
            }
        }
    }
}

TEST(RunRecord, SharedCapturesReopenInEveryColumn) {
    test::TempDir dir;
    const std::string path = dir.file("s.attnlab");
    Fixture f = makeFixture();
    auto ids = saveRunsToSession(path, comparisonRecords(f.context, f.input, f.runs, {}, 32, &f.views));
    ASSERT_TRUE(ids) << ids.error();
    auto store = SessionStore::open(path);
    ASSERT_TRUE(store);
    auto saved = loadSavedComparison(*store, (*ids)[1]);
    ASSERT_TRUE(saved) << saved.error();
    ASSERT_EQ(saved->columns[1].view.captures.size(), 8u);
    EXPECT_EQ(saved->columns[1].view.captures[5].probs, f.views[0].captures[5].probs);
}

TEST(RunRecord, LaterComparisonsCanPointAtAnEarlierRunsMatrices) {
    test::TempDir dir;
    const std::string path = dir.file("s.attnlab");
    Fixture f = makeFixture();
    const auto first = comparisonRecords(f.context, f.input, f.runs, {}, 32, &f.views);
    auto second = comparisonRecords(f.context, f.input, f.runs, {}, 32, &f.views);
    EXPECT_NE(captureFingerprint(first[0]), 0u);
    EXPECT_EQ(captureFingerprint(first[0]), captureFingerprint(second[0]));
    EXPECT_EQ(captureFingerprint(first[1]), 0u);  // shares column 0's
    EXPECT_TRUE(sameStoredCaptures(first[0], second[0]));
    Fixture g = makeFixture(true);
    g.views[0].captures[2].probs[0] = 0.75f;
    const auto different = comparisonRecords(g.context, g.input, g.runs, {}, 32, &g.views);
    EXPECT_NE(captureFingerprint(different[0]), captureFingerprint(first[0]));
    EXPECT_FALSE(sameStoredCaptures(different[0], first[0]));

    auto ids = saveRunsToSession(path, first);
    ASSERT_TRUE(ids) << ids.error();
    shareCapturesWithRun(second[0], (*ids)[0]);
    EXPECT_EQ(blob(second[0], "attn_l0_h0"), nullptr);
    auto ids2 = saveRunsToSession(path, second);
    ASSERT_TRUE(ids2) << ids2.error();
    auto store = SessionStore::open(path);
    ASSERT_TRUE(store);
    auto saved = loadSavedComparison(*store, (*ids2)[1]);
    ASSERT_TRUE(saved) << saved.error();
    ASSERT_EQ(saved->columns.size(), 2u);
    for (const SavedColumn& c : saved->columns) {
        ASSERT_EQ(c.view.captures.size(), f.views[0].captures.size());
        EXPECT_EQ(c.view.captures[7].probs, f.views[0].captures[7].probs);
    }
    // The owner gone (deleted by hand): a clear error naming both runs.
    ASSERT_TRUE(store->deleteRun((*ids)[0]).isOk());
    auto orphan = loadSavedComparison(*store, (*ids2)[0]);
    ASSERT_FALSE(orphan);
    EXPECT_NE(orphan.error().find("run " + std::to_string((*ids)[0])), std::string::npos) << orphan.error();
}

TEST(RunRecord, AColumnSavedTwiceReopensOnce) {
    test::TempDir dir;
    const std::string path = dir.file("s.attnlab");
    Fixture f = makeFixture();
    const auto records = comparisonRecords(f.context, f.input, f.runs, {}, 32, &f.views);
    auto ids = saveRunsToSession(path, records);
    ASSERT_TRUE(ids) << ids.error();
    auto again = saveRunsToSession(path, {records[1]});  // a retried save of column 1
    ASSERT_TRUE(again) << again.error();
    auto store = SessionStore::open(path);
    for (int64_t id : {(*ids)[0], (*ids)[1], (*again)[0]}) {
        auto saved = loadSavedComparison(*store, id);
        ASSERT_TRUE(saved) << saved.error();
        ASSERT_EQ(saved->columns.size(), 2u) << "from run " << id;
        EXPECT_EQ(saved->columns[0].spec, "full");
        EXPECT_EQ(saved->columns[1].spec, "streaming:budget=4,sink=1");
    }
}

TEST(RunRecord, RunsWithoutViewDataReopenWithTokenIds) {
    test::TempDir dir;
    const std::string path = dir.file("s.attnlab");
    Fixture f = makeFixture();
    RunRecord plain = generationRecord(f.context, "Hello", f.runs[0].result, GenerationSettings{});
    plain.prompt_ids = {1, 2};
    auto ids = saveRunsToSession(path, {plain});
    ASSERT_TRUE(ids) << ids.error();
    auto store = SessionStore::open(path);
    auto saved = loadSavedComparison(*store, (*ids)[0]);
    ASSERT_TRUE(saved) << saved.error();
    ASSERT_EQ(saved->columns.size(), 1u);
    EXPECT_FALSE(saved->columns[0].has_view_data);
    EXPECT_EQ(saved->columns[0].view.prompt_tokens, (std::vector<std::string>{"[1]", "[2]"}));
    EXPECT_EQ(saved->prompt, "Hello");
    EXPECT_TRUE(saved->columns[0].view.captures.empty());
}

TEST(RunRecord, DamagedRecordsAreNamedNotCrashedOn) {
    test::TempDir dir;
    const std::string path = dir.file("s.attnlab");
    Fixture f = makeFixture();
    auto records = comparisonRecords(f.context, f.input, f.runs, {}, 32, &f.views);
    // A matrix blob shorter than its recorded shape.
    for (auto& b : records[0].blobs)
        if (b.name == "attn_l0_h1") {
            b.bytes.resize(8);
            b.shape = {2};
        }
    RunRecord bad_spec = records[1];
    bad_spec.spec_json = "{not json";
    auto ids = saveRunsToSession(path, {records[0], bad_spec});
    ASSERT_TRUE(ids) << ids.error();
    auto store = SessionStore::open(path);
    auto saved = loadSavedComparison(*store, (*ids)[0]);
    ASSERT_FALSE(saved);
    EXPECT_NE(saved.error().find("run " + std::to_string((*ids)[0])), std::string::npos) << saved.error();
    EXPECT_NE(saved.error().find("attn_l0_h1"), std::string::npos) << saved.error();
    auto bad = loadSavedComparison(*store, (*ids)[1]);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().find("not a JSON object"), std::string::npos) << bad.error();
    auto missing = loadSavedComparison(*store, 999);
    EXPECT_FALSE(missing);
    // Listing still works: a bad spec becomes an entry of its own.
    auto entries = listSessionEntries(*store);
    ASSERT_TRUE(entries) << entries.error();
    EXPECT_EQ(entries->size(), 2u);
}

}  // namespace
}  // namespace attnlab
