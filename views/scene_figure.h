// The scene layout view as a figure (issue 10): rendered image, rasterised layout, amodal or visible
// masks, depth, the planner's drawing order and per-layer token->pixel attention. The same QPainter
// code draws the on-screen view and the PNG/SVG/PDF exports (views/figure/figure.h). Images are
// embedded as rasters (scaled without smoothing); boxes, labels and frames are vector.
#pragma once

#include <QRectF>
#include <vector>

#include "views/figure/figure.h"

namespace attnlab {

class SceneLayoutModel;

// Where each part of the figure body goes, for drawing and for hit tests in the view.
struct SceneFigureLayout {
    QRectF panels[4];            // rendered image, layout (rasteriser), masks, depth
    std::vector<QRectF> steps;   // planner drawing order: step k shows the first k + 1 objects
    std::vector<QRectF> attention;  // token slots: background, then objects back to front
    QRectF color_bar;
};

SceneFigureLayout layoutSceneFigure(const QRectF& area, int objects, int steps, double font_px);

class SceneFigure : public Figure {
public:
    explicit SceneFigure(const SceneLayoutModel& model) : m_model(model) {}
    QString title() const override;
    QString caption() const override;
    QString emptyReason() const override;
    void paintBody(QPainter& painter, const QRectF& area, const FigureStyle& style) const override;

private:
    const SceneLayoutModel& m_model;
};

}  // namespace attnlab
