// Scanpath view (issue 9) as a window under xvfb-run (label gl): shows the view (which loads the
// committed model and generates its first display), steps forward and back through the model's
// fixations with the buttons' slots, checks the screen changes with the step, and exports the
// figure as PNG, SVG and PDF.
#include <gtest/gtest.h>

#include <QApplication>
#include <QDir>
#include <QFile>
#include <QImage>
#include <QTest>

#include "views/scanpath_model.h"
#include "views/scanpath_view.h"

using namespace attnlab;

TEST(ScanpathGl, OpenStepExport) {
    ScanpathView view(QString::fromUtf8(ATTNLAB_SOURCE_DIR));
    QString error;
    ASSERT_TRUE(view.loadModel(QString::fromUtf8(ATTNLAB_SOURCE_DIR) + "/assets/models/oat", &error))
        << error.toStdString();
    view.resize(1000, 760);
    view.show();
    ASSERT_TRUE(QTest::qWaitForWindowExposed(&view));
    ASSERT_TRUE(view.model().hasCase());
    ASSERT_GE(view.model().steps(), 2);
    QApplication::processEvents();
    const QImage first = view.canvas()->grab().toImage();
    view.stepForward();
    EXPECT_EQ(view.model().step(), 1);
    QApplication::processEvents();
    const QImage second = view.canvas()->grab().toImage();
    EXPECT_NE(first, second) << "the canvas did not change with the step";
    view.stepBack();
    EXPECT_EQ(view.model().step(), 0);
    view.setSeed(21);
    ASSERT_TRUE(view.generate(&error)) << error.toStdString();
    const QString out = QString::fromUtf8(ATTNLAB_TEST_OUT_DIR);
    QDir().mkpath(out);
    for (const char* ext : {"png", "svg", "pdf"}) {
        const QString path = out + "/scanpath_view." + ext;
        QFile::remove(path);
        ASSERT_TRUE(view.exportFigure(path, FigureOptions{}, &error)) << error.toStdString();
        EXPECT_GT(QFile(path).size(), 1000) << path.toStdString();
    }
    EXPECT_FALSE(view.exportFigure(out + "/scanpath_view.bmp", FigureOptions{}, &error));
    EXPECT_FALSE(error.isEmpty());
}

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
