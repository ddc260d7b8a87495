// Scanpath view model and figure (issue 9), offscreen: the committed OAT-lite model decodes a
// display, the trace's distributions are distributions, stepping clamps, and the figure exports
// as PNG/SVG/PDF through the figure renderer.
#include <gtest/gtest.h>

#include <QApplication>
#include <QFile>
#include <QImage>
#include <QTemporaryDir>
#include <cmath>
#include <numeric>

#include "views/scanpath_figure.h"
#include "views/scanpath_model.h"

using namespace attnlab;

namespace {

std::string modelDir() { return std::string(ATTNLAB_SOURCE_DIR) + "/assets/models/oat"; }

oat::DisplaySpec spec(uint64_t seed, int set_size = 12) {
    oat::DisplaySpec s;
    s.seed = seed;
    s.set_size = set_size;
    s.regime = oat::Regime::Conjunction;
    return s;
}

}  // namespace

TEST(ScanpathViewModel, MissingModelIsAClearError) {
    ScanpathViewModel m;
    std::string error;
    EXPECT_FALSE(m.loadModel("/nonexistent/oat", &error));
    EXPECT_NE(error.find("/nonexistent/oat/config.json"), std::string::npos) << error;
    EXPECT_FALSE(m.hasModel());
}

TEST(ScanpathViewModel, WithoutAModelShowsSubjectsOnly) {
    ScanpathViewModel m;
    std::string error;
    ASSERT_TRUE(m.generate(spec(5), "greedy", &error)) << error;
    EXPECT_EQ(m.steps(), 0);
    EXPECT_TRUE(m.pointer().empty());
    EXPECT_EQ(m.subjectCount(), 10);
    EXPECT_FALSE(m.subjectPath(0).empty());
    EXPECT_EQ(m.imageRgb().size(), size_t(oat::kCanvasWidth) * oat::kCanvasHeight * 3);
    EXPECT_FALSE(m.generate(spec(5), "beam", &error));
    EXPECT_NE(error.find("beam"), std::string::npos);
    oat::DisplaySpec bad = spec(5, 99);
    EXPECT_FALSE(m.generate(bad, "greedy", &error));
}

TEST(ScanpathViewModel, TraceStepsAndDistributions) {
    ScanpathViewModel m;
    std::string error;
    ASSERT_TRUE(m.loadModel(modelDir(), &error)) << error;
    ASSERT_TRUE(m.generate(spec(7), "greedy", &error)) << error;
    const int n = m.objects();
    ASSERT_GT(n, 0);
    ASSERT_FALSE(m.modelPath().empty());
    EXPECT_EQ(m.steps(), static_cast<int>(m.modelPath().size()) + 1);
    for (int s = 0; s < m.steps(); ++s) {
        m.setStep(s);
        const auto p = m.pointer();
        const auto a = m.attention();
        ASSERT_EQ(static_cast<int>(p.size()), n + 1);
        ASSERT_EQ(static_cast<int>(a.size()), n + 2);
        EXPECT_NEAR(std::accumulate(p.begin(), p.end(), 0.0), 1.0, 1e-4);
        EXPECT_NEAR(std::accumulate(a.begin(), a.end(), 0.0), 1.0, 1e-4);
        // Greedy: the path's next fixation is the argmax of the pointer (STOP at the last step).
        const int want = s < static_cast<int>(m.modelPath().size()) ? m.modelPath()[s] : n;
        EXPECT_EQ(m.argmaxObject(), want) << "step " << s;
    }
    EXPECT_NEAR(m.pointer()[0 + 0] * 0, 0, 1e-9);
    m.setStep(0);
    EXPECT_FALSE(m.prev());
    m.setStep(1 << 20);
    EXPECT_EQ(m.step(), m.steps() - 1);
    EXPECT_FALSE(m.next());
    m.setSubject(99);
    EXPECT_EQ(m.subject(), 9);
    m.setSubject(-5);
    EXPECT_EQ(m.subject(), -1);
    EXPECT_GE(m.modelScore(), 0.0);
    EXPECT_LE(m.modelScore(), 1.0);
}

TEST(ScanpathViewModel, MbrPathIsOneOfItsSamplesAndDeterministic) {
    ScanpathViewModel a, b;
    std::string error;
    ASSERT_TRUE(a.loadModel(modelDir(), &error)) << error;
    ASSERT_TRUE(b.loadModel(modelDir(), &error)) << error;
    ASSERT_TRUE(a.generate(spec(11), "mbr", &error)) << error;
    ASSERT_TRUE(b.generate(spec(11), "mbr", &error)) << error;
    EXPECT_EQ(a.modelPath(), b.modelPath());
    for (int o : a.modelPath()) {
        EXPECT_GE(o, 0);
        EXPECT_LT(o, a.objects());
    }
}

TEST(ScanpathFigure, ExportsPngSvgPdf) {
    ScanpathViewModel m;
    std::string error;
    ASSERT_TRUE(m.loadModel(modelDir(), &error)) << error;
    ScanpathFigure fig(m);
    EXPECT_FALSE(fig.emptyReason().isEmpty());
    ASSERT_TRUE(m.generate(spec(3), "greedy", &error)) << error;
    EXPECT_TRUE(fig.emptyReason().isEmpty());
    m.setStep(1);
    QTemporaryDir dir;
    FigureOptions opt;
    opt.size = QSize(700, 560);
    for (const char* ext : {"png", "svg", "pdf"}) {
        const QString path = dir.filePath(QStringLiteral("scanpath.") + ext);
        QString err;
        ASSERT_TRUE(writeFigure(fig, path, opt, &err)) << err.toStdString();
        QFile f(path);
        ASSERT_TRUE(f.open(QIODevice::ReadOnly));
        const QByteArray head = f.read(8);
        if (std::string(ext) == "pdf") EXPECT_TRUE(head.startsWith("%PDF"));
        if (std::string(ext) == "png") EXPECT_TRUE(head.startsWith("\x89PNG"));
    }
    QFile svg(dir.filePath("scanpath.svg"));
    ASSERT_TRUE(svg.open(QIODevice::ReadOnly));
    const QByteArray text = svg.readAll();
    EXPECT_TRUE(text.contains("<svg"));
    EXPECT_TRUE(text.contains("cross-attention"));
    // The PNG shows the model's magenta fixations somewhere.
    const QImage img = renderFigureImage(fig, opt);
    int magenta = 0;
    for (int y = 0; y < img.height(); ++y)
        for (int x = 0; x < img.width(); ++x) {
            const QColor c = img.pixelColor(x, y);
            magenta += c.red() > 230 && c.green() < 40 && c.blue() > 230;
        }
    EXPECT_GT(magenta, 50);
}

int main(int argc, char** argv) {
    qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
