// Scene layout view (issue 10): the view model on the tiny committed model (fast, no GUI) and the
// figure export under the offscreen platform. The GL test (scene_gl_test.cpp) drives the dock in
// the app window.
#include <gtest/gtest.h>

#include <QFile>
#include <QGuiApplication>
#include <QImage>
#include <QTemporaryDir>
#include <cmath>
#include <cstdlib>

#include "core/vision/scene/scene.h"
#include "views/scene_figure.h"
#include "views/scene_layout_model.h"

namespace attnlab {
namespace {

using namespace scene;

const std::string kTiny = std::string(ATTNLAB_SOURCE_DIR) + "/tests/vision/scene_tiny_model";

// Three objects: a large far cube, a sphere in front of it (occluding it), a cone on the right.
std::vector<Token> threeObjects() {
    return {Token{1, 2, 1, 0, 14, 8}, Token{0, 1, 1, 1, 15, 16}, Token{3, 7, 0, 0, 26, 20}};
}

SceneLayoutModel& loaded() {
    static SceneLayoutModel* m = [] {
        auto* model = new SceneLayoutModel();
        const Status s = model->loadModel(kTiny);
        EXPECT_TRUE(s.isOk()) << s.error();
        return model;
    }();
    m->setTokens(threeObjects());
    return *m;
}

// A pixel where token `token` is visible (the one with most such pixels in its row band), else (-1, -1).
std::pair<int, int> visiblePixel(const SceneLayoutModel& m, int token) {
    for (int y = 0; y < kImageSize; ++y)
        for (int x = 0; x < kImageSize; ++x)
            if (m.tokenAt(x, y) == token) return {x, y};
    return {-1, -1};
}

TEST(SceneLayoutModel, RendersTheLayoutBackToFrontWithAttentionPerLayer) {
    SceneLayoutModel& m = loaded();
    const SceneFrame& f = m.frame();
    ASSERT_EQ(f.tokens.size(), 3u);
    for (size_t i = 1; i < f.tokens.size(); ++i) EXPECT_LE(f.tokens[i - 1].qy, f.tokens[i].qy) << "back to front";
    EXPECT_EQ(m.step(), 3);
    EXPECT_EQ(m.layerCount(), 8);
    for (int l = 0; l < m.layerCount(); ++l) {
        int res = 0;
        double total = 0;
        std::vector<std::vector<float>> maps;
        for (int slot = 0; slot <= 3; ++slot) maps.push_back(m.attention(l, slot, &res));
        ASSERT_GT(res, 0);
        for (int px = 0; px < res * res; px += 7) {
            double row = 0;
            for (const auto& a : maps) row += a[size_t(px)];
            EXPECT_NEAR(row, 1.0, 1e-4) << "layer " << l << " pixel " << px;
            total += row;
        }
        EXPECT_GT(total, 0);
    }
    // The sphere hides part of the cube: amodal and visible masks differ there.
    const RenderedObject& cube = f.raster.objects[0];
    EXPECT_LT(cube.visible_pixels, cube.amodal_pixels);
    m.setShowAmodal(false);
    const RgbaImage vis = m.maskImage();
    m.setShowAmodal(true);
    const RgbaImage amo = m.maskImage();
    EXPECT_NE(vis.pixels, amo.pixels);
    m.setShowAmodal(false);
}

TEST(SceneLayoutModel, PixelToBinsInvertsTheProjection) {
    for (int qy = 0; qy < kPosBins; qy += 3)
        for (int qx = 0; qx < kPosBins; qx += 3) {
            Token t;
            t.qx = qx;
            t.qy = qy;
            double x = 0, y = 0;
            SceneLayoutModel::tokenBasePoint(t, &x, &y);
            int bx = -1, by = -1;
            SceneLayoutModel::binsNearPixel(x, y, &bx, &by);
            EXPECT_EQ(bx, qx);
            EXPECT_EQ(by, qy);
        }
}

TEST(SceneLayoutModel, SelectMoveRecolourDeleteReRender) {
    SceneLayoutModel& m = loaded();
    const auto [x, y] = visiblePixel(m, 2);
    ASSERT_GE(x, 0) << "the cone is visible somewhere";
    m.select(m.tokenAt(x, y));
    ASSERT_EQ(m.selected(), 2);
    const int renders = m.renderCount();
    const std::vector<uint8_t> before = m.frame().image;
    const std::vector<uint8_t> raster_before = m.frame().raster.image;

    ASSERT_TRUE(m.moveSelected(4, 24));
    EXPECT_EQ(m.tokens()[2].qx, 4);
    EXPECT_EQ(m.tokens()[2].qy, 24);
    EXPECT_EQ(m.renderCount(), renders + 1);
    EXPECT_NE(m.frame().raster.image, raster_before);
    EXPECT_NE(m.frame().image, before);
    EXPECT_EQ(m.editCount(), 1);

    ASSERT_TRUE(m.recolourSelected(3));
    EXPECT_EQ(m.tokens()[2].colour, 3);
    const int slot = m.selectedSlot();
    ASSERT_GE(slot, 0);
    EXPECT_EQ(m.frame().tokens[size_t(slot)].colour, 3);

    ASSERT_TRUE(m.deleteSelected());
    EXPECT_EQ(m.tokens().size(), 2u);
    EXPECT_EQ(m.frame().tokens.size(), 2u);
    EXPECT_EQ(m.selected(), -1);
    EXPECT_FALSE(m.deleteSelected()) << "no selection, nothing to delete";
    EXPECT_NE(m.caption().find("3 edits"), std::string::npos) << m.caption();
}

TEST(SceneLayoutModel, PlannerDrawsOneObjectAtATime) {
    SceneLayoutModel& m = loaded();
    m.setStep(1);
    EXPECT_EQ(m.frame().tokens.size(), 1u);
    m.setStep(2);
    EXPECT_EQ(m.frame().tokens.size(), 2u);
    const std::vector<RgbaImage> thumbs = m.stepThumbnails();
    ASSERT_EQ(thumbs.size(), 3u);
    EXPECT_NE(thumbs[0].pixels, thumbs[2].pixels);
    m.setStep(99);
    EXPECT_EQ(m.step(), 3);
    m.plan(7);
    EXPECT_TRUE(m.isPlanned());
    EXPECT_EQ(m.step(), m.stepCount());
    EXPECT_NE(m.caption().find("planner seed 7"), std::string::npos);
}

TEST(SceneLayoutModel, MissingModelIsAClearError) {
    SceneLayoutModel m;
    const Status s = m.loadModel(kTiny + "/nope");
    ASSERT_FALSE(s.isOk());
    EXPECT_NE(s.error().find("config.json"), std::string::npos) << s.error();
    EXPECT_FALSE(m.hasModel());
}

TEST(SceneFigure, ExportsPngSvgPdf) {
    SceneLayoutModel& m = loaded();
    m.select(1);
    SceneFigure fig(m);
    QTemporaryDir dir;
    ASSERT_TRUE(dir.isValid());
    FigureOptions o;
    o.size = QSize(900, 760);
    for (const char* ext : {"png", "svg", "pdf"}) {
        const QString path = dir.filePath(QStringLiteral("scene.") + QString::fromLatin1(ext));
        QString error;
        ASSERT_TRUE(writeFigure(fig, path, o, &error)) << error.toStdString();
        QFile f(path);
        ASSERT_TRUE(f.open(QIODevice::ReadOnly));
        const QByteArray head = f.read(400);
        if (std::string(ext) == "png") {
            const QImage im(path);
            EXPECT_EQ(im.size(), QSize(900, 760));
        } else if (std::string(ext) == "svg") {
            EXPECT_TRUE(head.contains("<svg")) << head.toStdString();
        } else {
            EXPECT_TRUE(head.startsWith("%PDF"));
        }
    }
    SceneLayoutModel empty;
    SceneFigure none(empty);
    QString error;
    EXPECT_FALSE(writeFigure(none, dir.filePath(QStringLiteral("none.png")), o, &error));
    EXPECT_TRUE(error.contains(QStringLiteral("no scene model"))) << error.toStdString();
}

}  // namespace
}  // namespace attnlab

int main(int argc, char** argv) {
    qputenv("QT_QPA_PLATFORM", "offscreen");
    QGuiApplication app(argc, argv);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
