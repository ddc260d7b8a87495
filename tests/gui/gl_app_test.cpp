// GL tests (label `gl`), run under Xvfb (ctest wraps this binary in xvfb-run; the `offscreen`
// platform has no GL). The app is started as a user would start it, on the default model, and
// its figures are compared with reviewed snapshots under tests/fixtures/snapshots/. Snapshots
// are our own output, updated only with ATTNLAB_UPDATE_SNAPSHOTS=1 (then review the PNGs).
// In-process tests check the canvases themselves: idle canvases draw nothing, input repaints.
#include <gtest/gtest.h>

#include <QApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QAction>
#include <QImage>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QTextCursor>
#include <QProcess>
#include <QStandardPaths>
#include <QXmlStreamReader>
#include <QTest>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "app/gui/input_panel.h"
#include "app/gui/main_window.h"
#include "app/gui/results_panel.h"
#include "core/session/run_record.h"
#include "views/attention_model.h"
#include "views/attention_view.h"
#include "views/head_grid_view.h"
#include "views/imgui_canvas.h"

namespace attnlab {
namespace {

const QString kSourceDir = QStringLiteral(ATTNLAB_SOURCE_DIR);
const QString kAppPath = QStringLiteral(ATTNLAB_APP_PATH);
const QString kOutDir = QStringLiteral(ATTNLAB_TEST_OUT_DIR);

struct AppRun {
    int exit_code = -1;
    bool is_finished = false;
    nlohmann::json summary;
    QString stderr_text;
};

AppRun runApp(const QStringList& arguments, int timeout_ms = 240000) {
    QProcess p;
    p.setProgram(kAppPath);
    p.setArguments(arguments);
    p.start();
    AppRun r;
    r.is_finished = p.waitForFinished(timeout_ms);
    if (!r.is_finished) p.kill();
    r.exit_code = p.exitCode();
    r.stderr_text = QString::fromUtf8(p.readAllStandardError());
    const QList<QByteArray> lines = p.readAllStandardOutput().trimmed().split('\n');
    if (!lines.isEmpty()) r.summary = nlohmann::json::parse(lines.last().toStdString(), nullptr, false);
    return r;
}

struct ImageDiff {
    double mean_abs = 0;          // mean over pixels and RGB channels, in 0..255
    double share_different = 0;   // pixels with a channel off by more than kPixelTolerance
};

constexpr int kPixelTolerance = 24;

ImageDiff compare(const QImage& a, const QImage& b, QImage* amplified) {
    ImageDiff d;
    *amplified = QImage(a.size(), QImage::Format_RGB32);
    int64_t different = 0;
    double sum = 0;
    for (int y = 0; y < a.height(); ++y) {
        for (int x = 0; x < a.width(); ++x) {
            const QRgb p = a.pixel(x, y), q = b.pixel(x, y);
            const int dr = std::abs(qRed(p) - qRed(q)), dg = std::abs(qGreen(p) - qGreen(q)),
                      db = std::abs(qBlue(p) - qBlue(q));
            sum += dr + dg + db;
            const int worst = std::max({dr, dg, db});
            if (worst > kPixelTolerance) ++different;
            const int v = std::min(255, worst * 8);  // RenderDoc habit: an amplified diff to look at
            amplified->setPixel(x, y, qRgb(v, v, v));
        }
    }
    const double pixels = double(a.width()) * double(a.height());
    d.mean_abs = sum / (pixels * 3);
    d.share_different = double(different) / pixels;
    return d;
}

// Compares a figure with its reviewed snapshot; with ATTNLAB_UPDATE_SNAPSHOTS=1 replaces it.
void expectMatchesSnapshot(const QString& actual_path, const QString& name) {
    const QString snapshot = kSourceDir + QStringLiteral("/tests/fixtures/snapshots/") + name;
    const QImage actual(actual_path);
    ASSERT_FALSE(actual.isNull()) << actual_path.toStdString() << " is not a readable PNG";
    if (qEnvironmentVariableIntValue("ATTNLAB_UPDATE_SNAPSHOTS") == 1) {
        QDir().mkpath(QFileInfo(snapshot).absolutePath());
        ASSERT_TRUE(actual.save(snapshot, "PNG"));
        std::printf("updated snapshot %s: review it before committing\n", snapshot.toStdString().c_str());
        return;
    }
    const QImage expected(snapshot);
    ASSERT_FALSE(expected.isNull()) << "no reviewed snapshot " << snapshot.toStdString()
                                    << " (a new default model?): run this test with ATTNLAB_UPDATE_SNAPSHOTS=1, "
                                       "look at the PNG, commit it";
    ASSERT_EQ(actual.size(), expected.size());
    QImage amplified;
    const ImageDiff d = compare(actual.convertToFormat(QImage::Format_RGB32),
                                expected.convertToFormat(QImage::Format_RGB32), &amplified);
    // Tolerance: font hinting and rasteriser differences between machines, not a changed picture.
    const bool is_same = d.mean_abs <= 1.5 && d.share_different <= 0.005;
    if (!is_same) {
        const QString base = kOutDir + QStringLiteral("/") + QFileInfo(name).completeBaseName();
        actual.save(base + QStringLiteral(".actual.png"));
        amplified.save(base + QStringLiteral(".diff.png"));
        ADD_FAILURE() << name.toStdString() << " differs from its snapshot: mean |diff| " << d.mean_abs << ", "
                      << 100 * d.share_different << "% of pixels off by more than " << kPixelTolerance << "; see "
                      << base.toStdString() << ".actual.png and .diff.png";
    }
}

// The app's SVG and PDF exports hold what a paper figure needs (the fast figure tests check the
// renderer in detail on synthetic data; this checks the app's path on a real run).
void expectVectorFigures(const QString& timeline_svg, const QString& diff_pdf, const QString& attention_pdf) {
    QFile svg(timeline_svg);
    ASSERT_TRUE(svg.open(QIODevice::ReadOnly)) << timeline_svg.toStdString();
    QXmlStreamReader xml(&svg);
    QStringList texts;
    int rects = 0;
    while (!xml.atEnd()) {
        xml.readNext();
        if (xml.isStartElement() && xml.name() == QLatin1String("rect")) ++rects;
        if (xml.isStartElement() && xml.name() == QLatin1String("text")) texts << xml.readElementText().trimmed();
    }
    EXPECT_FALSE(xml.hasError()) << xml.errorString().toStdString();
    const QString all = texts.join(QLatin1Char('\n'));
    EXPECT_TRUE(all.contains(QStringLiteral("KV cache · streaming:"))) << all.toStdString();
    for (const char* label : {"prefill", "step 0", "alive", "evicted at this step", "token position"})
        EXPECT_TRUE(texts.contains(QLatin1String(label))) << label;
    EXPECT_GT(rects, 20);
    const QString pdftotext = QStandardPaths::findExecutable(QStringLiteral("pdftotext"));
    if (pdftotext.isEmpty()) {
        ADD_FAILURE() << "pdftotext (poppler-utils) not found";
        return;
    }
    for (const QString& pdf : {diff_pdf, attention_pdf}) {
        QProcess p;
        p.start(pdftotext, {pdf, QStringLiteral("-")});
        ASSERT_TRUE(p.waitForFinished(20000));
        const QString text = QString::fromUtf8(p.readAllStandardOutput());
        EXPECT_TRUE(text.contains(pdf == diff_pdf ? QStringLiteral("attention (streaming:") : QStringLiteral("Attention · full")))
            << pdf.toStdString() << ":\n" << text.toStdString();
        EXPECT_TRUE(text.contains(QStringLiteral("key token"))) << pdf.toStdString();
        EXPECT_TRUE(text.contains(QStringLiteral("strategy")) || text.contains(QStringLiteral("A = full")));
    }
    QProcess info;
    info.start(QStandardPaths::findExecutable(QStringLiteral("pdfinfo")), {attention_pdf});
    ASSERT_TRUE(info.waitForFinished(20000));
    // 640x480 at 96 per inch = 480 x 360 pt.
    EXPECT_TRUE(QString::fromUtf8(info.readAllStandardOutput()).contains(QStringLiteral("480 x 360 pts")));
}

TEST(App, RunsFullAndStreamingAndExportsFigures) {
    QDir().mkpath(kOutDir);
    const QString attention = kOutDir + QStringLiteral("/attention.png");
    const QString mask = kOutDir + QStringLiteral("/mask.png");
    const QString window = kOutDir + QStringLiteral("/window.png");
    // Vector figures of the new views and of the attention view, through the same renderer.
    const QString timeline_svg = kOutDir + QStringLiteral("/timeline.svg");
    const QString diff_pdf = kOutDir + QStringLiteral("/diff.pdf");
    const QString attention_pdf = kOutDir + QStringLiteral("/attention.pdf");
    for (const QString& f : {attention, mask, window, timeline_svg, diff_pdf, attention_pdf}) QFile::remove(f);
    const AppRun r = runApp({QStringLiteral("--strategy"), QStringLiteral("full"), QStringLiteral("--strategy"),
                             QStringLiteral("streaming"), QStringLiteral("--run"), QStringLiteral("--export-figure"),
                             QStringLiteral("attention:") + attention, QStringLiteral("--export-figure"),
                             QStringLiteral("mask:") + mask, QStringLiteral("--export-figure"),
                             QStringLiteral("timeline:") + timeline_svg, QStringLiteral("--export-figure"),
                             QStringLiteral("diff:") + diff_pdf, QStringLiteral("--export-figure"),
                             QStringLiteral("attention:") + attention_pdf, QStringLiteral("--figure-size"),
                             QStringLiteral("640x480"), QStringLiteral("--screenshot"), window,
                             QStringLiteral("--quit-when-done")});
    ASSERT_TRUE(r.is_finished) << "the app did not quit";
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text.toStdString();
    ASSERT_TRUE(r.summary.is_object()) << "no JSON summary; stderr: " << r.stderr_text.toStdString();
    const auto& s = r.summary;
    EXPECT_TRUE(s["ok"].get<bool>()) << s.dump();
    EXPECT_TRUE(s["model"]["loaded"].get<bool>());
    // Both result columns are filled.
    ASSERT_EQ(s["columns"].size(), 2u) << s.dump();
    EXPECT_EQ(s["columns"][0]["strategy"], "full");
    EXPECT_EQ(s["columns"][1]["strategy"].get<std::string>().rfind("streaming:", 0), 0u);
    for (const auto& c : s["columns"]) {
        EXPECT_FALSE(c["output_text"].get<std::string>().empty()) << c.dump();
        EXPECT_EQ(c["metrics"].count("KL vs full"), 1u);
        EXPECT_EQ(c["metrics"].count("accuracy"), 1u);  // the default input is the needle task
    }
    EXPECT_EQ(s["columns"][0]["metrics"]["KL vs full"], "0.0000");
    // The views are filled, the mask view with the strategy's kept set.
    EXPECT_TRUE(s["views"]["attention"].get<bool>());
    EXPECT_TRUE(s["views"]["mask"].get<bool>());
    EXPECT_TRUE(s["views"]["mask_has_kept_set"].get<bool>());
    ASSERT_EQ(s["figures"].size(), 5u) << s.dump();
    EXPECT_EQ(s["figures"][0]["width"], 640);
    expectVectorFigures(timeline_svg, diff_pdf, attention_pdf);

    const std::string model = QFileInfo(QString::fromStdString(s["model"]["dir"].get<std::string>())).fileName().toStdString();
    expectMatchesSnapshot(attention, QString::fromStdString("attention_" + model + ".png"));
    expectMatchesSnapshot(mask, QString::fromStdString("mask_" + model + ".png"));
    const QImage shot(window);
    EXPECT_FALSE(shot.isNull());
    EXPECT_GT(shot.width(), 800);
}

void removeSession(const QString& path) {
    for (const QString& suffix : {QString(), QStringLiteral("-wal"), QStringLiteral("-shm")}) QFile::remove(path + suffix);
}

// Autosave, then `--open-run`: the reopened comparison fills the same columns and views, and its
// figures are the fresh run's figures, pixel for pixel (nothing is recomputed: the model is not asked).
TEST(App, AutosavesEveryRunAndReopensItWithoutRecomputing) {
    QDir().mkpath(kOutDir);
    const QString session = kOutDir + QStringLiteral("/autosave.attnlab");
    removeSession(session);
    const QString fresh_attention = kOutDir + QStringLiteral("/fresh_attention.png");
    const QString fresh_mask = kOutDir + QStringLiteral("/fresh_mask.png");
    const QString fresh_timeline = kOutDir + QStringLiteral("/fresh_timeline.png");
    const QString fresh_diff = kOutDir + QStringLiteral("/fresh_diff.png");
    const AppRun first = runApp({QStringLiteral("--session"), session, QStringLiteral("--strategy"), QStringLiteral("full"),
                                 QStringLiteral("--strategy"), QStringLiteral("streaming"), QStringLiteral("--run"),
                                 QStringLiteral("--export-figure"), QStringLiteral("attention:") + fresh_attention,
                                 QStringLiteral("--export-figure"), QStringLiteral("mask:") + fresh_mask,
                                 QStringLiteral("--export-figure"), QStringLiteral("timeline:") + fresh_timeline,
                                 QStringLiteral("--export-figure"), QStringLiteral("diff:") + fresh_diff,
                                 QStringLiteral("--figure-size"), QStringLiteral("480x360"),
                                 QStringLiteral("--quit-when-done")});
    ASSERT_TRUE(first.is_finished);
    ASSERT_EQ(first.exit_code, 0) << first.stderr_text.toStdString() << first.summary.dump();
    const auto& saved = first.summary["session"];
    EXPECT_EQ(saved["path"], session.toStdString());
    EXPECT_TRUE(saved["ok"].get<bool>()) << saved.dump();
    ASSERT_EQ(saved["run_ids"].size(), 2u) << saved.dump();

    {  // What the session holds: both columns, with the attention the views need.
        auto store = SessionStore::open(session.toStdString(), SessionOpenOptions{false, true});
        ASSERT_TRUE(store) << store.error();
        auto entries = listSessionEntries(*store);
        ASSERT_TRUE(entries) << entries.error();
        ASSERT_EQ(entries->size(), 1u);
        EXPECT_TRUE(entries->front().has_view_data);
        EXPECT_EQ(entries->front().strategies.size(), 2u);
        auto models = store->listModels();  // hashed on the session thread, not at load
        ASSERT_TRUE(models) << models.error();
        ASSERT_EQ(models->size(), 1u);
        EXPECT_EQ(models->front().content_hash.rfind("fnv1a64:", 0), 0u) << models->front().content_hash;
        std::printf("session with one full+streaming comparison: %lld bytes\n",
                    static_cast<long long>(QFileInfo(session).size() + QFileInfo(session + QStringLiteral("-wal")).size()));
    }

    const QString attention = kOutDir + QStringLiteral("/reopened_attention.png");
    const QString mask = kOutDir + QStringLiteral("/reopened_mask.png");
    const QString timeline = kOutDir + QStringLiteral("/reopened_timeline.png");
    const QString diff = kOutDir + QStringLiteral("/reopened_diff.png");
    const int64_t streaming_id = saved["run_ids"][1].get<int64_t>();
    const AppRun again = runApp({QStringLiteral("--session"), session, QStringLiteral("--open-run"),
                                 QString::number(streaming_id), QStringLiteral("--export-figure"),
                                 QStringLiteral("attention:") + attention, QStringLiteral("--export-figure"),
                                 QStringLiteral("mask:") + mask, QStringLiteral("--export-figure"),
                                 QStringLiteral("timeline:") + timeline, QStringLiteral("--export-figure"),
                                 QStringLiteral("diff:") + diff, QStringLiteral("--figure-size"),
                                 QStringLiteral("480x360"), QStringLiteral("--quit-when-done")});
    ASSERT_TRUE(again.is_finished);
    ASSERT_EQ(again.exit_code, 0) << again.stderr_text.toStdString() << again.summary.dump();
    const auto& s = again.summary;
    EXPECT_EQ(s["opened_run"], streaming_id);
    EXPECT_FALSE(s.contains("wall_ms")) << "a run was computed";
    ASSERT_EQ(s["columns"].size(), 2u);
    EXPECT_EQ(s["columns"], first.summary["columns"]);
    EXPECT_EQ(s["input"], first.summary["input"]);
    EXPECT_TRUE(s["views"]["attention"].get<bool>());
    EXPECT_TRUE(s["views"]["mask"].get<bool>());
    EXPECT_TRUE(s["views"]["mask_has_kept_set"].get<bool>());
    EXPECT_EQ(s["session"]["run_ids"].size(), 0u) << "reopening saved something";
    for (const auto& [a, b] : {std::pair{fresh_attention, attention}, std::pair{fresh_mask, mask},
                               std::pair{fresh_timeline, timeline}, std::pair{fresh_diff, diff}}) {
        const QImage x(a), y(b);
        ASSERT_FALSE(x.isNull());
        ASSERT_FALSE(y.isNull());
        ASSERT_EQ(x.size(), y.size());
        QImage amplified;
        const ImageDiff d = compare(x.convertToFormat(QImage::Format_RGB32), y.convertToFormat(QImage::Format_RGB32), &amplified);
        EXPECT_EQ(d.share_different, 0.0) << b.toStdString() << " differs from " << a.toStdString();
    }

    // A run id the session does not have: one clear error, no crash.
    const AppRun missing = runApp({QStringLiteral("--session"), session, QStringLiteral("--open-run"),
                                   QStringLiteral("999"), QStringLiteral("--quit-when-done")});
    ASSERT_TRUE(missing.is_finished);
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_NE(missing.summary["errors"].dump().find("999"), std::string::npos) << missing.summary.dump();
    // A session file that does not exist is an error, and --open-run does not create it.
    const QString nowhere = kOutDir + QStringLiteral("/no-such-session.attnlab");
    removeSession(nowhere);
    const AppRun absent = runApp({QStringLiteral("--session"), nowhere, QStringLiteral("--open-run"), QStringLiteral("1"),
                                  QStringLiteral("--quit-when-done")});
    ASSERT_TRUE(absent.is_finished);
    EXPECT_EQ(absent.exit_code, 1);
    EXPECT_NE(absent.summary["errors"].dump().find("no such session file"), std::string::npos) << absent.summary.dump();
    EXPECT_FALSE(QFileInfo::exists(nowhere));
}

// A damaged session file: the window says so, the run still shows, the file is not touched.
TEST(App, DamagedSessionIsReportedAndTheRunStillShows) {
    QDir().mkpath(kOutDir);
    const QString session = kOutDir + QStringLiteral("/damaged.attnlab");
    removeSession(session);
    QByteArray bytes("SQLite format 3");
    bytes.append('\0');
    for (int i = 0; i < 4096; ++i) bytes.append(static_cast<char>((i * 131 + 7) & 0xff));
    {
        QFile f(session);
        ASSERT_TRUE(f.open(QIODevice::WriteOnly));
        f.write(bytes);
    }
    const AppRun r = runApp({QStringLiteral("--session"), session, QStringLiteral("--strategy"), QStringLiteral("full"),
                             QStringLiteral("--run"), QStringLiteral("--quit-when-done")});
    ASSERT_TRUE(r.is_finished) << "the app did not quit";
    ASSERT_TRUE(r.summary.is_object()) << "no summary (crash?): " << r.stderr_text.toStdString();
    EXPECT_EQ(r.exit_code, 1);
    ASSERT_EQ(r.summary["columns"].size(), 1u) << r.summary.dump();
    EXPECT_FALSE(r.summary["columns"][0]["output_text"].get<std::string>().empty());
    EXPECT_FALSE(r.summary["session"]["ok"].get<bool>());
    EXPECT_EQ(r.summary["session"]["unsaved_comparisons"], 1);
    const std::string error = r.summary["session"]["error"].get<std::string>();
    EXPECT_NE(error.find("damaged.attnlab"), std::string::npos) << error;
    EXPECT_NE(r.summary["errors"].dump().find("Not saved"), std::string::npos) << r.summary.dump();
    QFile f(session);
    ASSERT_TRUE(f.open(QIODevice::ReadOnly));
    EXPECT_EQ(f.readAll(), bytes) << "the damaged file was modified";
    EXPECT_FALSE(QFileInfo::exists(session + QStringLiteral("-wal")));
}

TEST(App, BadModelIsReportedNotACrash) {
    const AppRun r = runApp({QStringLiteral("--model"), QStringLiteral("/nonexistent/model"), QStringLiteral("--run"),
                             QStringLiteral("--quit-when-done")});
    ASSERT_TRUE(r.is_finished);
    EXPECT_EQ(r.exit_code, 1);
    ASSERT_TRUE(r.summary.is_object()) << r.stderr_text.toStdString();
    EXPECT_FALSE(r.summary["ok"].get<bool>());
    EXPECT_FALSE(r.summary["model"]["loaded"].get<bool>());
    EXPECT_NE(r.summary["model"]["error"].get<std::string>().find("/nonexistent/model"), std::string::npos);
}

TEST(App, BadStrategyNamesTheValidChoices) {
    const AppRun r = runApp({QStringLiteral("--strategy"), QStringLiteral("nosuch"), QStringLiteral("--run"),
                             QStringLiteral("--quit-when-done")});
    ASSERT_TRUE(r.is_finished);
    EXPECT_EQ(r.exit_code, 1);
    ASSERT_TRUE(r.summary.is_object());
    const std::string errors = r.summary["errors"].dump();
    EXPECT_NE(errors.find("nosuch"), std::string::npos) << errors;
    EXPECT_NE(errors.find("streaming"), std::string::npos) << errors;
    EXPECT_EQ(r.summary["columns"].size(), 0u);
}

std::shared_ptr<ComparisonData> tinyData() {
    auto d = std::make_shared<ComparisonData>();
    d->layers = 2;
    d->heads = 2;
    d->kv_heads = 1;
    d->prompt_tokens = {"a", "b", "c"};
    RunData run;
    run.spec = "full";
    for (int64_t l = 0; l < 2; ++l) {
        for (int64_t h = 0; h < 2; ++h) {
            AttentionMatrix m;
            m.layer = l;
            m.head = h;
            m.rows = m.cols = 3;
            m.probs = {1, 0, 0, 0.5f, 0.5f, 0, 0.2f, 0.3f, 0.5f};
            m.query_positions = m.key_positions = {0, 1, 2};
            run.captures.push_back(m);
        }
    }
    d->runs.push_back(run);
    return d;
}

template <class F>
void spin(int ms, F until) {
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < ms && !until()) QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
}

TEST(Canvas, RepaintsOnlyOnInputOrNewData) {
    AttentionView view(AttentionView::Mode::Attention);
    view.resize(640, 480);
    view.show();
    ASSERT_TRUE(QTest::qWaitForWindowExposed(&view));
    auto* canvas = view.findChild<ImGuiCanvas*>(QStringLiteral("attentionCanvas"));
    ASSERT_NE(canvas, nullptr);
    spin(2000, [&] { return canvas->framesDrawn() > 0; });
    spin(300, [] { return false; });
    const int64_t settled = canvas->framesDrawn();
    ASSERT_GT(settled, 0);
    spin(500, [] { return false; });
    EXPECT_EQ(canvas->framesDrawn(), settled) << "an idle canvas kept drawing";

    view.setData(tinyData());
    spin(1000, [&] { return canvas->framesDrawn() > settled; });
    EXPECT_GT(canvas->framesDrawn(), settled);
    spin(300, [] { return false; });
    const int64_t after_data = canvas->framesDrawn();
    QTest::mouseMove(canvas, QPoint(200, 200));
    spin(1000, [&] { return canvas->framesDrawn() > after_data; });
    EXPECT_GT(canvas->framesDrawn(), after_data) << "mouse input did not repaint";
    spin(300, [] { return false; });
    const int64_t after_input = canvas->framesDrawn();
    spin(500, [] { return false; });
    EXPECT_EQ(canvas->framesDrawn(), after_input);

    QString error;
    const QImage figure = view.renderFigure(QSize(320, 240), &error);
    ASSERT_FALSE(figure.isNull()) << error.toStdString();
    EXPECT_EQ(figure.size(), QSize(320, 240));
}

// Row/column focus: a click on a cell focuses its query row, a right-click its key column, and the
// input dock tints the prompt text token by token; the same click again clears it.
TEST(Canvas, ClickFocusesARowAndTintsThePromptText) {
    AttentionView view(AttentionView::Mode::Attention);
    InputPanel panel;
    QObject::connect(&view, &AttentionView::tokenFocusChanged, &panel, &InputPanel::showTokenFocus);
    std::vector<TokenFocus> focuses;
    QObject::connect(&view, &AttentionView::tokenFocusChanged, [&](const TokenFocus& f) { focuses.push_back(f); });
    view.resize(640, 480);
    view.setData(tinyData());
    view.show();
    panel.show();
    ASSERT_TRUE(QTest::qWaitForWindowExposed(&view));
    auto* canvas = view.findChild<ImGuiCanvas*>(QStringLiteral("attentionCanvas"));
    ASSERT_NE(canvas, nullptr);
    spin(2000, [&] { return canvas->framesDrawn() > 0; });
    const QPoint middle(canvas->width() / 2, canvas->height() / 2);
    auto click = [&](Qt::MouseButton button) {
        QTest::mouseMove(canvas, middle);
        spin(200, [] { return false; });
        QTest::mousePress(canvas, button, Qt::NoModifier, middle);
        spin(200, [] { return false; });
        QTest::mouseRelease(canvas, button, Qt::NoModifier, middle);
    };
    click(Qt::LeftButton);
    spin(2000, [&] { return !focuses.empty(); });
    ASSERT_EQ(focuses.size(), 1u) << "a click on the matrix did not focus a row";
    EXPECT_EQ(focuses[0].kind, FocusKind::Query);
    ASSERT_GE(focuses[0].position, 0);
    EXPECT_EQ(view.model().focusKind(), FocusKind::Query);
    auto* summary = panel.findChild<QLabel*>(QStringLiteral("focusSummary"));
    auto* preview = panel.findChild<QPlainTextEdit*>(QStringLiteral("promptPreview"));
    ASSERT_NE(summary, nullptr);
    ASSERT_NE(preview, nullptr);
    EXPECT_TRUE(summary->isVisible());
    EXPECT_TRUE(summary->text().startsWith(QStringLiteral("query #"))) << summary->text().toStdString();
    EXPECT_EQ(preview->toPlainText(), QStringLiteral("abc"));
    // The focused token is drawn in blue.
    QTextCursor at(preview->document());
    at.setPosition(static_cast<int>(focuses[0].position) + 1);
    EXPECT_EQ(at.charFormat().background().color(), QColor(41, 128, 185));

    click(Qt::LeftButton);  // the same row again: cleared
    spin(2000, [&] { return focuses.size() >= 2; });
    ASSERT_EQ(focuses.size(), 2u);
    EXPECT_EQ(focuses[1].kind, FocusKind::None);
    EXPECT_FALSE(summary->isVisible());

    click(Qt::RightButton);
    spin(2000, [&] { return focuses.size() >= 3; });
    ASSERT_EQ(focuses.size(), 3u);
    EXPECT_EQ(focuses[2].kind, FocusKind::Key);
}

TEST(Canvas, HeadGridClickOpensTheHead) {
    HeadGridView grid;
    grid.resize(400, 300);
    grid.setData(tinyData());
    grid.show();
    ASSERT_TRUE(QTest::qWaitForWindowExposed(&grid));
    qint64 opened_layer = -1, opened_head = -1;
    QObject::connect(&grid, &HeadGridView::headActivated, [&](qint64 l, qint64 h) {
        opened_layer = l;
        opened_head = h;
    });
    auto* canvas = grid.findChild<ImGuiCanvas*>(QStringLiteral("gridCanvas"));
    ASSERT_NE(canvas, nullptr);
    spin(2000, [&] { return canvas->framesDrawn() > 0; });
    // Click the cell of layer 1, head 1: bottom-right of the grid; scan for it from the bottom right.
    const QImage frame = canvas->grabFramebuffer();
    ASSERT_FALSE(frame.isNull());
    QPoint target(-1, -1);
    for (int y = frame.height() - 1; y > 0 && target.x() < 0; --y)
        for (int x = frame.width() - 1; x > 0; --x) {
            const QRgb p = frame.pixel(x, y);
            if (qGreen(p) > 120 && qBlue(p) < 140) {  // a viridis-coloured cell (green to yellow)
                target = QPoint(x - 6, y - 6);
                break;
            }
        }
    ASSERT_GE(target.x(), 0) << "no grid cell drawn";
    const QPoint logical(int(target.x() / canvas->devicePixelRatioF()), int(target.y() / canvas->devicePixelRatioF()));
    QTest::mouseMove(canvas, logical);
    spin(200, [] { return false; });
    QTest::mousePress(canvas, Qt::LeftButton, Qt::NoModifier, logical);
    spin(200, [] { return false; });
    QTest::mouseRelease(canvas, Qt::LeftButton, Qt::NoModifier, logical);
    spin(1000, [&] { return opened_layer >= 0; });
    EXPECT_EQ(opened_layer, 1);
    EXPECT_EQ(opened_head, 1);
}

// The window in-process: Live re-runs after a parameter edit, and the newest edit wins.
TEST(Window, LiveRerunFollowsTheNewestParameters) {
    AppOptions options;
    options.model_dir = (kSourceDir + QStringLiteral("/tests/fixtures/parity/llama3")).toStdString();
    MainWindow window(options, kAppPath.toStdString());
    window.show();
    window.start();
    auto* status = window.findChild<QLabel*>(QStringLiteral("modelStatus"));
    auto* budget = window.findChild<QLineEdit*>(QStringLiteral("streaming_budget"));
    spin(60000, [&] {
        budget = window.findChild<QLineEdit*>(QStringLiteral("streaming_budget"));
        return status && status->text().startsWith(QStringLiteral("Loaded")) && budget;
    });
    ASSERT_TRUE(status->text().startsWith(QStringLiteral("Loaded"))) << status->text().toStdString();
    ASSERT_NE(budget, nullptr);
    QAction* live = nullptr;
    for (QAction* a : window.findChildren<QAction*>())
        if (a->text() == QStringLiteral("Live")) live = a;
    ASSERT_NE(live, nullptr);
    live->setChecked(true);
    auto* results = window.findChild<ResultsPanel*>();
    ASSERT_NE(results, nullptr);
    auto streamingColumn = [&]() -> std::string {
        const auto s = results->summary();
        for (const auto& c : s)
            if (c["strategy"].get<std::string>().rfind("streaming", 0) == 0) return c["strategy"];
        return "";
    };
    budget->setText(QStringLiteral("32"));
    spin(60000, [&] { return streamingColumn() == "streaming:budget=32,sink=4"; });
    EXPECT_EQ(streamingColumn(), "streaming:budget=32,sink=4");
    // Two quick edits: only the last one is shown in the end.
    budget->setText(QStringLiteral("40"));
    budget->setText(QStringLiteral("48"));
    spin(60000, [&] { return streamingColumn() == "streaming:budget=48,sink=4"; });
    EXPECT_EQ(streamingColumn(), "streaming:budget=48,sink=4");
    EXPECT_EQ(results->columnCount(), 2);
}

}  // namespace
}  // namespace attnlab

int main(int argc, char** argv) {
    if (qEnvironmentVariableIsEmpty("DISPLAY")) {
        std::fprintf(stderr, "gl tests need an X display: run them under xvfb-run (ctest does)\n");
        return 1;
    }
    qputenv("QT_QPA_PLATFORM", "xcb");
    qputenv("QT_ENABLE_HIGHDPI_SCALING", "0");
    // The default session (autosave) of every app started here lands in the build tree, not in $HOME.
    qputenv("XDG_DATA_HOME", ATTNLAB_TEST_OUT_DIR "/xdg-data");
    QApplication::setAttribute(Qt::AA_ShareOpenGLContexts);
    QApplication app(argc, argv);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
