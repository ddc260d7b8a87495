// The scanpath view as a figure (issue 9): the search display with objects outlined, the pointer
// distribution of the current step as a heat overlay on the objects, the model's scanpath (magenta)
// and one simulated subject's (cyan) as numbered fixations joined by arrows (the model's up to the
// current step), and a bar strip of the model's cross-attention over the object tokens (+ cue,
// STOP). The same QPainter code draws the screen and the PNG/SVG/PDF exports.
#pragma once

#include <QRectF>

#include "views/figure/figure.h"

namespace attnlab {

class ScanpathViewModel;

struct ScanpathFigureLayout {
    QRectF display;    // the canvas (512x320 scaled)
    QRectF attention;  // the attention strip
};
ScanpathFigureLayout layoutScanpathFigure(const QRectF& area, double font_px);

class ScanpathFigure : public Figure {
public:
    explicit ScanpathFigure(const ScanpathViewModel& model) : m_model(model) {}
    QString title() const override;
    QString caption() const override;
    QString emptyReason() const override;
    void paintBody(QPainter& painter, const QRectF& area, const FigureStyle& style) const override;

private:
    const ScanpathViewModel& m_model;
};

}  // namespace attnlab
