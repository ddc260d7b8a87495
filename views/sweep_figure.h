// The budget sweep as a figure (issue 7): two panels over the same x axis, KV cache kept as a share of
// full's (absolute bytes in the axis title): the quality metric (accuracy, KL or top-1) on the left,
// the time metric (decode ms per token or prefill ms) on the right. One line with markers per
// strategy (every strategy on one chart), full as a black diamond with a dashed reference line, and a
// legend. Drawn with the figure renderer, so PNG/SVG/PDF export and the on-screen widget agree.
#pragma once

#include <QColor>
#include <QPointF>
#include <QRectF>
#include <QString>
#include <optional>
#include <vector>

#include "views/figure/figure.h"

namespace attnlab {

class SweepModel;

// The colour of the i-th strategy's line (Okabe-Ito, colour-blind safe; cycles).
QColor sweepSeriesColor(size_t index);
// Full's marker and reference line on a light figure (they take the text colour).
QColor sweepFullColor();

class SweepFigure : public Figure {
public:
    explicit SweepFigure(const SweepModel& model) : m_model(model) {}
    QString title() const override;
    QString caption() const override;
    QString emptyReason() const override;
    void paintBody(QPainter& p, const QRectF& area, const FigureStyle& style) const override;

    // Index (into the result's points) of the marker nearest to a point of the last paint, within a
    // few pixels; and its description for hover text.
    std::optional<size_t> pointAt(const QPointF& pos) const;
    QString describe(size_t index) const;

private:
    const SweepModel& m_model;
    mutable std::vector<std::pair<QPointF, size_t>> m_markers;  // last paint's marker centres
};

}  // namespace attnlab
