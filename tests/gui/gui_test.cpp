// The app's non-GL parts under the `offscreen` platform: the engine thread's tagged queue, the
// command line, the panels built from strategy schemas, the results columns, and the engine
// client on the tiny parity checkpoint.
#include <gtest/gtest.h>

#include <QApplication>
#include <QElapsedTimer>
#include <QLineEdit>
#include <QSpinBox>
#include <QTemporaryDir>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>

#include "app/gui/command_line.h"
#include "app/gui/engine_client.h"
#include "app/gui/engine_thread.h"
#include "app/gui/input_panel.h"
#include "app/gui/results_panel.h"
#include "app/gui/strategy_panel.h"

namespace attnlab {
namespace {

const std::string kSourceDir = ATTNLAB_SOURCE_DIR;

// Runs the event loop until `done` or the timeout; false on timeout.
template <class F>
bool waitFor(F done, int timeout_ms = 60000) {
    QElapsedTimer t;
    t.start();
    while (!done()) {
        if (t.elapsed() > timeout_ms) return false;
        QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
    }
    return true;
}

TEST(EngineThread, NewerJobWithTheSameTagDropsTheQueuedOne) {
    EngineThread thread;
    thread.start();
    std::mutex mutex;
    std::condition_variable cv;
    bool is_released = false;
    std::atomic<bool> is_blocking{false};
    // Hold the thread so the next jobs queue up.
    thread.submit("run", [&] {
        is_blocking = true;
        std::unique_lock<std::mutex> lock(mutex);
        cv.wait(lock, [&] { return is_released; });
    });
    while (!is_blocking) QThread::msleep(1);
    std::vector<int> ran;
    std::mutex ran_mutex;
    auto job = [&](int id) {
        return [&, id] {
            std::lock_guard<std::mutex> lock(ran_mutex);
            ran.push_back(id);
        };
    };
    EXPECT_EQ(thread.submit("prompt", job(1)), 0);
    EXPECT_EQ(thread.submit("", job(2)), 0);
    EXPECT_EQ(thread.submit("prompt", job(3)), 1);
    EXPECT_EQ(thread.submit("", job(4)), 0);
    EXPECT_EQ(thread.submit("prompt", job(5)), 1);
    EXPECT_EQ(thread.pendingJobs(), 3);
    {
        std::lock_guard<std::mutex> lock(mutex);
        is_released = true;
    }
    cv.notify_all();
    thread.stop();
    ASSERT_TRUE(thread.wait(10000));
    EXPECT_EQ(ran, (std::vector<int>{2, 4, 5}));
    EXPECT_EQ(thread.droppedJobs(), 2);
}

QStringList args(std::initializer_list<const char*> list) {
    QStringList out{QStringLiteral("attnlab")};
    for (const char* a : list) out << QString::fromUtf8(a);
    return out;
}

TEST(CommandLine, ParsesTheScriptableOptions) {
    const ParsedCommandLine p =
        parseCommandLine(args({"--model", "/m", "--task", "needle:length=512", "--strategy", "full", "--strategy",
                               "streaming:budget=64", "--run", "--export-figure", "attention:/tmp/a.png",
                               "--export-figure", "heads:/tmp/g.png", "--quit-when-done", "--head", "1:3",
                               "--figure-size", "640x480", "--session", "s.db"}));
    ASSERT_TRUE(p.is_ok) << p.error;
    const AppOptions& o = p.options;
    EXPECT_EQ(o.model_dir, "/m");
    EXPECT_EQ(o.task_spec, "needle:length=512");
    EXPECT_EQ(o.strategies, (std::vector<std::string>{"full", "streaming:budget=64"}));
    EXPECT_TRUE(o.is_run);
    EXPECT_TRUE(o.is_quit_when_done);
    ASSERT_EQ(o.figures.size(), 2u);
    EXPECT_EQ(o.figures[0].view, "attention");
    EXPECT_EQ(o.figures[0].file, "/tmp/a.png");
    EXPECT_EQ(o.figures[1].view, "grid");
    EXPECT_EQ(o.layer, 1);
    EXPECT_EQ(o.head, 3);
    EXPECT_EQ(o.figure_size, QSize(640, 480));
    EXPECT_EQ(o.session_file, "s.db");
}

TEST(CommandLine, FiguresInPngSvgPdfWithDpiAndDiffRuns) {
    const ParsedCommandLine p = parseCommandLine(
        args({"--run", "--export-figure", "timeline:t.svg", "--export-figure", "diff:d.PDF", "--figure-dpi", "300",
              "--diff-runs", "0:2", "--figure-vector-cells", "0"}));
    ASSERT_TRUE(p.is_ok) << p.error;
    ASSERT_EQ(p.options.figures.size(), 2u);
    EXPECT_EQ(p.options.figures[0].view, "timeline");
    EXPECT_EQ(p.options.figures[1].view, "diff");
    EXPECT_DOUBLE_EQ(p.options.figure_dpi, 300);
    EXPECT_EQ(p.options.diff_run_a, 0);
    EXPECT_EQ(p.options.diff_run_b, 2);
    EXPECT_EQ(p.options.figure_vector_cells, 0);
    auto error = [](std::initializer_list<const char*> list) { return parseCommandLine(args(list)).error; };
    EXPECT_NE(error({"--run", "--export-figure", "attention:x.jpg"}).find("not a .png, .svg or .pdf"), std::string::npos);
    EXPECT_NE(error({"--run", "--figure-dpi", "5"}).find("--figure-dpi"), std::string::npos);
    EXPECT_NE(error({"--run", "--diff-runs", "1"}).find("A:B"), std::string::npos);
}

TEST(CommandLine, RejectsWhatItCannotDo) {
    auto error = [](std::initializer_list<const char*> list) { return parseCommandLine(args(list)).error; };
    EXPECT_NE(error({"--prompt", "a", "--task", "needle"}).find("at most one"), std::string::npos);
    EXPECT_NE(error({"--run", "--export-figure", "nosuch:x.png"}).find("unknown view 'nosuch'"), std::string::npos);
    EXPECT_NE(error({"--export-figure", "attention:x.png"}).find("add --run"), std::string::npos);
    EXPECT_NE(error({"--run", "--export-figure", "attention"}).find("VIEW:FILE.png"), std::string::npos);
    EXPECT_NE(error({"--head", "1"}).find("LAYER:HEAD"), std::string::npos);
    EXPECT_NE(error({"--bogus"}).find("bogus"), std::string::npos);
    EXPECT_NE(error({"stray"}).find("unexpected argument"), std::string::npos);
    EXPECT_TRUE(parseCommandLine(args({"--help"})).is_help);
}

StrategyCatalog catalog() {
    StrategyCatalog c;
    c.strategies.push_back(StrategyInfo{"full", "Full attention.", {}, "", "built-in"});
    c.strategies.push_back(StrategyInfo{
        "streaming",
        "Sinks and a window.",
        {{"budget", ParamType::Budget, "25%", 1, 1e9, "entries kept"}, {"sink", ParamType::Int, "4", 0, 1e6, "sinks"}},
        "",
        "plugin"});
    c.strategies.push_back(StrategyInfo{
        "toy",
        "Every editor kind.",
        {{"ratio", ParamType::Float, "0.5", 0, 1, "a share"}, {"exact", ParamType::Bool, "false", 0, 1, "a switch"}},
        "",
        "plugin"});
    return c;
}

TEST(StrategyPanel, EditorsFromTheSchemaMakeSpecs) {
    StrategyPanel panel;
    panel.setCatalog(catalog());
    EXPECT_EQ(panel.checkedSpecs(), (std::vector<std::string>{"full", "streaming:budget=25%,sink=4"}));
    EXPECT_EQ(panel.validationError(), "");

    std::string error;
    ASSERT_TRUE(panel.applySpecs({"toy:exact=true,ratio=0.25", "streaming:budget=64"}, &error)) << error;
    EXPECT_EQ(panel.checkedSpecs(),
              (std::vector<std::string>{"streaming:budget=64,sink=4", "toy:exact=true,ratio=0.25"}));

    // Typing a bad budget is caught before a run.
    auto* budget = panel.findChild<QLineEdit*>(QStringLiteral("streaming_budget"));
    ASSERT_NE(budget, nullptr);
    budget->setText(QStringLiteral("lots"));
    EXPECT_NE(panel.validationError(), "");
    auto* sink = panel.findChild<QSpinBox*>(QStringLiteral("streaming_sink"));
    ASSERT_NE(sink, nullptr);
    EXPECT_EQ(sink->maximum(), 1000000);
}

TEST(StrategyPanel, BadSpecsNameTheValidChoices) {
    StrategyPanel panel;
    panel.setCatalog(catalog());
    std::string error;
    EXPECT_FALSE(panel.applySpecs({"snapkv"}, &error));
    EXPECT_NE(error.find("full, streaming, toy"), std::string::npos) << error;
    EXPECT_FALSE(panel.applySpecs({"streaming:window=3"}, &error));
    EXPECT_NE(error.find("window"), std::string::npos) << error;
}

TEST(InputPanel, TaskSpecsRoundTrip) {
    InputPanel panel;
    std::string error;
    ASSERT_TRUE(panel.setTaskSpec("needle:length=512,depth=0.25,seed=3", &error)) << error;
    const InputSpec in = panel.input();
    EXPECT_TRUE(in.is_task);
    EXPECT_EQ(in.task_spec, "needle:length=512,depth=0.25,seed=3");
    EXPECT_FALSE(panel.setTaskSpec("needle:colour=red", &error));
    EXPECT_NE(error.find("length, depth, seed"), std::string::npos);
    EXPECT_EQ(panel.input().task_spec, "needle:length=512,depth=0.25,seed=3") << "a refused spec changed the panel";
    ASSERT_TRUE(panel.setTaskSpec("mqar:pairs=16,seed=2", &error)) << error;
    EXPECT_EQ(panel.input().task_spec, "mqar:pairs=16,queries=8,seed=2");
    ASSERT_TRUE(panel.setTaskSpec("heldout:length=128", &error)) << error;
    EXPECT_EQ(panel.input().task_spec, "heldout:length=128,seed=0,answer_tokens=4");
    ASSERT_TRUE(panel.setTaskSpec("passkey:seed=5", &error)) << error;
    EXPECT_EQ(panel.input().task_spec, "needle:length=512,depth=0.25,seed=5");
    EXPECT_FALSE(panel.setTaskSpec("copy", &error));
    EXPECT_NE(error.find("needle, mqar, heldout"), std::string::npos) << error;
    EXPECT_FALSE(panel.setTaskSpec("mqar:pairs=0", &error));
    panel.setPrompt(QStringLiteral("Hello"));
    EXPECT_FALSE(panel.input().is_task);
    EXPECT_EQ(panel.input().prompt, "Hello");
}

TEST(ResultsPanel, OneColumnPerRunWithItsMetrics) {
    auto data = std::make_shared<ComparisonData>();
    data->model_name = "tiny";
    data->task_spec = "needle:depth=0.5,length=64,seed=0";
    data->answer = " 12345";
    RunData full;
    full.spec = "full";
    full.output_text = " 12345";
    full.metrics = {{"accuracy", 1}, {"kl_vs_full", 0}, {"top1_vs_full", 1}, {"kv_bytes_vs_full", 1}};
    full.kv_bytes = 2048;
    RunData streaming = full;
    streaming.spec = "streaming:budget=25%,sink=4";
    streaming.output_text = " 999";
    streaming.metrics = {{"accuracy", 0}, {"kl_vs_full", 0.5}, {"top1_vs_full", 0.25}, {"kv_bytes_vs_full", 0.25}};
    streaming.kv_bytes = 512;
    data->runs = {full, streaming};
    ResultsPanel panel;
    panel.setData(data);
    EXPECT_EQ(panel.columnCount(), 2);
    const nlohmann::json s = panel.summary();
    ASSERT_EQ(s.size(), 2u);
    EXPECT_EQ(s[1]["strategy"], "streaming:budget=25%,sink=4");
    EXPECT_EQ(s[1]["output_text"], " 999");
    EXPECT_EQ(s[1]["metrics"]["accuracy"], "wrong");
    EXPECT_EQ(s[1]["metrics"]["KL vs full"], "0.5000");
    EXPECT_EQ(s[1]["metrics"]["top-1 vs full"], "25.0%");
    EXPECT_EQ(s[1]["metrics"]["KV bytes"], "512 B (25% of full)");
    EXPECT_EQ(s[0]["metrics"]["accuracy"], "correct");
    panel.clear(QStringLiteral("gone"));
    EXPECT_EQ(panel.columnCount(), 0);
}

// The engine client on the tiny Llama parity checkpoint: snapshots arrive on the GUI thread.
TEST(EngineClient, LoadsRunsAndReportsErrorsAsValues) {
    EngineClient engine(std::string(ATTNLAB_TEST_EXE_DIR) + "/attnlab");
    StrategyCatalog cat;
    bool has_catalog = false;
    QObject::connect(&engine, &EngineClient::catalogReady, [&](const StrategyCatalog& c) {
        EXPECT_EQ(QThread::currentThread(), QCoreApplication::instance()->thread());
        cat = c;
        has_catalog = true;
    });
    ASSERT_TRUE(waitFor([&] { return has_catalog; }));
    ASSERT_FALSE(cat.strategies.empty());
    EXPECT_EQ(cat.strategies.front().name, "full");

    std::vector<ModelSnapshot> models;
    QObject::connect(&engine, &EngineClient::modelLoaded, [&](const ModelSnapshot& m) { models.push_back(m); });
    engine.loadModel(kSourceDir + "/tests/fixtures/parity/no-such-model", {});
    ASSERT_TRUE(waitFor([&] { return models.size() == 1; }));
    EXPECT_FALSE(models[0].is_ok);
    EXPECT_NE(models[0].error.find("no-such-model"), std::string::npos) << models[0].error;

    engine.loadModel(kSourceDir + "/tests/fixtures/parity/llama3", {});
    ASSERT_TRUE(waitFor([&] { return models.size() == 2; }));
    ASSERT_TRUE(models[1].is_ok) << models[1].error;
    EXPECT_EQ(models[1].info.kv_heads, 2);

    std::vector<PromptSnapshot> prompts;
    QObject::connect(&engine, &EngineClient::promptReady, [&](const PromptSnapshot& p) { prompts.push_back(p); });
    InputSpec in;
    in.is_task = true;
    in.task_spec = "needle:length=64,depth=0.5";
    engine.preparePrompt(in);
    ASSERT_TRUE(waitFor([&] { return prompts.size() == 1; }));
    ASSERT_TRUE(prompts[0].is_ok) << prompts[0].error;
    EXPECT_EQ(prompts[0].tokens, 64);
    EXPECT_EQ(prompts[0].answer.size(), 5u);  // the 5 digits (the space before them ends the question)

    std::vector<RunOutcome> outcomes;
    int progress_count = 0;
    QObject::connect(&engine, &EngineClient::progress, [&](const ProgressSnapshot&) { ++progress_count; });
    QObject::connect(&engine, &EngineClient::runFinished, [&](const RunOutcome& o) { outcomes.push_back(o); });
    RunRequest request;
    request.input = in;
    request.specs = {"full", "streaming:budget=16"};
    engine.run(request);
    ASSERT_TRUE(waitFor([&] { return outcomes.size() == 1; }));
    const RunOutcome& o = outcomes[0];
    ASSERT_TRUE(o.is_ok) << o.error;
    ASSERT_NE(o.data, nullptr);
    ASSERT_EQ(o.data->runs.size(), 2u);
    EXPECT_EQ(o.data->runs[0].spec, "full");  // in the order asked for
    EXPECT_EQ(o.data->runs[1].spec, "streaming:budget=16,sink=4");
    // The session records of the run, in column order, with what the views need.
    ASSERT_NE(o.records, nullptr);
    ASSERT_EQ(o.records->size(), 2u);
    EXPECT_EQ((*o.records)[1].strategy, "streaming:budget=16,sink=4");
    EXPECT_EQ((*o.records)[0].output_text, o.data->runs[0].output_text);
    EXPECT_TRUE(std::any_of((*o.records)[0].blobs.begin(), (*o.records)[0].blobs.end(),
                            [](const BlobRecord& b) { return b.name.rfind("attn_l", 0) == 0; }));
    EXPECT_EQ(o.data->prompt_tokens.size(), 64u);
    EXPECT_EQ(o.data->runs[1].captures.size(), 2u * 8u);  // every layer and query head
    EXPECT_FALSE(o.data->runs[1].trace.decisions.empty());
    EXPECT_TRUE(o.data->runs[0].trace.decisions.empty());
    EXPECT_GT(progress_count, 0);
    EXPECT_EQ(o.data->runs[0].metrics.count("accuracy"), 1u);

    // Cancel lands mid-run: a free prompt with many new tokens, cancelled at the first progress.
    RunRequest long_run;
    long_run.input.prompt = "the pass key is";
    long_run.input.max_new_tokens = 3000;
    long_run.specs = {"full", "streaming:budget=8"};
    bool is_cancel_sent = false;
    auto cancel_on_progress = QObject::connect(&engine, &EngineClient::progress, [&](const ProgressSnapshot& p) {
        if (!is_cancel_sent && p.stage == "decode") {
            engine.cancel();
            is_cancel_sent = true;
        }
    });
    engine.run(long_run);
    ASSERT_TRUE(waitFor([&] { return outcomes.size() == 2; }));
    QObject::disconnect(cancel_on_progress);
    EXPECT_TRUE(is_cancel_sent);
    EXPECT_TRUE(outcomes[1].is_cancelled) << outcomes[1].error;
    outcomes.pop_back();

    RunRequest bad = request;
    bad.specs = {"nosuch"};
    engine.run(bad);
    ASSERT_TRUE(waitFor([&] { return outcomes.size() == 2; }));
    EXPECT_FALSE(outcomes[1].is_ok);
    EXPECT_NE(outcomes[1].error.find("full"), std::string::npos) << outcomes[1].error;
}

}  // namespace
}  // namespace attnlab

int main(int argc, char** argv) {
    // Pin the platform and DPI (Hotspot's habit): widgets only, no GL here.
    qputenv("QT_QPA_PLATFORM", "offscreen");
    qputenv("QT_ENABLE_HIGHDPI_SCALING", "0");
    // Panels read presets from the config folder: never the user's own here.
    QTemporaryDir config;
    qputenv("XDG_CONFIG_HOME", config.path().toUtf8());
    qputenv("XDG_DATA_HOME", config.path().toUtf8());
    QApplication app(argc, argv);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
