// GL test (label gl) of the scene layout view in the app window, under Xvfb: the "Scene layout"
// dock loads the committed scene model when shown, a drag in the rendered image moves an object
// and re-renders, the colour box recolours it, Delete removes it, and the figure exports as PNG,
// SVG and PDF. The window's own docks (ImGui canvases) need the GL context Xvfb provides.
#include <gtest/gtest.h>

#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QElapsedTimer>
#include <QFile>
#include <QImage>
#include <QPushButton>
#include <QTest>
#include <QXmlStreamReader>
#include <functional>

#include "app/gui/main_window.h"
#include "core/vision/scene/scene.h"
#include "views/scene_layout_model.h"
#include "views/scene_view.h"

namespace attnlab {
namespace {

const QString kSourceDir = QStringLiteral(ATTNLAB_SOURCE_DIR);
const QString kOutDir = QStringLiteral(ATTNLAB_TEST_OUT_DIR);
const QString kAppPath = QStringLiteral(ATTNLAB_APP_PATH);

void spin(int ms, const std::function<bool()>& done) {
    QElapsedTimer t;
    t.start();
    while (!done() && t.elapsed() < ms) QTest::qWait(20);
}

TEST(SceneDock, EditsReRenderAndExport) {
    AppOptions options;
    options.model_dir = (kSourceDir + QStringLiteral("/tests/fixtures/parity/llama3")).toStdString();
    QDir().mkpath(kOutDir);
    MainWindow window(options, kAppPath.toStdString());
    window.show();
    QDockWidget* dock = window.findChild<QDockWidget*>(QStringLiteral("Scene layoutDock"));
    ASSERT_NE(dock, nullptr) << "the app has a Scene layout dock";
    dock->show();
    dock->raise();
    auto* view = window.findChild<SceneView*>();
    ASSERT_NE(view, nullptr);
    spin(30000, [&] { return view->model().hasModel() && view->isVisible(); });
    ASSERT_TRUE(view->model().hasModel()) << "assets/models/scene was found and loaded";
    SceneLayoutModel& m = view->model();
    // A planned layout with at least one object (try seeds until the planner gives two or more).
    for (int seed = 1; seed < 20 && m.stepCount() < 2; ++seed) view->plan(seed);
    ASSERT_GE(m.stepCount(), 2);
    spin(500, [] { return false; });

    // The object with the most visible pixels, and one of its pixels.
    const scene::SceneFrame& f = m.frame();
    int best = 0;
    for (size_t i = 1; i < f.raster.objects.size(); ++i)
        if (f.raster.objects[i].visible_pixels > f.raster.objects[size_t(best)].visible_pixels) best = int(i);
    int px = -1, py = -1;
    for (int y = 0; y < scene::kImageSize && px < 0; ++y)
        for (int x = 0; x < scene::kImageSize && px < 0; ++x)
            if (f.raster.instance[size_t(y * scene::kImageSize + x)] == best + 1) {
                px = x;
                py = y;
            }
    ASSERT_GE(px, 0);
    const int token = f.source_index[size_t(best)];
    const scene::Token before = m.tokens()[size_t(token)];
    const std::vector<uint8_t> image_before = m.frame().image;
    const int renders = m.renderCount();

    // Drag it 12 image pixels to the left (and a little down) in the rendered-image panel.
    SceneCanvas* canvas = view->canvas();
    const QPoint from = canvas->pointOfPixel(0, px + 0.5, py + 0.5).toPoint();
    const int tx = px > 20 ? px - 12 : px + 12;
    const QPoint to = canvas->pointOfPixel(0, tx + 0.5, std::min(62, py + 3) + 0.5).toPoint();
    QTest::mousePress(canvas, Qt::LeftButton, Qt::NoModifier, from);
    ASSERT_EQ(m.selected(), token) << "a click selects the object under the cursor";
    QTest::mouseMove(canvas, to);
    QTest::mouseRelease(canvas, Qt::LeftButton, Qt::NoModifier, to);
    spin(2000, [&] { return m.renderCount() > renders; });
    EXPECT_GT(m.renderCount(), renders) << "the move re-rendered";
    const scene::Token after = m.tokens()[size_t(token)];
    EXPECT_TRUE(after.qx != before.qx || after.qy != before.qy);
    EXPECT_NE(m.frame().image, image_before);

    // Recolour through the colour box, then delete with the button.
    auto* colour = view->findChild<QComboBox*>(QStringLiteral("sceneColour"));
    ASSERT_NE(colour, nullptr);
    ASSERT_TRUE(colour->isEnabled());
    const int new_colour = (after.colour + 3) % scene::kNumColours;
    colour->setCurrentIndex(new_colour);
    Q_EMIT colour->activated(new_colour);
    EXPECT_EQ(m.tokens()[size_t(token)].colour, new_colour);
    const size_t count = m.tokens().size();
    auto* del = view->findChild<QPushButton*>(QStringLiteral("sceneDelete"));
    ASSERT_NE(del, nullptr);
    QTest::mouseClick(del, Qt::LeftButton);
    EXPECT_EQ(m.tokens().size(), count - 1);
    EXPECT_GE(m.editCount(), 3);

    // What is on screen is the model's image: sample the rendered panel's centre pixel.
    spin(300, [] { return false; });
    const QImage shot = canvas->grab().toImage();
    const QPoint c = canvas->pointOfPixel(0, 32.5, 40.5).toPoint();
    const QRgb on_screen = shot.pixel(c);
    const uint8_t* want = &m.frame().image[size_t((40 * scene::kImageSize + 32) * 3)];
    EXPECT_NEAR(qRed(on_screen), want[0], 3);
    EXPECT_NEAR(qGreen(on_screen), want[1], 3);
    EXPECT_NEAR(qBlue(on_screen), want[2], 3);

    // Export through the figure renderer.
    FigureOptions o;
    o.size = QSize(1000, 820);
    for (const char* ext : {"png", "svg", "pdf"}) {
        const QString path = kOutDir + QStringLiteral("/scene_view.") + QString::fromLatin1(ext);
        QString error;
        ASSERT_TRUE(view->exportFigure(path, o, &error)) << error.toStdString();
        QFile file(path);
        ASSERT_TRUE(file.open(QIODevice::ReadOnly)) << path.toStdString();
        const QByteArray bytes = file.readAll();
        if (std::string(ext) == "png") {
            EXPECT_EQ(QImage(path).size(), QSize(1000, 820));
        } else if (std::string(ext) == "svg") {
            QXmlStreamReader xml(bytes);
            int texts = 0;
            while (!xml.atEnd())
                if (xml.readNext() == QXmlStreamReader::StartElement && xml.name() == QStringLiteral("text")) ++texts;
            EXPECT_FALSE(xml.hasError()) << xml.errorString().toStdString();
            EXPECT_GT(texts, 5) << "titles and labels are vector text";
        } else {
            EXPECT_TRUE(bytes.startsWith("%PDF"));
        }
    }
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
    qputenv("XDG_DATA_HOME", ATTNLAB_TEST_OUT_DIR "/xdg-data");
    QApplication::setAttribute(Qt::AA_ShareOpenGLContexts);
    QApplication app(argc, argv);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
