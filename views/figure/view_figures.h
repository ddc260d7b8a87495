// The views as figures, drawn from the same view models the on-screen canvases draw from.
// Each keeps a reference to its model, which must outlive it.
#pragma once

#include <QPointF>
#include <QRectF>
#include <QString>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "views/figure/figure.h"

namespace attnlab {

class AttentionViewModel;
class HeadGridModel;
class TimelineModel;
class DiffModel;
struct ComparisonData;
struct RunData;

// "model attnlab-demo · task needle:… (412 prompt tokens) · strategy streaming:… · 16 new tokens"
QString runSpecCaption(const ComparisonData* data, const RunData* run);

// The attention view, or the mask view when the model's mask overlay is on (kept keys bright,
// evicted ones dimmed, a kept/evicted strip over the key axis, the kept share of the mass).
class MatrixFigure : public Figure {
public:
    explicit MatrixFigure(const AttentionViewModel& model) : m_model(model) {}
    QString title() const override;
    QString caption() const override;
    QString emptyReason() const override;
    void paintBody(QPainter& p, const QRectF& area, const FigureStyle& style) const override;

private:
    const AttentionViewModel& m_model;
};

// Layers x query heads coloured by the chosen score, with KV-head groups and pattern thumbnails.
class HeadGridFigure : public Figure {
public:
    explicit HeadGridFigure(const HeadGridModel& model) : m_model(model) {}
    QString title() const override;
    QString caption() const override;
    QString emptyReason() const override;
    void paintBody(QPainter& p, const QRectF& area, const FigureStyle& style) const override;

private:
    const HeadGridModel& m_model;
};

// Decode step x token position of one KV head: alive / selected / evicted.
class TimelineFigure : public Figure {
public:
    explicit TimelineFigure(const TimelineModel& model) : m_model(model) {}
    QString title() const override;
    QString caption() const override;
    QString emptyReason() const override;
    void paintBody(QPainter& p, const QRectF& area, const FigureStyle& style) const override;
    // (row, position) under a point of the last paint, for hover text on screen.
    std::optional<std::pair<int64_t, int64_t>> cellAt(const QPointF& point) const;
    QString describe(int64_t row, int64_t position) const;

private:
    const TimelineModel& m_model;
    mutable QRectF m_plot;
};

// B - A of attention (diverging map) over B - A of per-token KL from full.
class DiffFigure : public Figure {
public:
    explicit DiffFigure(const DiffModel& model) : m_model(model) {}
    QString title() const override;
    QString caption() const override;
    QString emptyReason() const override;
    void paintBody(QPainter& p, const QRectF& area, const FigureStyle& style) const override;
    // (row, col) of the attention difference under a point of the last paint.
    std::optional<std::pair<int64_t, int64_t>> cellAt(const QPointF& point) const;
    QString describe(int64_t row, int64_t col) const;

private:
    const DiffModel& m_model;
    mutable QRectF m_plot;
};

}  // namespace attnlab
