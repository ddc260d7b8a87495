// The app's session client and browser, and the strategy presets, under the `offscreen` platform
// (fast): saved comparisons reopen as the same snapshot the views drew, a damaged session is reported
// and nothing crashes or is overwritten, presets round-trip through their JSON file.
#include <gtest/gtest.h>

#include <QApplication>
#include <QElapsedTimer>
#include <QFile>
#include <QLabel>
#include <QPushButton>
#include <QTemporaryDir>
#include <QTreeWidget>
#include <nlohmann/json.hpp>

#include "app/gui/command_line.h"
#include "app/gui/session_browser.h"
#include "app/gui/session_client.h"
#include "app/gui/strategy_panel.h"
#include "app/gui/strategy_presets.h"

namespace attnlab {
namespace {

template <class F>
bool waitUntil(F done, int timeout_ms = 20000) {
    QElapsedTimer t;
    t.start();
    while (!done()) {
        if (t.elapsed() > timeout_ms) return false;
        QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
    }
    return true;
}

// One comparison as the engine client builds it: full and streaming, with captures and tokens.
std::shared_ptr<const std::vector<RunRecord>> comparison(const std::string& prompt_word) {
    RecordContext context;
    context.model.dir = "/models/tiny";
    context.model.layers = 1;
    context.model.heads = 2;
    context.model.kv_heads = 1;
    context.started_unix_ms = 1764300000000;
    RunInput input;
    input.prompt_text = prompt_word + " is";
    input.prompt_ids = {1, 2, 3};
    StrategyRun full, streaming;
    full.spec = "full";
    full.result.output_ids = {4};
    full.result.output_text = " here";
    full.metrics = {{"kl_vs_full", 0}};
    full.kl_per_token = {0};
    streaming.spec = "streaming:budget=2,sink=1";
    streaming.result.output_ids = {5};
    streaming.result.output_text = " there";
    streaming.metrics = {{"kl_vs_full", 0.5}};
    streaming.kl_per_token = {0.5};
    streaming.trace.decisions.push_back(HeadDecision{0, 0, "compress_prefill", -1, 2, {0, 2}, {}});
    std::vector<RunViewData> views(2);
    for (auto& v : views) {
        v.prompt_tokens = {"<s>", prompt_word, " is"};
        v.reference_tokens = {" here"};
        for (int64_t h = 0; h < 2; ++h) {
            AttentionMatrix m;
            m.head = h;
            m.rows = m.cols = 3;
            m.probs = {1, 0, 0, 0.5f, 0.5f, 0, 0.25f, 0.25f, 0.5f};
            m.query_positions = m.key_positions = {0, 1, 2};
            v.captures.push_back(m);
        }
    }
    views[0].output_tokens = {" here"};
    views[1].output_tokens = {" there"};
    return std::make_shared<const std::vector<RunRecord>>(
        comparisonRecords(context, input, {full, streaming}, {}, 1, &views));
}

TEST(SessionBrowser, AutosavesListsAndReopensTheSameSnapshot) {
    QTemporaryDir dir;
    const std::string path = dir.filePath(QStringLiteral("sub/s.attnlab")).toStdString();  // folder created
    SessionBrowser browser;
    std::vector<bool> listed;
    QObject::connect(&browser, &SessionBrowser::sessionListed, [&](bool ok, const QString&) { listed.push_back(ok); });
    browser.openSession(path);
    ASSERT_TRUE(waitUntil([&] { return !listed.empty(); }));
    EXPECT_TRUE(listed.back());

    std::vector<std::pair<bool, QString>> saves;
    QObject::connect(&browser, &SessionBrowser::saveFinished,
                     [&](bool ok, const QString& message) { saves.emplace_back(ok, message); });
    browser.saveRun(comparison("sky"));
    browser.saveRun(comparison("sea"));
    ASSERT_TRUE(waitUntil([&] { return saves.size() == 2; }));
    EXPECT_TRUE(saves[0].first) << saves[0].second.toStdString();
    EXPECT_TRUE(saves[1].first) << saves[1].second.toStdString();
    EXPECT_EQ(browser.unsavedRuns(), 0);
    EXPECT_EQ(browser.summary()["run_ids"], nlohmann::json({1, 2, 3, 4}));
    auto* list = browser.findChild<QTreeWidget*>(QStringLiteral("sessionRuns"));
    ASSERT_NE(list, nullptr);
    ASSERT_TRUE(waitUntil([&] { return list->topLevelItemCount() == 2; }));
    EXPECT_EQ(list->topLevelItem(1)->text(3), QStringLiteral("sea is"));
    EXPECT_EQ(list->topLevelItem(1)->text(4), QStringLiteral("full, streaming"));
    EXPECT_EQ(list->topLevelItem(1)->childCount(), 2);

    {  // "sea" has the same attention as "sky": stored once, with run 1.
        SessionOpenOptions read_only;
        read_only.read_only = true;
        auto store = SessionStore::open(path, read_only);
        ASSERT_TRUE(store) << store.error();
        auto sea = store->loadRun(3, false);
        ASSERT_TRUE(sea) << sea.error();
        for (const BlobRecord& b : sea->blobs) EXPECT_NE(b.name.rfind("attn_l", 0), 0u) << b.name;
        auto sky = store->loadRun(1, false);
        ASSERT_TRUE(sky);
        EXPECT_TRUE(std::any_of(sky->blobs.begin(), sky->blobs.end(),
                                [](const BlobRecord& b) { return b.name == "attn_l0_h1"; }));
    }

    std::shared_ptr<const ComparisonData> reopened;
    QObject::connect(&browser, &SessionBrowser::runReopened,
                     [&](std::shared_ptr<const ComparisonData> d, const QString&) { reopened = d; });
    browser.reopenRun(4);
    ASSERT_TRUE(waitUntil([&] { return reopened != nullptr; }));
    ASSERT_EQ(reopened->runs.size(), 2u);
    EXPECT_EQ(reopened->prompt_tokens, (std::vector<std::string>{"<s>", "sea", " is"}));
    EXPECT_EQ(reopened->reference_tokens, (std::vector<std::string>{" here"}));
    EXPECT_EQ(reopened->heads, 2);
    const RunData& s = reopened->runs[1];
    EXPECT_EQ(s.spec, "streaming:budget=2,sink=1");
    EXPECT_EQ(s.output_tokens, (std::vector<std::string>{" there"}));
    EXPECT_EQ(s.kl_per_token, (std::vector<double>{0.5}));
    ASSERT_EQ(s.trace.decisions.size(), 1u);
    EXPECT_EQ(s.trace.decisions[0].kept_positions, (std::vector<int64_t>{0, 2}));
    ASSERT_NE(s.capture(0, 1), nullptr);  // shared with column 0 in the file, present in both columns
    EXPECT_EQ(s.capture(0, 1)->probs[3], 0.5f);
    ASSERT_NE(reopened->runs[0].capture(0, 1), nullptr);

    std::vector<QString> failures;
    QObject::connect(&browser, &SessionBrowser::reopenFailed, [&](const QString& e) { failures.push_back(e); });
    browser.reopenRun(77);
    ASSERT_TRUE(waitUntil([&] { return !failures.empty(); }));
    EXPECT_TRUE(failures[0].contains(QStringLiteral("77"))) << failures[0].toStdString();
}

TEST(SessionBrowser, DamagedSessionIsShownAndRunsAreKeptForARetry) {
    QTemporaryDir dir;
    const QString bad = dir.filePath(QStringLiteral("bad.attnlab"));
    QByteArray junk("this is not a session file, just some text\n");
    junk = junk.repeated(100);
    {
        QFile f(bad);
        ASSERT_TRUE(f.open(QIODevice::WriteOnly));
        f.write(junk);
    }
    SessionBrowser browser;
    std::vector<bool> listed;
    QObject::connect(&browser, &SessionBrowser::sessionListed, [&](bool ok, const QString&) { listed.push_back(ok); });
    browser.openSession(bad.toStdString());
    ASSERT_TRUE(waitUntil([&] { return !listed.empty(); }));
    EXPECT_FALSE(listed.back());
    auto* status = browser.findChild<QLabel*>(QStringLiteral("sessionStatus"));
    ASSERT_NE(status, nullptr);
    EXPECT_TRUE(status->text().contains(QStringLiteral("bad.attnlab"))) << status->text().toStdString();

    std::vector<bool> saves;
    QObject::connect(&browser, &SessionBrowser::saveFinished, [&](bool ok, const QString&) { saves.push_back(ok); });
    browser.saveRun(comparison("sky"));
    ASSERT_TRUE(waitUntil([&] { return saves.size() == 1; }));
    EXPECT_FALSE(saves[0]);
    EXPECT_EQ(browser.unsavedRuns(), 1);
    auto* retry = browser.findChild<QPushButton*>(QStringLiteral("sessionRetry"));
    ASSERT_NE(retry, nullptr);
    EXPECT_FALSE(retry->isHidden());
    QFile f(bad);
    ASSERT_TRUE(f.open(QIODevice::ReadOnly));
    EXPECT_EQ(f.readAll(), junk) << "the damaged file was modified";

    // Open a good session instead: "Save again" saves the kept comparison there.
    const std::string good = dir.filePath(QStringLiteral("good.attnlab")).toStdString();
    browser.openSession(good);
    ASSERT_TRUE(waitUntil([&] { return listed.size() == 2; }));
    EXPECT_TRUE(listed.back());
    retry->click();
    ASSERT_TRUE(waitUntil([&] { return saves.size() == 2; }));
    EXPECT_TRUE(saves[1]);
    EXPECT_EQ(browser.unsavedRuns(), 0);
    EXPECT_EQ(browser.summary()["run_ids"].size(), 2u);
}

QStringList appArgs(std::initializer_list<const char*> list) {
    QStringList out{QStringLiteral("attnlab")};
    for (const char* a : list) out << QString::fromUtf8(a);
    return out;
}

TEST(CommandLine, OpenRunAndSession) {
    const ParsedCommandLine p =
        parseCommandLine(appArgs({"--session", "s.attnlab", "--open-run", "7", "--export-figure", "mask:m.png"}));
    ASSERT_TRUE(p.is_ok) << p.error;
    EXPECT_EQ(p.options.open_run, 7);
    EXPECT_EQ(p.options.session_file, "s.attnlab");
    EXPECT_FALSE(p.options.is_run);
    auto error = [](std::initializer_list<const char*> list) { return parseCommandLine(appArgs(list)).error; };
    EXPECT_NE(error({"--open-run", "x"}).find("run id"), std::string::npos);
    EXPECT_NE(error({"--open-run", "0"}).find("run id"), std::string::npos);
    EXPECT_NE(error({"--run", "--open-run", "3"}).find("at most one"), std::string::npos);
    EXPECT_NE(error({"--export-figure", "attention:a.png"}).find("--open-run"), std::string::npos);
    // QApplication takes --session out of its arguments; it is read from argv first.
    const char* argv[] = {"attnlab", "--run", "--session", "a.attnlab", "--session=b.attnlab", "-session", "c.attnlab"};
    EXPECT_EQ(sessionFromRawArguments(3, argv), "");
    EXPECT_EQ(sessionFromRawArguments(4, argv), "a.attnlab");
    EXPECT_EQ(sessionFromRawArguments(5, argv), "b.attnlab");
    EXPECT_EQ(sessionFromRawArguments(7, argv), "c.attnlab");
}

StrategyCatalog presetCatalog() {
    StrategyCatalog c;
    c.strategies.push_back(StrategyInfo{"full", "Full attention.", {}, "", "built-in"});
    c.strategies.push_back(StrategyInfo{
        "streaming",
        "Sinks and a window.",
        {{"budget", ParamType::Budget, "25%", 1, 1e9, "entries kept"}, {"sink", ParamType::Int, "4", 0, 1e6, "sinks"}},
        "",
        "plugin"});
    return c;
}

TEST(StrategyPresets, SaveApplyAndDeleteThroughTheJsonFile) {
    QTemporaryDir dir;
    const std::string path = dir.filePath(QStringLiteral("config/attnlab/presets.json")).toStdString();
    StrategyPanel panel;
    panel.setPresetsFile(path);
    panel.setCatalog(presetCatalog());
    EXPECT_TRUE(panel.presetNames().empty());
    std::string error;
    ASSERT_TRUE(panel.applySpecs({"streaming:budget=40,sink=2"}, &error)) << error;
    ASSERT_TRUE(panel.savePreset("tight", &error)) << error;
    ASSERT_TRUE(panel.applySpecs({"full", "streaming:budget=50%"}, &error)) << error;
    ASSERT_TRUE(panel.savePreset("wide", &error)) << error;

    auto loaded = loadPresets(path);
    ASSERT_TRUE(loaded) << loaded.error();
    ASSERT_EQ(loaded->size(), 2u);
    EXPECT_EQ((*loaded)[0].name, "tight");
    EXPECT_EQ((*loaded)[0].specs, (std::vector<std::string>{"streaming:budget=40,sink=2"}));

    StrategyPanel other;  // another window reads the same file
    other.setPresetsFile(path);
    other.setCatalog(presetCatalog());
    EXPECT_EQ(other.presetNames(), (std::vector<std::string>{"tight", "wide"}));
    ASSERT_TRUE(other.applyPreset("tight", &error)) << error;
    EXPECT_EQ(other.checkedSpecs(), (std::vector<std::string>{"streaming:budget=40,sink=2"}));
    ASSERT_TRUE(other.applyPreset("wide", &error)) << error;
    EXPECT_EQ(other.checkedSpecs(), (std::vector<std::string>{"full", "streaming:budget=50%,sink=4"}));
    EXPECT_FALSE(other.applyPreset("nosuch", &error));

    ASSERT_TRUE(panel.deletePreset("tight", &error)) << error;
    EXPECT_EQ(panel.presetNames(), (std::vector<std::string>{"wide"}));
    // A preset naming a strategy this build lacks says which ones exist.
    ASSERT_TRUE(savePresets(path, {StrategyPreset{"old", {"snapkv:budget=64"}}}).isOk());
    panel.setPresetsFile(path);
    EXPECT_FALSE(panel.applyPreset("old", &error));
    EXPECT_NE(error.find("full, streaming"), std::string::npos) << error;
}

TEST(StrategyPresets, MalformedFileIsReportedAndNeverOverwritten) {
    QTemporaryDir dir;
    const QString file = dir.filePath(QStringLiteral("presets.json"));
    const QByteArray text("{\"version\": 1, \"presets\": [{\"name\": \"x\"}]}");
    {
        QFile f(file);
        ASSERT_TRUE(f.open(QIODevice::WriteOnly));
        f.write(text);
    }
    StrategyPanel panel;
    panel.setPresetsFile(file.toStdString());
    panel.setCatalog(presetCatalog());
    auto* status = panel.findChild<QLabel*>(QStringLiteral("presetStatus"));
    ASSERT_NE(status, nullptr);
    EXPECT_TRUE(status->text().contains(QStringLiteral("presets.json"))) << status->text().toStdString();
    EXPECT_TRUE(status->text().contains(QStringLiteral("strategies"))) << status->text().toStdString();
    std::string error;
    EXPECT_FALSE(panel.savePreset("mine", &error));
    EXPECT_NE(error.find("presets.json"), std::string::npos) << error;
    QFile f(file);
    ASSERT_TRUE(f.open(QIODevice::ReadOnly));
    EXPECT_EQ(f.readAll(), text);
    for (const char* bad : {"not json", "[1]", "{\"version\": 2, \"presets\": []}"}) {
        QFile w(file);
        ASSERT_TRUE(w.open(QIODevice::WriteOnly | QIODevice::Truncate));
        w.write(bad);
        w.close();
        EXPECT_FALSE(loadPresets(file.toStdString())) << bad;
    }
}

}  // namespace
}  // namespace attnlab
