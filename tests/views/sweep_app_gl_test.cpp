// The app end to end for issue 7's budget sweep and cross-session difference map (label gl: the app's
// canvases need GL, so ctest runs this under xvfb-run): a sweep over budgets from --run, the committed
// quality benchmark from --sweep-json, and --diff across two session files, each exported as a figure
// with --quit-when-done.
#include <gtest/gtest.h>

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <nlohmann/json.hpp>

namespace {

const QString kSourceDir = QStringLiteral(ATTNLAB_SOURCE_DIR);
const QString kAppPath = QStringLiteral(ATTNLAB_APP_PATH);

struct AppRun {
    int exit_code = -1;
    nlohmann::json summary;
    QString stderr_text;
};

AppRun runApp(QStringList arguments) {
    arguments << QStringLiteral("--model") << kSourceDir + QStringLiteral("/assets/models/attnlab-demo")
              << QStringLiteral("--quit-when-done");
    QProcess p;
    p.start(kAppPath, arguments);
    AppRun r;
    if (!p.waitForFinished(180000)) p.kill();
    r.exit_code = p.exitCode();
    r.stderr_text = QString::fromUtf8(p.readAllStandardError());
    const QList<QByteArray> lines = p.readAllStandardOutput().trimmed().split('\n');
    if (!lines.isEmpty()) r.summary = nlohmann::json::parse(lines.last().toStdString(), nullptr, false);
    return r;
}

QString readText(const QString& path) {
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? QString::fromUtf8(f.readAll()) : QString();
}

TEST(SweepApp, BudgetsFromRunAndCommittedResultsAsFigures) {
    QTemporaryDir dir;
    const QString session = dir.filePath(QStringLiteral("s.attnlab"));
    const QString svg = dir.filePath(QStringLiteral("sweep.svg"));
    AppRun run = runApp({"--session", session, "--task", "needle:length=64,depth=0.5", "--strategy", "streaming",
                         "--strategy", "snapkv", "--run", "--sweep-budgets", "16,32", "--export-figure",
                         "sweep:" + svg});
    ASSERT_EQ(run.exit_code, 0) << run.stderr_text.toStdString() << run.summary.dump();
    ASSERT_TRUE(run.summary.is_object());
    const auto& columns = run.summary["columns"];
    ASSERT_EQ(columns.size(), 5u) << "full, then two budgets for each strategy (in the Strategies dock's order)";
    EXPECT_EQ(columns[0]["strategy"], "full");
    EXPECT_EQ(columns[1]["strategy"], "snapkv:budget=16,kernel=7,window=32");
    EXPECT_EQ(columns[2]["strategy"], "snapkv:budget=32,kernel=7,window=32");
    EXPECT_EQ(columns[4]["strategy"], "streaming:budget=32,sink=4");
    const QString text = readText(svg);
    for (const char* needle : {"streaming", "snapkv", "full (reference)", "KV cache kept"})
        EXPECT_TRUE(text.contains(QString::fromUtf8(needle))) << needle;

    const QString png = dir.filePath(QStringLiteral("bench.png"));
    AppRun bench = runApp({"--session", session, "--sweep-json",
                           kSourceDir + "/tests/bench/results/quality_bench-2026-11-28.json", "--export-figure",
                           "sweep:" + png});
    ASSERT_EQ(bench.exit_code, 0) << bench.stderr_text.toStdString() << bench.summary.dump();
    EXPECT_EQ(bench.summary["figures"][0]["view"], "sweep");
    EXPECT_TRUE(QFile::exists(png));

    AppRun bad = runApp({"--session", session, "--sweep-json", dir.filePath(QStringLiteral("missing.json")),
                         "--export-figure", "sweep:" + dir.filePath(QStringLiteral("x.png"))});
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.summary.dump().find("missing.json"), std::string::npos) << bad.summary.dump();
}

TEST(SweepApp, DiffAcrossTwoSessionFiles) {
    QTemporaryDir dir;
    const QString a = dir.filePath(QStringLiteral("a.attnlab")), b = dir.filePath(QStringLiteral("b.attnlab"));
    const QStringList task{"--task", "needle:length=64,depth=0.5"};
    AppRun ra = runApp(QStringList{"--session", a, "--strategy", "streaming:budget=16", "--run"} + task);
    ASSERT_EQ(ra.exit_code, 0) << ra.summary.dump();
    AppRun rb = runApp(QStringList{"--session", b, "--strategy", "snapkv:budget=16", "--run"} + task);
    ASSERT_EQ(rb.exit_code, 0) << rb.summary.dump();
    const int64_t id_a = ra.summary["session"]["run_ids"][0].get<int64_t>();
    const int64_t id_b = rb.summary["session"]["run_ids"][0].get<int64_t>();
    const QString svg = dir.filePath(QStringLiteral("diff.svg"));
    AppRun diff = runApp({"--session", a, "--diff", QStringLiteral("#%1:%2#%3").arg(id_a).arg(b).arg(id_b),
                          "--head", "1:2", "--export-figure", "diff:" + svg});
    ASSERT_EQ(diff.exit_code, 0) << diff.stderr_text.toStdString() << diff.summary.dump();
    const QString text = readText(svg);
    EXPECT_TRUE(text.contains(QStringLiteral("a.attnlab#%1").arg(id_a)));
    EXPECT_TRUE(text.contains(QStringLiteral("b.attnlab#%1").arg(id_b)));

    // Another prompt in session C: the error names both runs.
    const QString c = dir.filePath(QStringLiteral("c.attnlab"));
    AppRun rc = runApp({"--session", c, "--strategy", "streaming:budget=16", "--run", "--task",
                        "needle:length=64,depth=0.5,seed=3"});
    ASSERT_EQ(rc.exit_code, 0) << rc.summary.dump();
    AppRun mismatch = runApp({"--session", a, "--diff", QStringLiteral("#%1:%2#1").arg(id_a).arg(c),
                              "--export-figure", "diff:" + dir.filePath(QStringLiteral("bad.svg"))});
    EXPECT_EQ(mismatch.exit_code, 1);
    const std::string errors = mismatch.summary["errors"].dump();
    EXPECT_NE(errors.find("a.attnlab#"), std::string::npos) << errors;
    EXPECT_NE(errors.find("c.attnlab#1"), std::string::npos) << errors;
    EXPECT_NE(errors.find("same prompt"), std::string::npos) << errors;
}

}  // namespace

int main(int argc, char** argv) {
    if (qEnvironmentVariableIsEmpty("DISPLAY")) {
        std::fprintf(stderr, "gl tests need an X display: run them under xvfb-run (ctest does)\n");
        return 1;
    }
    QCoreApplication app(argc, argv);
    // The apps started here autosave into a temporary data folder, not into $HOME.
    QTemporaryDir data;
    qputenv("XDG_DATA_HOME", data.path().toUtf8());
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
