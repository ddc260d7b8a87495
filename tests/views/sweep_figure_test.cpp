// Budget sweep chart: view model grouping and the figure exported as SVG (parsed as XML), PDF (read back
// with poppler-utils) and PNG. No GL (label fast, QT_QPA_PLATFORM=offscreen).
#include <gtest/gtest.h>

#include <QDir>
#include <QFile>
#include <QGuiApplication>
#include <QImage>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QXmlStreamReader>
#include <cmath>
#include <map>

#include "core/analysis/budget_sweep.h"
#include "views/figure/figure.h"
#include "views/sweep_export.h"
#include "views/sweep_figure.h"
#include "views/sweep_model.h"
#include "views/view_data.h"

namespace attnlab {
namespace {

QString tempPath(const QString& name) {
    static QTemporaryDir dir;
    const QString keep = qEnvironmentVariable("ATTNLAB_FIGURE_TEST_OUT");
    if (!keep.isEmpty()) {
        QDir().mkpath(keep);
        return QDir(keep).filePath(name);
    }
    return dir.filePath(name);
}

// <polyline> strokes (inherited from the enclosing <g>) and every <text>'s content.
struct Svg {
    std::map<QString, int> polylines_by_stroke;
    QStringList texts;
};

Svg parseSvg(const QString& path) {
    Svg out;
    QFile f(path);
    EXPECT_TRUE(f.open(QIODevice::ReadOnly)) << path.toStdString();
    QXmlStreamReader xml(&f);
    std::vector<QString> strokes{QStringLiteral("none")};
    bool in_text = false;
    QString text;
    while (!xml.atEnd()) {
        xml.readNext();
        if (xml.isStartElement()) {
            QString stroke = strokes.back();
            const auto attrs = xml.attributes();
            if (attrs.hasAttribute(QStringLiteral("stroke"))) stroke = attrs.value(QStringLiteral("stroke")).toString().toLower();
            strokes.push_back(stroke);
            if (xml.name() == QLatin1String("polyline")) ++out.polylines_by_stroke[stroke];
            if (xml.name() == QLatin1String("text")) {
                in_text = true;
                text.clear();
            }
        } else if (xml.isCharacters() && in_text) {
            text += xml.text();
        } else if (xml.isEndElement()) {
            strokes.pop_back();
            if (xml.name() == QLatin1String("text")) {
                in_text = false;
                out.texts << text.trimmed();
            }
        }
    }
    EXPECT_FALSE(xml.hasError()) << xml.errorString().toStdString();
    return out;
}

bool hasText(const Svg& svg, const QString& needle) {
    for (const QString& t : svg.texts)
        if (t.contains(needle)) return true;
    return false;
}

SweepPoint point(const std::string& spec, double kv_share, double accuracy, double kl, double decode_ms) {
    SweepPoint p;
    p.spec = spec;
    p.strategy = sweepStrategyName(spec);
    p.budget = sweepSpecParam(spec, "budget");
    p.kv_bytes = 4096 * kv_share;
    p.kv_share = kv_share;
    p.accuracy = accuracy;
    p.kl_vs_full = kl;
    p.top1_vs_full = 1 - kl / 2;
    p.prefill_ms = 10;
    p.decode_ms_per_token = decode_ms;
    p.trials = 4;
    return p;
}

std::shared_ptr<const SweepResult> sample() {
    auto r = std::make_shared<SweepResult>();
    r->model = "attnlab-demo";
    r->input = "needle:depth=0.5,length=128,seed=0";
    r->prompt_tokens = 130;
    r->trials = 4;
    r->source = "run";
    r->points = {point("full", 1.0, 1.0, 0.0, 9.0),
                 // Out of order on purpose: the series sort by KV share.
                 point("streaming:budget=50%,sink=4", 0.5, 0.5, 0.4, 8.0),
                 point("streaming:budget=10%,sink=4", 0.1, 0.0, 1.2, 7.0),
                 point("streaming:budget=25%,sink=4", 0.25, 0.25, 0.8, 7.5),
                 point("snapkv:budget=10%,kernel=7,window=32", 0.1, 0.25, 0.6, 7.2),
                 point("snapkv:budget=50%,kernel=7,window=32", 0.5, 1.0, 0.05, 8.1),
                 point("duo:recent=256,retrieval_ratio=0.5,sink=64", 0.6, 1.0, 0.01, 8.5),
                 point("duo:recent=256,retrieval_ratio=0.25,sink=64", 0.4, 0.75, 0.1, 8.3)};
    return r;
}

TEST(SweepModel, OneSeriesPerStrategySortedByKvShare) {
    SweepModel model;
    model.setResult(sample());
    ASSERT_EQ(model.series().size(), 3u);
    EXPECT_EQ(model.series()[0].strategy, "streaming");
    const auto& s = model.series()[0].points;
    ASSERT_EQ(s.size(), 3u);
    EXPECT_LT(model.point(s[0]).kv_share, model.point(s[1]).kv_share);
    EXPECT_LT(model.point(s[1]).kv_share, model.point(s[2]).kv_share);
    ASSERT_NE(model.fullPoint(), nullptr);
    EXPECT_EQ(model.qualityMetric(), SweepMetric::Accuracy);  // auto: accuracy was measured
    EXPECT_DOUBLE_EQ(model.maxKvShare(), 1.0);
    EXPECT_DOUBLE_EQ(model.maxValue(SweepMetric::Kl), 1.2);
}

TEST(SweepModel, AComparisonWithoutFullGetsAFullPointFromTheShares) {
    ComparisonData data;
    data.model_name = "m";
    data.task_spec = "needle:length=64";
    RunData a;
    a.spec = "streaming:budget=16,sink=4";
    a.metrics = {{"kv_bytes", 1000}, {"kv_bytes_vs_full", 0.25}, {"kl_vs_full", 0.3}, {"accuracy", 0}};
    RunData b;
    b.spec = "snapkv:budget=16,kernel=7,window=32";
    b.metrics = {{"kv_bytes", 1000}, {"kv_bytes_vs_full", 0.25}, {"kl_vs_full", 0.1}, {"accuracy", 1}};
    data.runs = {a, b};
    const SweepResult r = sweepResultFromComparison(data);
    ASSERT_EQ(r.points.size(), 3u);
    EXPECT_TRUE(r.points[0].isFull());
    EXPECT_DOUBLE_EQ(r.points[0].kv_bytes, 4000);
    EXPECT_DOUBLE_EQ(r.points[0].kl_vs_full, 0);
    EXPECT_TRUE(std::isnan(r.points[0].accuracy));  // not known without full's own run
    EXPECT_EQ(r.input, "needle:length=64");
}

TEST(SweepFigure, SvgHasOneLinePerStrategyAndPanelLegendAndAxisTitles) {
    SweepModel model;
    model.setResult(sample());
    SweepFigure figure(model);
    const QString path = tempPath(QStringLiteral("sweep.svg"));
    QString error;
    ASSERT_TRUE(writeFigure(figure, path, FigureOptions{}, &error)) << error.toStdString();
    const Svg svg = parseSvg(path);
    for (const SweepSeries& s : model.series()) {
        const QString color = sweepSeriesColor(s.color_index).name();
        EXPECT_EQ(svg.polylines_by_stroke.count(color) ? svg.polylines_by_stroke.at(color) : 0, 2) << s.strategy << " " << color.toStdString()
                                                     << ": one line in each panel";
        EXPECT_TRUE(svg.texts.contains(QString::fromStdString(s.strategy))) << s.strategy << " in the legend";
    }
    // Grid lines and full's dashed reference are polylines too, but never in a strategy's colour.
    EXPECT_EQ(svg.polylines_by_stroke.count(sweepSeriesColor(3).name()), 0u) << "no fourth strategy";
    EXPECT_GE(svg.polylines_by_stroke.count(sweepFullColor().name()), 1u) << "full's dashed reference line";
    EXPECT_TRUE(svg.texts.contains(QStringLiteral("full (reference)")));
    EXPECT_TRUE(hasText(svg, QStringLiteral("KV cache kept, share of full (full = 4.0 KiB)")));
    EXPECT_TRUE(svg.texts.contains(QStringLiteral("accuracy")));
    EXPECT_TRUE(svg.texts.contains(QStringLiteral("decode, ms per token")));
    EXPECT_TRUE(svg.texts.contains(QStringLiteral("50%")));
    EXPECT_TRUE(hasText(svg, QStringLiteral("Budget sweep · attnlab-demo")));
    EXPECT_TRUE(hasText(svg, QStringLiteral("4 trial(s) per point")));

    // The KL picker changes the left axis; the right one follows the time picker.
    model.setQualityMetric(SweepMetric::Kl);
    model.setTimeMetric(SweepMetric::PrefillMs);
    ASSERT_TRUE(writeFigure(figure, path, FigureOptions{}, &error)) << error.toStdString();
    const Svg kl = parseSvg(path);
    EXPECT_TRUE(hasText(kl, QStringLiteral("KL(full")));
    EXPECT_TRUE(kl.texts.contains(QStringLiteral("prefill, ms")));
    EXPECT_FALSE(kl.texts.contains(QStringLiteral("accuracy")));
}

TEST(SweepFigure, PdfAndPngComeFromTheSameRenderer) {
    bool has_tool = !QStandardPaths::findExecutable(QStringLiteral("pdftotext")).isEmpty();
    const QString pdf = tempPath(QStringLiteral("sweep.pdf"));
    std::string error;
    SweepFigureRequest request;
    request.quality_metric = "top1";
    ASSERT_TRUE(exportSweepFigure(*sample(), pdf.toStdString(), request, &error)) << error;
    const QString png = tempPath(QStringLiteral("sweep.png"));
    request.dpi = 192;
    ASSERT_TRUE(exportSweepFigure(*sample(), png.toStdString(), request, &error)) << error;
    EXPECT_EQ(QImage(png).size(), QSize(2000, 1040));
    if (!has_tool) GTEST_SKIP() << "poppler-utils (pdftotext) not installed";
    QProcess p;
    p.start(QStandardPaths::findExecutable(QStringLiteral("pdftotext")), {pdf, QStringLiteral("-")});
    ASSERT_TRUE(p.waitForFinished(20000));
    const QString text = QString::fromUtf8(p.readAllStandardOutput());
    for (const char* needle : {"Budget sweep", "streaming", "snapkv", "duo", "full (reference)", "KV cache kept",
                               "top-1 agreement with full", "decode, ms per token"})
        EXPECT_TRUE(text.contains(QString::fromUtf8(needle))) << needle << " in\n" << text.toStdString();
}

TEST(SweepFigure, BadRequestsAndUnmeasuredMetricsAreExplained) {
    std::string error;
    SweepFigureRequest request;
    request.quality_metric = "bleu";
    EXPECT_FALSE(exportSweepFigure(*sample(), tempPath(QStringLiteral("x.svg")).toStdString(), request, &error));
    EXPECT_NE(error.find("bleu"), std::string::npos) << error;
    request = {};
    EXPECT_FALSE(exportSweepFigure(*sample(), tempPath(QStringLiteral("x.gif")).toStdString(), request, &error));
    EXPECT_NE(error.find("x.gif"), std::string::npos) << error;
    EXPECT_FALSE(exportSweepFigure(SweepResult{}, tempPath(QStringLiteral("empty.svg")).toStdString(), request, &error));

    // A quality-benchmark file has no KL: the panel says so instead of drawing nothing silently.
    auto bench = std::make_shared<SweepResult>(*sample());
    for (SweepPoint& p : bench->points)
        if (!p.isFull()) p.kl_vs_full = kSweepMissing;
    SweepModel model;
    model.setResult(bench);
    model.setQualityMetric(SweepMetric::Kl);
    SweepFigure figure(model);
    const QString path = tempPath(QStringLiteral("no_kl.svg"));
    QString qerror;
    ASSERT_TRUE(writeFigure(figure, path, FigureOptions{}, &qerror)) << qerror.toStdString();
    EXPECT_FALSE(hasText(parseSvg(path), QStringLiteral("not measured")))
        << "full's KL (0) is known, so the panel is not empty";
    model.clear();
    model.setResult(std::make_shared<SweepResult>([&] {
        SweepResult r = *bench;
        r.points.erase(r.points.begin());
        return r;
    }()));
    model.setQualityMetric(SweepMetric::Kl);
    ASSERT_TRUE(writeFigure(figure, path, FigureOptions{}, &qerror)) << qerror.toStdString();
    EXPECT_TRUE(hasText(parseSvg(path), QStringLiteral("not measured")));
}

}  // namespace
}  // namespace attnlab

int main(int argc, char** argv) {
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    ::testing::InitGoogleTest(&argc, argv);
    QGuiApplication app(argc, argv);
    return RUN_ALL_TESTS();
}
