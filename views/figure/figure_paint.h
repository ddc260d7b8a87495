// Painting pieces shared by the figures (heatmap cells, axis token labels, colour bar, legend).
// Private to views/.
#pragma once

#include <QColor>
#include <QPainter>
#include <QRectF>
#include <QString>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "views/colormap.h"
#include "views/figure/figure.h"

namespace attnlab {

inline QColor toQColor(Rgba8 c) { return QColor(c.r, c.g, c.b, c.a); }

QFont figureFont(double px, bool is_bold = false);

// A colour scale as gradient stops (t in [0, 1], lowest first).
using ColorStops = std::vector<std::pair<double, QColor>>;
ColorStops viridisStops();

// Draws the image's pixels as cells filling `plot`. Vector (one rectangle per cell, or per run of
// equal cells in a row when `merge_runs`) when the image has at most style.max_vector_cells pixels,
// else one raster image scaled without smoothing. Pixels of colour `hidden` (e.g. the causal
// mask's) are not drawn: the plot is filled with `fill` under the cells instead.
void paintCells(QPainter& p, const QRectF& plot, const RgbaImage& image, Rgba8 hidden, const QColor& fill,
                bool merge_runs, const FigureStyle& style);

// Token labels along the left edge (one per row, right-aligned), every k-th row when rows are
// shorter than the font. label(i) is the text of row i.
void paintRowLabels(QPainter& p, const QRectF& plot, int64_t rows, const std::function<QString(int64_t)>& label,
                    double width, const FigureStyle& style);
// The same under the plot, rotated to read bottom-up.
void paintColumnLabels(QPainter& p, const QRectF& plot, int64_t cols, const std::function<QString(int64_t)>& label,
                       double height, const FigureStyle& style);
// Width the longest label needs (capped at max_width).
double labelsWidth(int64_t count, const std::function<QString(int64_t)>& label, double max_width,
                   const FigureStyle& style);

// Vertical colour bar: gradient from stops, ticks (t in [0, 1]) with labels to its right, and a
// caption rotated beside them. Returns the width used.
constexpr double kColorBarWidth = 14;
double colorBarExtent(const std::vector<std::pair<double, std::string>>& ticks, const FigureStyle& style);
void paintColorBar(QPainter& p, const QRectF& bar, const ColorStops& stops,
                   const std::vector<std::pair<double, std::string>>& ticks, const QString& caption,
                   const FigureStyle& style);

// A row of swatches with labels; returns the height used.
double paintLegend(QPainter& p, const QPointF& origin, double max_width,
                   const std::vector<std::pair<QColor, QString>>& items, const FigureStyle& style);

// Axis caption ("query", "key →") helpers.
void paintText(QPainter& p, const QRectF& rect, int flags, const QString& text, const QColor& color, double px,
               bool is_bold = false);

}  // namespace attnlab
