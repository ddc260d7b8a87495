// Difference map across sessions and models (app/gui/session_diff.h): two runs saved by the session
// writer the app uses (comparisonRecords with view data) in different session files, loaded as one
// two-run snapshot; prompt and layout mismatches name both runs; the figure exports. Label fast
// (offscreen, no GL).
#include <gtest/gtest.h>

#include <QFile>
#include <QGuiApplication>
#include <QTemporaryDir>
#include <cmath>

#include "app/gui/command_line.h"
#include "app/gui/session_diff.h"
#include "core/session/run_record.h"
#include "views/diff_model.h"
#include "views/figure/figure.h"
#include "views/figure/view_figures.h"

namespace attnlab {
namespace {

constexpr int64_t kTokens = 4;

// A causal [4, 4] attention matrix whose rows are `weights` cut at the diagonal and renormalised.
AttentionMatrix matrix(int64_t layer, int64_t head, const std::vector<float>& weights) {
    AttentionMatrix m;
    m.layer = layer;
    m.head = head;
    m.rows = m.cols = kTokens;
    m.probs.assign(kTokens * kTokens, 0.0f);
    for (int64_t r = 0; r < kTokens; ++r) {
        float total = 0;
        for (int64_t c = 0; c <= r; ++c) total += weights[static_cast<size_t>(c)];
        for (int64_t c = 0; c <= r; ++c) m.probs[static_cast<size_t>(r * kTokens + c)] = weights[static_cast<size_t>(c)] / total;
    }
    for (int64_t i = 0; i < kTokens; ++i) {
        m.query_positions.push_back(i);
        m.key_positions.push_back(i);
    }
    return m;
}

struct Column {
    std::string spec;
    std::vector<float> weights;           // the attention every head of this column captured
    std::vector<int64_t> kept;            // prefill kept positions of every KV head (empty: all)
    std::vector<double> kl_per_token;
};

// Saves one comparison to `path` the way the app does and returns the run ids.
std::vector<int64_t> saveComparison(const std::string& path, const std::string& model_dir,
                                    const std::vector<int32_t>& prompt, const std::vector<Column>& columns,
                                    int64_t layers = 2, int64_t heads = 2, bool with_view_data = true,
                                    const std::vector<std::string>& reference = {"x", "y"}) {
    RecordContext context;
    context.model.dir = model_dir;
    context.model.architecture = "LlamaForCausalLM";
    context.model.layers = layers;
    context.model.heads = heads;
    context.model.kv_heads = 1;
    context.model.device = "cpu";
    context.model.dtype = "f32";
    context.started_unix_ms = 1700000000000;
    context.ended_unix_ms = 1700000001000;
    RunInput input;
    input.prompt_ids = prompt;
    input.prompt_text = "a b c";
    std::vector<StrategyRun> runs;
    std::vector<RunViewData> views;
    for (const Column& c : columns) {
        StrategyRun run;
        run.spec = c.spec;
        run.result.prompt_ids = prompt;
        run.result.output_ids = {7, 8};
        run.result.output_text = " xy";
        run.result.stop_reason = "length";
        run.result.kv_bytes = c.kept.empty() ? 4096 : 1024;
        run.metrics = {{"kv_bytes", double(run.result.kv_bytes)}, {"kl_vs_full", 0.1}};
        run.kl_per_token = c.kl_per_token;
        for (int64_t l = 0; l < layers && !c.kept.empty(); ++l) {
            HeadDecision d;
            d.layer = l;
            d.kv_head = 0;
            d.stage = "compress_prefill";
            d.budget = static_cast<int64_t>(c.kept.size());
            d.kept_positions = c.kept;
            run.trace.decisions.push_back(d);
        }
        runs.push_back(run);
        RunViewData view;
        view.prompt_tokens = {"<s>", "a", "b", "c"};
        view.output_tokens = {"x", "y"};
        view.reference_tokens = reference;
        for (int64_t l = 0; l < layers; ++l)
            for (int64_t h = 0; h < heads; ++h) view.captures.push_back(matrix(l, h, c.weights));
        views.push_back(view);
    }
    const auto records = comparisonRecords(context, input, runs, {}, 2, with_view_data ? &views : nullptr);
    auto ids = saveRunsToSession(path, records);
    EXPECT_TRUE(ids.isOk()) << ids.error();
    return ids ? *ids : std::vector<int64_t>{};
}

struct Sessions {
    QTemporaryDir dir;
    std::string a, b;
    std::vector<int64_t> a_ids, b_ids;
    Sessions() {
        a = dir.filePath(QStringLiteral("a.attnlab")).toStdString();
        b = dir.filePath(QStringLiteral("b.attnlab")).toStdString();
        // Session A: full and a strategy keeping positions 0 and 3 on model "demo".
        a_ids = saveComparison(a, "/models/demo", {0, 5, 6, 7},
                               {{"full", {1, 1, 1, 1}, {}, {0, 0}}, {"streaming:budget=2,sink=1", {1, 1, 1, 1}, {0, 3}, {0.5, 0.25}}});
        // Session B: another model (other weights, so other attention) on the same prompt ids.
        b_ids = saveComparison(b, "/models/demo-finetuned", {0, 5, 6, 7}, {{"full", {4, 2, 1, 1}, {}, {0, 0}}});
    }
};

TEST(SessionDiff, SyntaxNamesTheShape) {
    auto both = parseDiffRuns("a.attnlab#3:b.attnlab#5");
    ASSERT_TRUE(both.isOk()) << both.error();
    EXPECT_EQ(both->a.session, "a.attnlab");
    EXPECT_EQ(both->a.run_id, 3);
    EXPECT_EQ(both->b.session, "b.attnlab");
    EXPECT_EQ(both->b.run_id, 5);
    auto current = parseDiffRuns("#2:#4");
    ASSERT_TRUE(current.isOk());
    EXPECT_TRUE(current->a.session.empty());
    EXPECT_EQ(current->b.run_id, 4);
    auto colons = parseDiffRuns("dir:x/a#1:c:/b#2");  // the run ids anchor the split
    ASSERT_TRUE(colons.isOk());
    EXPECT_EQ(colons->a.session, "dir:x/a");
    EXPECT_EQ(colons->b.session, "c:/b");
    for (const char* bad : {"a#1", "a:b", "a#x:b#2", "a#0:b#1", ""}) {
        auto r = parseDiffRuns(bad);
        ASSERT_FALSE(r.isOk()) << bad;
        EXPECT_NE(r.error().find("--diff"), std::string::npos) << r.error();
    }
}

TEST(SessionDiff, TwoSessionsOfTwoModelsBecomeOneSnapshot) {
    Sessions s;
    ASSERT_EQ(s.a_ids.size(), 2u);
    ASSERT_EQ(s.b_ids.size(), 1u);
    // A = the strategy run of session A (kept 0 and 3), B = full of session B's other model.
    auto pair = loadDiffPair({{s.a, s.a_ids[1]}, {s.b, s.b_ids[0]}}, "");
    ASSERT_TRUE(pair.isOk()) << pair.error();
    const ComparisonData& d = *pair->data;
    ASSERT_EQ(d.runs.size(), 2u);
    EXPECT_EQ(d.model_name, "demo vs demo-finetuned");
    EXPECT_EQ(d.runs[0].spec, "streaming:budget=2,sink=1 · a.attnlab#" + std::to_string(s.a_ids[1]));
    EXPECT_EQ(d.runs[1].spec, "full · b.attnlab#" + std::to_string(s.b_ids[0]));
    EXPECT_EQ(d.prompt_tokens.size(), 4u);
    EXPECT_TRUE(pair->notes.empty()) << "same reference continuation: the KL row stays";
    EXPECT_EQ(d.runs[0].kl_per_token, (std::vector<double>{0.5, 0.25}));

    DiffModel model;
    model.setData(pair->data);
    model.select(0, 1, 1, 1);
    ASSERT_TRUE(model.emptyReason().empty()) << model.emptyReason();
    // Row 3: A keeps keys 0 and 3 of uniform weights -> 0.5, 0, 0, 0.5; B is full on weights 4,2,1,1 / 8.
    EXPECT_NEAR(model.delta(3, 0), 0.5 - 0.5, 1e-6);
    EXPECT_NEAR(model.delta(3, 1), 0.25 - 0.0, 1e-6);
    EXPECT_NEAR(model.delta(3, 3), 0.125 - 0.5, 1e-6);
    EXPECT_TRUE(model.isFuture(1, 2));
    EXPECT_EQ(model.klDelta(), (std::vector<double>{-0.5, -0.25}));

    // The same run on both sides differs by nothing; the current session fills an empty side.
    auto same = loadDiffPair({{"", s.a_ids[0]}, {s.a, s.a_ids[0]}}, s.a);
    ASSERT_TRUE(same.isOk()) << same.error();
    DiffModel zero;
    zero.setData(same->data);
    zero.select(0, 1, 0, 0);
    EXPECT_EQ(zero.maxAbsDelta(), 0.0);

    // Exported like any difference map.
    DiffFigure figure(model);
    QTemporaryDir out;
    const QString svg = out.filePath(QStringLiteral("cross.svg"));
    QString error;
    ASSERT_TRUE(writeFigure(figure, svg, FigureOptions{}, &error)) << error.toStdString();
    QFile f(svg);
    ASSERT_TRUE(f.open(QIODevice::ReadOnly));
    const QString text = QString::fromUtf8(f.readAll());
    EXPECT_TRUE(text.contains(QStringLiteral("b.attnlab#"))) << "B's session in the title";
    EXPECT_TRUE(text.contains(QStringLiteral("demo vs demo-finetuned"))) << "both models in the caption";
}

TEST(SessionDiff, OtherContinuationsDropTheKlRowWithANote) {
    Sessions s;
    const std::string c = (s.dir.path() + QStringLiteral("/c.attnlab")).toStdString();
    auto ids = saveComparison(c, "/models/other", {0, 5, 6, 7}, {{"full", {1, 2, 3, 4}, {}, {0, 0}}}, 2, 2, true,
                              {"p", "q"});
    auto pair = loadDiffPair({{s.a, s.a_ids[1]}, {c, ids[0]}}, "");
    ASSERT_TRUE(pair.isOk()) << pair.error();
    ASSERT_EQ(pair->notes.size(), 1u);
    EXPECT_NE(pair->notes[0].find("continuations differ"), std::string::npos);
    EXPECT_TRUE(pair->data->runs[0].kl_per_token.empty());
    EXPECT_TRUE(pair->data->runs[1].kl_per_token.empty());
}

TEST(SessionDiff, MismatchesNameBothRuns) {
    Sessions s;
    const std::string dir = s.dir.path().toStdString();
    // Another tokenizer: other prompt ids for the "same" text.
    auto other_prompt = saveComparison(dir + "/p.attnlab", "/models/other-tokenizer", {0, 5, 9, 7},
                                       {{"full", {1, 1, 1, 1}, {}, {0, 0}}});
    auto r = loadDiffPair({{s.a, s.a_ids[0]}, {dir + "/p.attnlab", other_prompt[0]}}, "");
    ASSERT_FALSE(r.isOk());
    EXPECT_NE(r.error().find("a.attnlab#" + std::to_string(s.a_ids[0])), std::string::npos) << r.error();
    EXPECT_NE(r.error().find("p.attnlab#" + std::to_string(other_prompt[0])), std::string::npos) << r.error();
    EXPECT_NE(r.error().find("model other-tokenizer"), std::string::npos) << r.error();
    EXPECT_NE(r.error().find("position 2"), std::string::npos) << r.error();
    EXPECT_NE(r.error().find("same prompt"), std::string::npos) << r.error();

    auto other_layout = saveComparison(dir + "/l.attnlab", "/models/bigger", {0, 5, 6, 7},
                                       {{"full", {1, 1, 1, 1}, {}, {0, 0}}}, 3, 2);
    auto l = loadDiffPair({{s.a, s.a_ids[0]}, {dir + "/l.attnlab", other_layout[0]}}, "");
    ASSERT_FALSE(l.isOk());
    EXPECT_NE(l.error().find("2 layers"), std::string::npos) << l.error();
    EXPECT_NE(l.error().find("l.attnlab#"), std::string::npos) << l.error();

    // A run saved by attnlab-cli keeps no attention matrices.
    auto cli = saveComparison(dir + "/cli.attnlab", "/models/demo", {0, 5, 6, 7}, {{"full", {1, 1, 1, 1}, {}, {0, 0}}},
                              2, 2, false);
    auto n = loadDiffPair({{s.a, s.a_ids[0]}, {dir + "/cli.attnlab", cli[0]}}, "");
    ASSERT_FALSE(n.isOk());
    EXPECT_NE(n.error().find("cli.attnlab#"), std::string::npos) << n.error();
    EXPECT_NE(n.error().find("no attention matrices"), std::string::npos) << n.error();

    auto missing_run = loadDiffPair({{s.a, 99}, {s.b, s.b_ids[0]}}, "");
    ASSERT_FALSE(missing_run.isOk());
    EXPECT_NE(missing_run.error().find("a.attnlab#99"), std::string::npos) << missing_run.error();
    auto missing_file = loadDiffPair({{s.a, 1}, {dir + "/nope.attnlab", 1}}, "");
    ASSERT_FALSE(missing_file.isOk());
    EXPECT_NE(missing_file.error().find("nope.attnlab"), std::string::npos) << missing_file.error();
}

// The app's options that feed the difference and sweep docks from saved results.
TEST(SessionDiff, CommandLineChecksDiffAndSweepOptions) {
    auto parse = [](QStringList args) {
        args.prepend(QStringLiteral("attnlab"));
        return parseCommandLine(args);
    };
    auto ok = parse({"--diff", "a.attnlab#1:b.attnlab#2", "--export-figure", "diff:d.pdf", "--quit-when-done"});
    ASSERT_TRUE(ok.is_ok) << ok.error;
    EXPECT_EQ(ok.options.diff_runs_across, "a.attnlab#1:b.attnlab#2");
    auto sweep = parse({"--sweep-json", "q.json", "--export-figure", "sweep:s.svg"});
    ASSERT_TRUE(sweep.is_ok) << sweep.error;
    EXPECT_EQ(sweep.options.figures.front().view, "sweep");
    auto budgets = parse({"--run", "--sweep-budgets", "10%,25%", "--export-figure", "sweep:s.png"});
    ASSERT_TRUE(budgets.is_ok) << budgets.error;
    EXPECT_EQ(budgets.options.sweep_budgets, "10%,25%");

    auto error = [&](QStringList args) { return parse(std::move(args)).error; };
    EXPECT_NE(error({"--diff", "a#1"}).find("SESSION_A#RUN:SESSION_B#RUN"), std::string::npos);
    EXPECT_NE(error({"--diff", "a#1:b#2", "--run"}).find("without --run"), std::string::npos);
    EXPECT_NE(error({"--diff", "a#1:b#2", "--export-figure", "attention:x.png"}).find("add --run or --open-run"),
              std::string::npos);
    EXPECT_NE(error({"--export-figure", "sweep:x.svg"}).find("--sweep-json"), std::string::npos);
    EXPECT_NE(error({"--export-figure", "diff:x.svg"}).find("--diff"), std::string::npos);
    EXPECT_NE(error({"--sweep-budgets", "10%"}).find("add --run"), std::string::npos);
    EXPECT_NE(error({"--run", "--sweep-budgets", "10%,,5"}).find("empty item"), std::string::npos);
    EXPECT_NE(error({"--sweep-json", "q.json", "--open-run", "3"}).find("without --run"), std::string::npos);
}

}  // namespace
}  // namespace attnlab

int main(int argc, char** argv) {
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    ::testing::InitGoogleTest(&argc, argv);
    QGuiApplication app(argc, argv);
    return RUN_ALL_TESTS();
}
