// The long-context attention view model and dock (issue 7): viewport maths, which tile it asks for,
// that a tile replaces the pyramid where it covers the screen, the hover readout's exact weight,
// memory bounds, and the Qt dock end to end (worker tile arrives, bad file is an error). Offscreen.
#include <gtest/gtest.h>

#include <QApplication>
#include <QElapsedTimer>
#include <cmath>

#include "core/analysis/long_attention.h"
#include "views/long_attention_model.h"
#include "views/long_attention_view.h"

namespace attnlab {
namespace {

struct Data {
    std::shared_ptr<LongAttentionCapture> capture;
    std::shared_ptr<AttentionPyramid> pyramid;
};

Data makeData(int64_t n, int64_t cells) {
    Data d;
    d.capture = std::make_shared<LongAttentionCapture>(synthesizeLongAttention(n, 5, 16));
    EXPECT_TRUE(computeRowNormalisers(*d.capture).isOk());
    auto p = buildPyramid(*d.capture, cells);
    EXPECT_TRUE(p.isOk());
    d.pyramid = std::make_shared<AttentionPyramid>(std::move(*p));
    return d;
}

TEST(LongAttentionModel, WholePromptUsesThePyramidAndZoomAsksForATile) {
    Data d = makeData(4000, 128);
    LongAttentionModel m;
    m.setData(d.capture, d.pyramid);
    m.resize(400, 300);
    EXPECT_DOUBLE_EQ(m.tokensPerPixel(), 4000.0 / 300.0);
    // 13 tokens/px is finer than the 31-token cells of level 0: an exact tile is worth it when the
    // region (4000 x 4000 entries) fits the budget, else the pyramid is drawn upscaled.
    m.setTileBudget(int64_t(1) << 20);
    EXPECT_FALSE(m.wantedTile().is_needed);
    EXPECT_TRUE(m.isRegionTooLarge());
    m.setTileBudget(LongAttentionModel::kDefaultTileBudget);
    EXPECT_TRUE(m.wantedTile().is_needed);
    EXPECT_FALSE(m.isRegionTooLarge());
    m.render();
    EXPECT_EQ(m.lastLevel(), 0);

    // Zoom in 20x on a point of the diagonal: the point stays under the cursor.
    const double x = 150, y = 150;
    const double row_before = m.row0() + y * m.tokensPerPixel(), col_before = m.col0() + x * m.tokensPerPixel();
    m.zoomAt(x, y, 20.0);
    EXPECT_NEAR(m.row0() + y * m.tokensPerPixel(), row_before, 1e-6);
    EXPECT_NEAR(m.col0() + x * m.tokensPerPixel(), col_before, 1e-6);
    LongTileRequest req = m.wantedTile();
    ASSERT_TRUE(req.is_needed);
    EXPECT_LE(req.c1, req.r1);  // never asks for keys above the whole region's diagonal
    EXPECT_LE(req.out_rows, 300);
    EXPECT_LE(req.out_cols, 400);

    // The tile replaces the pyramid: pixels then equal the tile's values (hover reads them back).
    auto tile = computePooledTile(*d.capture, req.r0, req.r1, req.c0, req.c1, req.out_rows, req.out_cols);
    ASSERT_TRUE(tile.isOk());
    m.setTile(req, std::make_shared<const PooledWeights>(std::move(*tile)));
    m.render();
    LongAttentionHover h = m.hoverAt(x, y);
    ASSERT_TRUE(h.is_valid);
    EXPECT_TRUE(h.is_exact_tile);
    EXPECT_FALSE(h.is_masked);
    EXPECT_FLOAT_EQ(h.weight, exactWeight(*d.capture, h.query, h.key));
    // At <= 1 token per pixel the drawn value is that entry's exact weight.
    while (m.tokensPerPixel() > 1.0) m.zoomAt(x, y, 2.0);
    req = m.wantedTile();
    ASSERT_TRUE(req.is_needed);
    tile = computePooledTile(*d.capture, req.r0, req.r1, req.c0, req.c1, req.out_rows, req.out_cols);
    ASSERT_TRUE(tile.isOk());
    EXPECT_TRUE(tile->isExact());
    m.setTile(req, std::make_shared<const PooledWeights>(std::move(*tile)));
    h = m.hoverAt(x, y);
    ASSERT_TRUE(h.is_exact_tile);
    if (!h.is_masked) EXPECT_NEAR(h.shown, h.weight, 1e-6);
}

TEST(LongAttentionModel, PanIsClampedAndAboveTheDiagonalIsMasked) {
    Data d = makeData(2000, 64);
    LongAttentionModel m;
    m.setData(d.capture, d.pyramid);
    m.resize(200, 200);
    m.zoomAt(0, 0, 4.0);
    m.panBy(1e6, 1e6);  // drag far right/down: the view stops at the first token
    EXPECT_DOUBLE_EQ(m.row0(), 0);
    EXPECT_DOUBLE_EQ(m.col0(), 0);
    m.panBy(-1e6, 0);  // keys to the end: the top-right corner is all above the diagonal
    m.render();
    const RgbaImage img = m.image();
    const Rgba8 corner = img.at(199, 0);
    EXPECT_EQ(corner.r, 235);
    EXPECT_EQ(corner.g, 235);
    EXPECT_TRUE(m.hoverAt(199, 0).is_masked);
    EXPECT_EQ(m.hoverAt(199, 0).weight, 0.f);
    EXPECT_FALSE(m.wantedTile().is_needed);  // nothing visible below the diagonal there
    // Memory: q/k + pyramid + screen buffers only (no N x N).
    EXPECT_LT(m.memoryBytes(), size_t(2000) * 16 * 4 * 3 + d.pyramid->bytes() + 200 * 200 * 16);
}

TEST(LongAttentionDock, WorkerDeliversTheTileAndBadFilesAreErrors) {
    int argc = 1;
    char name[] = "long_attention_view_test";
    char* argv[] = {name, nullptr};
    // No display needed (QPainter only); ctest sets the same, a bare run of the binary may not.
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    LongAttentionView view;
    view.resize(500, 400);
    const Status bad = view.openFile("/nonexistent/capture.safetensors");
    ASSERT_FALSE(bad.isOk());
    EXPECT_NE(bad.error().find("capture.safetensors"), std::string::npos);
    Data d = makeData(3000, 64);
    view.setData(d.capture, d.pyramid, "test");
    view.show();
    QApplication::processEvents();
    view.canvas()->zoomAt(100, 100, 16.0);
    QElapsedTimer t;
    t.start();
    while (view.tilesReceived() == 0 && t.elapsed() < 10000) QApplication::processEvents(QEventLoop::AllEvents, 10);
    ASSERT_EQ(view.tilesReceived(), 1);
    EXPECT_TRUE(view.model().hasTile());
    EXPECT_TRUE(view.model().tileRequest() == view.model().wantedTile());
}

}  // namespace
}  // namespace attnlab
