// The KV-timeline and difference docks and the export dialog as widgets, under the `offscreen`
// platform (label fast: they paint with QPainter, no GL): they follow data and head selections,
// paint the figure, and give hover text for the cell under the mouse.
#include <gtest/gtest.h>

#include <QApplication>
#include <QLineEdit>
#include <QPushButton>

#include "tests/views/figure_sample_data.h"
#include "views/diff_model.h"
#include "views/diff_view.h"
#include "views/figure/export_dialog.h"
#include "views/figure/figure_widget.h"
#include "views/figure/view_figures.h"
#include "views/timeline_model.h"
#include "views/timeline_view.h"

namespace attnlab {
namespace {

using figure_test::sampleData;

TEST(TimelineView, FollowsDataAndHeadAndDescribesTheCellUnderTheMouse) {
    TimelineView view;
    view.resize(700, 420);
    view.setData(sampleData());
    EXPECT_EQ(view.model().run(), 1) << "starts on the first run that decided something";
    view.selectHead(1, 3);  // query head 3 reads KV head 1
    EXPECT_EQ(view.model().layer(), 1);
    EXPECT_EQ(view.model().kvHead(), 1);
    auto* canvas = view.findChild<FigureWidget*>(QStringLiteral("timelineCanvas"));
    ASSERT_NE(canvas, nullptr);
    const QImage shot = canvas->grab().toImage();  // paints, which lays the plot out
    ASSERT_FALSE(shot.isNull());
    if (!qEnvironmentVariableIsEmpty("ATTNLAB_FIGURE_TEST_OUT"))  // to look at it
        shot.save(qEnvironmentVariable("ATTNLAB_FIGURE_TEST_OUT") + QStringLiteral("/timeline_widget.png"));
    // Somewhere in the plot: the cell of (step 0, position 4) is "evicted at this step".
    bool found = false;
    for (int y = 0; y < shot.height() && !found; y += 3) {
        for (int x = 0; x < shot.width() && !found; x += 3) {
            const auto cell = view.figure().cellAt(QPointF(x, y));
            if (cell && cell->first == 1 && cell->second == 4) {
                const QString text = view.figure().describe(cell->first, cell->second);
                EXPECT_TRUE(text.contains(QStringLiteral("step 0"))) << text.toStdString();
                EXPECT_TRUE(text.contains(QStringLiteral("evicted at this step"))) << text.toStdString();
                EXPECT_EQ(shot.pixelColor(x, y), QColor(213, 94, 0)) << "drawn in the evicted colour";
                found = true;
            }
        }
    }
    EXPECT_TRUE(found);
    EXPECT_FALSE(view.figure().cellAt(QPointF(1, 1)).has_value());
}

TEST(DiffView, ComparesFirstAndLastRunByDefaultAndFollowsTheHead) {
    DiffView view;
    view.resize(700, 600);
    view.setData(sampleData());
    EXPECT_EQ(view.model().runA(), 0);
    EXPECT_EQ(view.model().runB(), 1);
    view.selectHead(0, 2);
    EXPECT_EQ(view.model().head(), 2);
    EXPECT_GT(view.model().maxAbsDelta(), 0.0);
    view.selectRuns(1, 1);
    EXPECT_EQ(view.model().maxAbsDelta(), 0.0);
    auto* canvas = view.findChild<FigureWidget*>(QStringLiteral("diffCanvas"));
    ASSERT_NE(canvas, nullptr);
    EXPECT_FALSE(canvas->grab().toImage().isNull());
}

TEST(FigureExportDialog, TheExtensionPicksTheFormat) {
    FigureOptions defaults;
    defaults.size = QSize(640, 480);
    FigureExportDialog dialog({QStringLiteral("attention"), QStringLiteral("timeline")}, QStringLiteral("timeline"),
                              defaults, QStringLiteral("/tmp/f.pdf"));
    EXPECT_EQ(dialog.view(), QStringLiteral("timeline"));
    EXPECT_EQ(dialog.options().size, QSize(640, 480));
    auto* path = dialog.findChild<QLineEdit*>(QStringLiteral("figurePath"));
    ASSERT_NE(path, nullptr);
    QPushButton* ok = nullptr;
    for (QPushButton* b : dialog.findChildren<QPushButton*>())
        if (b->text() == QStringLiteral("Export")) ok = b;
    ASSERT_NE(ok, nullptr);
    EXPECT_TRUE(ok->isEnabled());
    path->setText(QStringLiteral("/tmp/f.jpg"));
    EXPECT_FALSE(ok->isEnabled());
    path->setText(QStringLiteral("/tmp/f.svg"));
    EXPECT_TRUE(ok->isEnabled());
}

}  // namespace
}  // namespace attnlab

int main(int argc, char** argv) {
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    ::testing::InitGoogleTest(&argc, argv);
    QApplication app(argc, argv);
    return RUN_ALL_TESTS();
}
