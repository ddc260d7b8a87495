// Figure export without GL (label fast, QT_QPA_PLATFORM=offscreen): the QPainter renderer writes
// SVG, PDF and PNG; the SVG is parsed as XML, the PDF read back with poppler-utils (pdftotext,
// pdfinfo), and the new view models (KV-cache timeline, difference map) are checked against
// hand-worked traces.
#include <gtest/gtest.h>

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QGuiApplication>
#include <QImage>
#include <QProcess>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QXmlStreamReader>
#include <cmath>
#include <map>
#include <set>

#include "tests/views/figure_sample_data.h"
#include "views/attention_model.h"
#include "views/diff_model.h"
#include "views/figure/figure.h"
#include "views/figure/view_figures.h"
#include "views/head_grid_model.h"
#include "views/timeline_model.h"

namespace attnlab {
namespace {

using figure_test::kPrompt;
using figure_test::sampleData;

QString tempPath(const QString& name) {
    static QTemporaryDir dir;
    const QString keep = qEnvironmentVariable("ATTNLAB_FIGURE_TEST_OUT");
    if (!keep.isEmpty()) {
        QDir().mkpath(keep);
        return QDir(keep).filePath(name);
    }
    return dir.filePath(name);
}

// What the SVG holds: every <text>'s content, and every <rect> with the fill it inherits.
struct SvgContent {
    QStringList texts;
    std::vector<QString> rect_fills;  // lower-case "#rrggbb", "url(#…)" or "none"
    int images = 0;
    int gradients = 0;
    QStringList gradient_stop_colors;
    QString title;
    QString description;
};

SvgContent parseSvg(const QString& path) {
    SvgContent out;
    QFile f(path);
    EXPECT_TRUE(f.open(QIODevice::ReadOnly)) << path.toStdString();
    QXmlStreamReader xml(&f);
    std::vector<QString> fills{QStringLiteral("#000000")};
    QString text;
    bool in_text = false;
    QString element;
    while (!xml.atEnd()) {
        xml.readNext();
        if (xml.isStartElement()) {
            element = xml.name().toString();
            QString fill = fills.back();
            const auto attrs = xml.attributes();
            if (attrs.hasAttribute(QStringLiteral("fill"))) fill = attrs.value(QStringLiteral("fill")).toString().toLower();
            fills.push_back(fill);
            if (element == QLatin1String("rect")) out.rect_fills.push_back(fill);
            if (element == QLatin1String("image")) ++out.images;
            if (element == QLatin1String("linearGradient")) ++out.gradients;
            if (element == QLatin1String("stop"))
                out.gradient_stop_colors << attrs.value(QStringLiteral("stop-color")).toString().toLower();
            if (element == QLatin1String("text")) {
                in_text = true;
                text.clear();
            }
        } else if (xml.isCharacters()) {
            if (in_text) text += xml.text();
            if (element == QLatin1String("title")) out.title += xml.text();
            if (element == QLatin1String("desc")) out.description += xml.text();
        } else if (xml.isEndElement()) {
            fills.pop_back();
            if (xml.name() == QLatin1String("text")) {
                in_text = false;
                out.texts << text.trimmed();
            }
            element.clear();
        }
    }
    EXPECT_FALSE(xml.hasError()) << path.toStdString() << ": " << xml.errorString().toStdString();
    return out;
}

QString colorName(Rgba8 c) { return QColor(c.r, c.g, c.b).name(); }

QString runTool(const QString& tool, const QStringList& args, bool* is_available) {
    const QString exe = QStandardPaths::findExecutable(tool);
    *is_available = !exe.isEmpty();
    if (exe.isEmpty()) return QString();
    QProcess p;
    p.start(exe, args);
    p.waitForFinished(20000);
    return QString::fromUtf8(p.readAllStandardOutput());
}

TEST(FigureFormat, FromExtension) {
    EXPECT_EQ(figureFormatForPath(QStringLiteral("a/b.PNG")), FigureFormat::Png);
    EXPECT_EQ(figureFormatForPath(QStringLiteral("x.svg")), FigureFormat::Svg);
    EXPECT_EQ(figureFormatForPath(QStringLiteral("x.pdf")), FigureFormat::Pdf);
    EXPECT_FALSE(figureFormatForPath(QStringLiteral("x.jpg")).has_value());
}

TEST(FigureExport, AttentionSvgHasTitleLabelsColourBarAndOneRectPerVisibleCell) {
    AttentionViewModel model;
    model.setData(sampleData());
    model.select(0, 1, 2);
    model.setScale(ColorScale::Log);
    const MatrixFigure figure(model);
    const QString path = tempPath(QStringLiteral("attention.svg"));
    FigureOptions options;
    options.size = QSize(700, 560);
    QString error;
    ASSERT_TRUE(writeFigure(figure, path, options, &error)) << error.toStdString();
    const SvgContent svg = parseSvg(path);

    const QString all = svg.texts.join(QLatin1Char('\n'));
    EXPECT_TRUE(all.contains(QStringLiteral("Attention · full · layer 1 · head 2"))) << all.toStdString();
    EXPECT_EQ(svg.title, figure.title());
    // Axis token labels: every position with its token, on both axes (6 rows + 6 columns).
    for (int i = 0; i < 6; ++i) {
        const QString label = QString::number(i) + QLatin1Char(' ') + QString::fromStdString(kPrompt[size_t(i)]);
        EXPECT_EQ(svg.texts.count(label.trimmed()), 2) << label.toStdString() << " in\n" << all.toStdString();
    }
    EXPECT_TRUE(all.contains(QStringLiteral("query token")));
    EXPECT_TRUE(all.contains(QStringLiteral("key token")));
    // Colour bar: a viridis gradient with its ticks and caption.
    EXPECT_GE(svg.gradients, 1);
    EXPECT_TRUE(svg.gradient_stop_colors.contains(colorName(viridis(0))));
    EXPECT_TRUE(svg.gradient_stop_colors.contains(colorName(viridis(1))));
    EXPECT_TRUE(all.contains(QStringLiteral("attention weight (log)")));
    for (const auto& tick : model.range().ticks()) EXPECT_TRUE(svg.texts.contains(QString::fromStdString(tick.second)));
    // Caption: the run spec.
    EXPECT_TRUE(all.contains(QStringLiteral("model tiny-test"))) << all.toStdString();
    EXPECT_TRUE(all.contains(QStringLiteral("passkey:len=6")));
    EXPECT_TRUE(svg.description.contains(QStringLiteral("strategy full")));

    // Cells: one vector rectangle per visible (causal) cell, in the view model's colours.
    const RgbaImage& img = model.image();
    ASSERT_EQ(img.width, 6);
    std::multiset<QString> expected;
    for (int y = 0; y < 6; ++y)
        for (int x = 0; x <= y; ++x) expected.insert(colorName(img.at(x, y)));
    std::multiset<QString> actual;
    for (const QString& f : svg.rect_fills)
        if (expected.count(f)) actual.insert(f);
    EXPECT_EQ(actual, expected);
    EXPECT_EQ(svg.images, 0) << "a 6x6 heatmap is vector";
}

TEST(FigureExport, LargeHeatmapsAreEmbeddedAsOneImage) {
    AttentionViewModel model;
    model.setData(sampleData());
    const MatrixFigure figure(model);
    FigureOptions options;
    options.max_vector_cells = 10;  // fewer than 36 cells
    const QString path = tempPath(QStringLiteral("raster.svg"));
    QString error;
    ASSERT_TRUE(writeFigure(figure, path, options, &error)) << error.toStdString();
    const SvgContent svg = parseSvg(path);
    EXPECT_EQ(svg.images, 1);
    EXPECT_TRUE(svg.texts.join(QLatin1Char(' ')).contains(QStringLiteral("3  on")));  // labels stay text
}

TEST(FigureExport, LongPromptsEmbedOneImageAndThinTheLabels) {
    auto d = std::make_shared<ComparisonData>();
    d->layers = 1;
    d->heads = 1;
    d->kv_heads = 1;
    const int64_t n = 1500;
    for (int64_t i = 0; i < n; ++i) d->prompt_tokens.push_back(" t" + std::to_string(i));
    RunData run;
    run.spec = "full";
    run.captures.push_back(figure_test::causalMatrix(0, 0, n));
    d->runs.push_back(run);
    AttentionViewModel model;
    model.setData(d);
    const MatrixFigure figure(model);
    const QString path = tempPath(QStringLiteral("long.svg"));
    QString error;
    ASSERT_TRUE(writeFigure(figure, path, FigureOptions{}, &error)) << error.toStdString();
    EXPECT_LT(QFileInfo(path).size(), 8 << 20);
    const SvgContent svg = parseSvg(path);
    EXPECT_EQ(svg.images, 1);
    int row_labels = 0;
    for (const QString& t : svg.texts)
        if (t.contains(QStringLiteral(" t"))) ++row_labels;
    EXPECT_GT(row_labels, 20);
    EXPECT_LT(row_labels, 2 * 120) << "labels are thinned to what fits";
    EXPECT_TRUE(svg.texts.contains(QStringLiteral("0  t0")));
}

TEST(FigureExport, MaskPdfHoldsTitleLabelsCoverageAndPageSize) {
    AttentionViewModel model;
    model.setMaskOverlay(true);
    model.setData(sampleData());
    model.select(1, 0, 1);
    ASSERT_FALSE(model.keptMask().empty());
    const MatrixFigure figure(model);
    const QString path = tempPath(QStringLiteral("mask.pdf"));
    FigureOptions options;
    options.size = QSize(960, 720);  // 10 x 7.5 inches = 720 x 540 pt
    QString error;
    ASSERT_TRUE(writeFigure(figure, path, options, &error)) << error.toStdString();
    bool has_tool = false;
    const QString info = runTool(QStringLiteral("pdfinfo"), {path}, &has_tool);
    if (!has_tool) GTEST_SKIP() << "poppler-utils (pdfinfo, pdftotext) not installed";
    const QRegularExpressionMatch size =
        QRegularExpression(QStringLiteral("Page size:\\s+([0-9.]+) x ([0-9.]+) pts")).match(info);
    ASSERT_TRUE(size.hasMatch()) << info.toStdString();
    EXPECT_NEAR(size.captured(1).toDouble(), 720.0, 1.0);
    EXPECT_NEAR(size.captured(2).toDouble(), 540.0, 1.0);
    EXPECT_TRUE(QRegularExpression(QStringLiteral("Pages:\\s+1\\n")).match(info).hasMatch()) << info.toStdString();
    EXPECT_TRUE(info.contains(QStringLiteral("Kept KV entries"))) << info.toStdString();  // the PDF title

    const QString text = runTool(QStringLiteral("pdftotext"), {path, QStringLiteral("-")}, &has_tool);
    EXPECT_TRUE(text.contains(QStringLiteral("streaming:budget=3,sink=1"))) << text.toStdString();
    EXPECT_TRUE(text.contains(QStringLiteral("kept 3 of 6 keys"))) << text.toStdString();
    EXPECT_TRUE(text.contains(QStringLiteral("evicted key")));
    EXPECT_TRUE(text.contains(QStringLiteral("query token")));
    for (const char* token : {"cat", "sat", "mat"}) EXPECT_TRUE(text.contains(QLatin1String(token))) << token;
}

TEST(FigureExport, PngComesFromTheSameRendererAtTheAskedDpi) {
    AttentionViewModel model;
    model.setData(sampleData());
    const MatrixFigure figure(model);
    FigureOptions options;
    options.size = QSize(400, 300);
    options.dpi = 192;
    const QString path = tempPath(QStringLiteral("attention.png"));
    QString error;
    QSize written;
    ASSERT_TRUE(writeFigure(figure, path, options, &error, &written)) << error.toStdString();
    const QImage png(path);
    ASSERT_FALSE(png.isNull());
    EXPECT_EQ(png.size(), QSize(800, 600));
    EXPECT_EQ(written, QSize(800, 600));
    EXPECT_NEAR(png.dotsPerMeterX() * 0.0254, 192.0, 1.0);
    // Some pixel carries the top of the colour scale (the first query's weight 1 on itself).
    const QColor top = QColor(colorName(viridis(1)));
    bool found = false;
    for (int y = 0; y < png.height() && !found; y += 2)
        for (int x = 0; x < png.width() && !found; x += 2) found = png.pixelColor(x, y) == top;
    EXPECT_TRUE(found);
}

TEST(FigureExport, BadRequestsNameTheFileAndTheProblem) {
    AttentionViewModel model;
    model.setData(sampleData());
    const MatrixFigure figure(model);
    QString error;
    EXPECT_FALSE(writeFigure(figure, tempPath(QStringLiteral("x.gif")), FigureOptions{}, &error));
    EXPECT_TRUE(error.contains(QStringLiteral("x.gif")) && error.contains(QStringLiteral(".svg"))) << error.toStdString();
    FigureOptions tiny;
    tiny.size = QSize(4, 4);
    EXPECT_FALSE(writeFigure(figure, tempPath(QStringLiteral("x.svg")), tiny, &error));
    EXPECT_TRUE(error.contains(QStringLiteral("size"))) << error.toStdString();
    AttentionViewModel empty;
    const MatrixFigure nothing(empty);
    EXPECT_FALSE(writeFigure(nothing, tempPath(QStringLiteral("e.pdf")), FigureOptions{}, &error));
    EXPECT_TRUE(error.contains(QStringLiteral("nothing to draw"))) << error.toStdString();
    EXPECT_FALSE(writeFigure(figure, QStringLiteral("/proc/attnlab-no/such.svg"), FigureOptions{}, &error));
    EXPECT_TRUE(error.contains(QStringLiteral("/proc/attnlab-no/such.svg"))) << error.toStdString();
}

TEST(FigureExport, HeadGridSvgHasOneCellPerHead) {
    HeadGridModel model;
    model.setData(sampleData());
    model.setScore(HeadScore::SinkMass);
    const HeadGridFigure figure(model);
    const QString path = tempPath(QStringLiteral("grid.svg"));
    QString error;
    ASSERT_TRUE(writeFigure(figure, path, FigureOptions{}, &error)) << error.toStdString();
    const SvgContent svg = parseSvg(path);
    const QString all = svg.texts.join(QLatin1Char('\n'));
    for (const char* label : {"L0", "L1", "KV 0", "KV 1", "layer", "query head", "sink mass"})
        EXPECT_TRUE(svg.texts.contains(QLatin1String(label))) << label << " in\n" << all.toStdString();
    std::multiset<QString> expected, actual;
    for (int64_t l = 0; l < 2; ++l)
        for (int64_t h = 0; h < 4; ++h) expected.insert(colorName(viridis(model.scoreAt(l, h))));
    for (const QString& f : svg.rect_fills)
        if (expected.count(f)) actual.insert(f);
    EXPECT_EQ(actual, expected);
    ASSERT_TRUE(writeFigure(figure, tempPath(QStringLiteral("grid.png")), FigureOptions{}, &error));
    EXPECT_EQ(QImage(tempPath(QStringLiteral("grid.png"))).size(), FigureOptions{}.size);
}

// ---------------------------------------------------------------------------------------------
// KV-cache timeline

TEST(Timeline, ReplaysPrefillSelectionAndDecodeEvictions) {
    TimelineModel t;
    t.setData(sampleData());
    t.select(1, 0, 1);
    ASSERT_TRUE(t.hasTrace());
    ASSERT_EQ(t.rows(), 3);       // prefill, step 0, step 1
    ASSERT_EQ(t.positions(), 8);  // 6 prompt + 2 decode writes
    using S = KvState;
    const std::vector<std::vector<S>> expected = {
        // prefill keeps {0, 4, 5}: 1-3 evicted there, the kept ones selected
        {S::Selected, S::Evicted, S::Evicted, S::Evicted, S::Selected, S::Selected, S::NotWritten, S::NotWritten},
        // step 0 writes 6 and evicts 4
        {S::Alive, S::Gone, S::Gone, S::Gone, S::Evicted, S::Alive, S::Alive, S::NotWritten},
        // step 1 writes 7 and evicts 5
        {S::Alive, S::Gone, S::Gone, S::Gone, S::Gone, S::Evicted, S::Alive, S::Alive},
    };
    for (int64_t r = 0; r < 3; ++r)
        for (int64_t p = 0; p < 8; ++p)
            EXPECT_EQ(t.state(r, p), expected[size_t(r)][size_t(p)]) << "row " << r << " position " << p;
    EXPECT_EQ(t.summary(2).alive, 3);
    EXPECT_EQ(t.summary(0).evicted, 3);
    EXPECT_EQ(t.rowLabel(0), "prefill");
    EXPECT_EQ(t.rowLabel(2), "step 1");
    EXPECT_EQ(t.tokenAt(6), " and");
    EXPECT_EQ(t.image().width, 8);
    EXPECT_EQ(t.image().at(4, 1).r, kvStateColor(S::Evicted).r);
}

TEST(Timeline, TheLastGeneratedTokenIsNeverWritten) {
    auto d = sampleData();
    d->runs[0].decode_tokens = 3;  // as a reopened session may count it: every output token
    TimelineModel t;
    t.setData(d);
    t.select(0, 0, 0);
    EXPECT_EQ(t.rows(), 3);  // prefill + 2 steps for 3 outputs
    EXPECT_EQ(t.positions(), 8);
}

TEST(Timeline, CompressionAndDecodeTimeSelectionShowAsSelected) {
    auto d = sampleData();
    RunData& run = d->runs[1];
    run.trace.evictions.clear();
    HeadDecision keep_all;  // a retrieval head's decision keeps everything: nothing is selected
    keep_all.layer = 1;
    keep_all.kv_head = 0;
    keep_all.stage = "compress_prefill";
    keep_all.kept_positions = {0, 1, 2, 3, 4, 5};
    for (HeadDecision& dec : run.trace.decisions)
        if (dec.layer == 1 && dec.kv_head == 0) dec = keep_all;
    HeadDecision pick;  // a decode-time selection reading only position 0 and 6 at step 1
    pick.layer = 0;
    pick.kv_head = 0;
    pick.stage = "select_decode";
    pick.step = 1;
    pick.kept_positions = {0, 6};
    run.trace.decisions.push_back(pick);
    TimelineModel t;
    t.setData(d);
    t.select(1, 0, 0);
    EXPECT_EQ(t.state(0, 0), KvState::Selected);
    EXPECT_EQ(t.state(0, 1), KvState::Evicted);
    EXPECT_EQ(t.state(1, 0), KvState::Alive);  // the selection was one-shot
    EXPECT_EQ(t.state(2, 0), KvState::Selected);
    EXPECT_EQ(t.state(2, 6), KvState::Selected);
    EXPECT_EQ(t.state(2, 4), KvState::Alive);
    EXPECT_EQ(t.summary(2).selected, 2);
    t.select(1, 1, 0);
    EXPECT_EQ(t.state(0, 3), KvState::Alive);
    EXPECT_EQ(t.summary(0).selected, 0);
}

TEST(Timeline, FullAttentionKeepsEverythingAndTheFigureSaysSo) {
    TimelineModel t;
    t.setData(sampleData());
    t.select(0, 0, 0);
    EXPECT_FALSE(t.hasTrace());
    EXPECT_EQ(t.state(2, 7), KvState::Alive);
    EXPECT_EQ(t.state(0, 6), KvState::NotWritten);
    const TimelineFigure figure(t);
    const QString path = tempPath(QStringLiteral("timeline_full.svg"));
    QString error;
    ASSERT_TRUE(writeFigure(figure, path, FigureOptions{}, &error)) << error.toStdString();
    const QString all = parseSvg(path).texts.join(QLatin1Char('\n'));
    EXPECT_TRUE(all.contains(QStringLiteral("no cache decisions recorded"))) << all.toStdString();
}

TEST(Timeline, SvgAndPdfCarryLegendRowsAndTokens) {
    TimelineModel t;
    t.setData(sampleData());
    t.select(1, 1, 0);
    const TimelineFigure figure(t);
    const QString svg_path = tempPath(QStringLiteral("timeline.svg"));
    QString error;
    ASSERT_TRUE(writeFigure(figure, svg_path, FigureOptions{}, &error)) << error.toStdString();
    const SvgContent svg = parseSvg(svg_path);
    for (const char* label : {"alive", "evicted at this step", "prefill", "step 0", "step 1", "6  and", "step",
                              "token position", "3 alive"})
        EXPECT_TRUE(svg.texts.contains(QLatin1String(label))) << label << " in\n"
                                                               << svg.texts.join(QLatin1Char('\n')).toStdString();
    // Runs of equal states in a row are merged: fewer rectangles than cells, but every state drawn.
    std::set<QString> fills(svg.rect_fills.begin(), svg.rect_fills.end());
    for (KvState s : {KvState::Alive, KvState::Evicted, KvState::Gone}) EXPECT_TRUE(fills.count(colorName(kvStateColor(s))));

    const QString pdf_path = tempPath(QStringLiteral("timeline.pdf"));
    ASSERT_TRUE(writeFigure(figure, pdf_path, FigureOptions{}, &error)) << error.toStdString();
    bool has_tool = false;
    const QString text = runTool(QStringLiteral("pdftotext"), {pdf_path, QStringLiteral("-")}, &has_tool);
    if (!has_tool) GTEST_SKIP() << "poppler-utils not installed";
    EXPECT_TRUE(text.contains(QStringLiteral("KV cache"))) << text.toStdString();
    EXPECT_TRUE(text.contains(QStringLiteral("prefill")));
    EXPECT_TRUE(text.contains(QStringLiteral("evicted earlier")));
}

// ---------------------------------------------------------------------------------------------
// Difference map

TEST(Diff, AttentionAfterTheKeptSetIsTheRenormalisedCapture) {
    auto d = sampleData();
    DiffModel diff;
    diff.setData(d);
    diff.select(0, 1, 0, 2);  // head 2 reads KV head 1, which keeps {0, 4, 5}
    ASSERT_EQ(diff.emptyReason(), "");
    ASSERT_EQ(diff.rows(), 6);
    const AttentionMatrix& m = *d->runs[0].capture(0, 2);
    for (int64_t r = 0; r < 6; ++r) {
        double kept_mass = 0;
        for (int64_t c : {0, 4, 5})
            if (c <= r) kept_mass += m.probs[size_t(r * 6 + c)];
        double row_sum = 0;
        for (int64_t c = 0; c < 6; ++c) {
            const double full = m.probs[size_t(r * 6 + c)];
            const bool kept = c == 0 || c == 4 || c == 5;
            const double expected = kept ? full / kept_mass - full : -full;
            EXPECT_NEAR(diff.delta(r, c), expected, 1e-6) << r << "," << c;
            row_sum += diff.delta(r, c);
        }
        EXPECT_NEAR(row_sum, 0.0, 1e-5);  // both rows are distributions
    }
    EXPECT_TRUE(diff.isFuture(1, 2));
    EXPECT_GT(diff.maxAbsDelta(), 0.1);
    const std::vector<double> kl = diff.klDelta();
    ASSERT_EQ(kl.size(), 3u);
    EXPECT_DOUBLE_EQ(kl[2], 0.5);
    // Same run on both sides: nothing changes.
    diff.select(1, 1, 0, 2);
    EXPECT_EQ(diff.maxAbsDelta(), 0.0);
}

TEST(Diff, DivergingMapIsSymmetricAroundWhite) {
    const Rgba8 mid = diverging(0), lo = diverging(-1), hi = diverging(1);
    EXPECT_EQ(mid.r, 247);
    EXPECT_EQ(mid.g, 247);
    EXPECT_GT(lo.b, lo.r);  // blue end
    EXPECT_GT(hi.r, hi.b);  // red end
}

TEST(Diff, MissingCaptureIsExplained) {
    auto d = sampleData();
    d->runs[1].captures.clear();
    DiffModel diff;
    diff.setData(d);
    diff.select(0, 1, 0, 0);
    EXPECT_NE(diff.emptyReason().find("not captured in streaming"), std::string::npos) << diff.emptyReason();
    const DiffFigure figure(diff);
    QString error;
    EXPECT_FALSE(writeFigure(figure, tempPath(QStringLiteral("d.svg")), FigureOptions{}, &error));
    EXPECT_TRUE(error.contains(QStringLiteral("not captured")));
}

TEST(Diff, SvgHasDivergingColourBarCellsAndKlBars) {
    DiffModel diff;
    diff.setData(sampleData());
    diff.select(0, 1, 1, 0);
    const DiffFigure figure(diff);
    const QString path = tempPath(QStringLiteral("diff.svg"));
    QString error;
    ASSERT_TRUE(writeFigure(figure, path, FigureOptions{}, &error)) << error.toStdString();
    const SvgContent svg = parseSvg(path);
    // (Greek and Latin runs may be separate text elements.)
    const QString all = svg.texts.join(QLatin1Char(' '));
    EXPECT_TRUE(all.contains(QStringLiteral("Δ attention"))) << all.toStdString();
    EXPECT_TRUE(all.contains(QStringLiteral("Δ KL per generated token")));
    EXPECT_TRUE(svg.texts.contains(QStringLiteral("2 .")));  // a generated token's label
    EXPECT_TRUE(svg.gradient_stop_colors.contains(colorName(diverging(-1))));
    EXPECT_TRUE(svg.gradient_stop_colors.contains(colorName(diverging(1))));
    // The colour scale is symmetric: the extreme cell is at one end of it.
    std::set<QString> fills(svg.rect_fills.begin(), svg.rect_fills.end());
    EXPECT_TRUE(fills.count(colorName(diverging(1))) || fills.count(colorName(diverging(-1))));
    // The largest KL change (token 2, +0.5 nats) is a full-height red bar.
    EXPECT_TRUE(fills.count(colorName(diverging(1))));
    ASSERT_TRUE(writeFigure(figure, tempPath(QStringLiteral("diff.png")), FigureOptions{}, &error));
    EXPECT_EQ(QImage(tempPath(QStringLiteral("diff.png"))).size(), FigureOptions{}.size);
}

}  // namespace
}  // namespace attnlab

int main(int argc, char** argv) {
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    ::testing::InitGoogleTest(&argc, argv);
    QGuiApplication app(argc, argv);
    return RUN_ALL_TESTS();
}
