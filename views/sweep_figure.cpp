#include "views/sweep_figure.h"

#include <QFontMetricsF>
#include <QPainter>
#include <QPainterPath>
#include <QPolygonF>
#include <algorithm>
#include <cmath>

#include "views/figure/figure_paint.h"
#include "views/sweep_model.h"

namespace attnlab {

namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

// A "nice" tick step (1, 2, 2.5 or 5 times a power of ten) for about `count` intervals over [0, max].
double niceStep(double max, int count) {
    if (!(max > 0)) return 0.25;
    const double raw = max / count;
    const double p = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
        if (m * p >= raw) return m * p;
    return 10 * p;
}

QString bytesText(double bytes) {
    if (bytes >= 1024.0 * 1024.0 * 1024.0) return QStringLiteral("%1 GiB").arg(bytes / 1024.0 / 1024.0 / 1024.0, 0, 'f', 2);
    if (bytes >= 1024.0 * 1024.0) return QStringLiteral("%1 MiB").arg(bytes / 1024.0 / 1024.0, 0, 'f', 2);
    if (bytes >= 1024.0) return QStringLiteral("%1 KiB").arg(bytes / 1024.0, 0, 'f', 1);
    return QStringLiteral("%1 B").arg(bytes, 0, 'f', 0);
}

QString tickText(double v, double step) {
    int decimals = 0;  // as many as the step needs (0.25 -> 2)
    while (decimals < 4 && std::fabs(step * std::pow(10.0, decimals) - std::round(step * std::pow(10.0, decimals))) > 1e-6)
        ++decimals;
    return QString::number(v, 'f', decimals);
}

struct Axis {
    double max = 1;
    double step = 0.25;
};

Axis axisFor(SweepMetric metric, double max_value) {
    if (metric == SweepMetric::Accuracy || metric == SweepMetric::Top1) return {1.0, 0.25};
    const double top = max_value > 0 ? max_value * 1.08 : 1.0;
    const double step = niceStep(top, 4);
    return {std::ceil(top / step - 1e-9) * step, step};
}

void paintMarker(QPainter& p, const QPointF& c, const QColor& color, double r, bool is_full, const FigureStyle& style) {
    p.setPen(QPen(is_full ? color : style.background, 1.0));
    p.setBrush(color);
    if (is_full) {
        QPolygonF diamond;
        diamond << QPointF(c.x(), c.y() - r * 1.4) << QPointF(c.x() + r * 1.4, c.y()) << QPointF(c.x(), c.y() + r * 1.4)
                << QPointF(c.x() - r * 1.4, c.y());
        p.drawPolygon(diamond);
    } else {
        p.drawEllipse(c, r, r);
    }
}

}  // namespace

QColor sweepSeriesColor(size_t index) {
    static const QColor kColors[] = {QColor(0, 114, 178),  QColor(230, 159, 0),   QColor(0, 158, 115),
                                     QColor(213, 94, 0),   QColor(204, 121, 167), QColor(86, 180, 233),
                                     QColor(153, 153, 153), QColor(117, 112, 179)};
    return kColors[index % (sizeof(kColors) / sizeof(kColors[0]))];
}

QColor sweepFullColor() { return QColor(20, 20, 24); }

QString SweepFigure::title() const { return qs(m_model.title()); }

QString SweepFigure::caption() const {
    const SweepResult* r = m_model.result();
    if (!r) return QString();
    QStringList parts;
    if (!r->model.empty()) parts << QStringLiteral("model %1").arg(qs(r->model));
    parts << QStringLiteral("%1 (%2 prompt tokens)").arg(qs(r->input)).arg(r->prompt_tokens);
    if (r->trials > 0) parts << QStringLiteral("%1 trial(s) per point").arg(r->trials);
    parts << QStringLiteral("KV: K/V bytes kept at the end of the run, as a share of full's (%1)")
                 .arg(bytesText(r->fullKvBytes()));
    const bool has_kl = std::any_of(r->points.begin(), r->points.end(),
                                    [](const SweepPoint& p) { return !p.isFull() && std::isfinite(p.kl_vs_full); });
    if (has_kl) parts << QStringLiteral("KL and top-1 on full's continuation (teacher forced)");
    if (r->source != "run" && r->source != "comparison") parts << QStringLiteral("from %1").arg(qs(r->source));
    return parts.join(QStringLiteral(" · "));
}

QString SweepFigure::emptyReason() const { return qs(m_model.emptyReason()); }

void SweepFigure::paintBody(QPainter& p, const QRectF& area, const FigureStyle& style) const {
    m_markers.clear();
    const SweepResult* r = m_model.result();
    if (!r) return;
    const double px = style.font_px;
    const QFont font = figureFont(px * 0.9);
    const QFontMetricsF fm(font);

    // Legend: one entry per strategy, then full.
    std::vector<std::pair<QColor, QString>> items;
    for (const SweepSeries& s : m_model.series()) items.emplace_back(sweepSeriesColor(s.color_index), qs(s.strategy));
    if (m_model.fullPoint()) items.emplace_back(style.text, QStringLiteral("full (reference)"));
    const double legend_h = paintLegend(p, area.topLeft(), area.width(), items, style);

    const double full_kv = r->fullKvBytes();
    const QString x_title = full_kv > 0 ? QStringLiteral("KV cache kept, share of full (full = %1)").arg(bytesText(full_kv))
                                        : QStringLiteral("KV cache kept, share of full");
    const double x_max_share = m_model.maxKvShare();
    const double x_step = niceStep(x_max_share, 4) < 0.25 ? 0.25 : niceStep(x_max_share, 4);
    const double x_max = std::ceil(x_max_share / x_step - 1e-9) * x_step;

    const SweepMetric metrics[2] = {m_model.qualityMetric(), m_model.timeMetric()};
    const double gap = px * 2.5;
    const double top = area.top() + legend_h + px * 0.8;
    const double panel_w = (area.width() - gap) / 2;
    for (int panel = 0; panel < 2; ++panel) {
        const SweepMetric metric = metrics[panel];
        const Axis y = axisFor(metric, m_model.maxValue(metric));
        std::vector<double> y_ticks;
        for (double v = 0; v <= y.max + y.step * 1e-6; v += y.step) y_ticks.push_back(v);
        double label_w = 0;
        for (double v : y_ticks) label_w = std::max(label_w, fm.horizontalAdvance(tickText(v, y.step)));
        const QRectF box(area.left() + panel * (panel_w + gap), top, panel_w, area.bottom() - top);
        const double title_w = px * 1.4;  // the rotated y title
        const QRectF plot(box.left() + title_w + label_w + px * 0.6, box.top() + px * 0.5,
                          box.width() - title_w - label_w - px * 1.2, box.height() - px * 3.6);
        if (plot.width() < 20 || plot.height() < 20) continue;
        auto mapX = [&](double share) { return plot.left() + plot.width() * share / x_max; };
        auto mapY = [&](double v) { return plot.bottom() - plot.height() * std::clamp(v / y.max, 0.0, 1.05); };

        // Grid, ticks and axis titles.
        p.save();
        p.setFont(font);
        QColor grid = style.frame;
        grid.setAlpha(70);
        p.setPen(QPen(grid, 0.6));
        for (double v : y_ticks) p.drawLine(QPointF(plot.left(), mapY(v)), QPointF(plot.right(), mapY(v)));
        for (double s = 0; s <= x_max + 1e-9; s += x_step) p.drawLine(QPointF(mapX(s), plot.top()), QPointF(mapX(s), plot.bottom()));
        p.setPen(style.text);
        for (double v : y_ticks)
            p.drawText(QRectF(plot.left() - label_w - px * 0.9, mapY(v) - px, label_w + px * 0.5, 2 * px),
                       Qt::AlignRight | Qt::AlignVCenter, tickText(v, y.step));
        for (double s = 0; s <= x_max + 1e-9; s += x_step)
            p.drawText(QRectF(mapX(s) - px * 3, plot.bottom() + px * 0.2, px * 6, px * 1.4), Qt::AlignHCenter | Qt::AlignTop,
                       QStringLiteral("%1%").arg(s * 100, 0, 'f', 0));
        p.restore();
        paintText(p, QRectF(plot.left(), plot.bottom() + px * 1.6, plot.width(), px * 1.6), Qt::AlignHCenter | Qt::AlignTop,
                  x_title, style.text, px * 0.95);
        p.save();
        p.translate(box.left() + px * 0.1, plot.center().y());
        p.rotate(-90);
        paintText(p, QRectF(-plot.height() / 2, 0, plot.height(), title_w), Qt::AlignHCenter | Qt::AlignTop,
                  qs(sweepMetricTitle(metric)), style.text, px * 0.95);
        p.restore();

        p.save();
        p.setClipRect(plot.adjusted(-8, -8, 8, 8));
        // Full: a dashed line at its value across the plot, and its marker at 100%.
        const SweepPoint* full = m_model.fullPoint();
        const double full_v = full ? sweepMetricValue(*full, metric) : kSweepMissing;
        if (std::isfinite(full_v)) {
            QPen dashed(style.text, 1.0, Qt::DashLine);
            p.setPen(dashed);
            p.drawLine(QPointF(plot.left(), mapY(full_v)), QPointF(plot.right(), mapY(full_v)));
        }
        // One polyline with markers per strategy.
        for (const SweepSeries& s : m_model.series()) {
            const QColor color = sweepSeriesColor(s.color_index);
            QPolygonF line;
            std::vector<std::pair<QPointF, size_t>> marks;
            for (size_t i : s.points) {
                const SweepPoint& pt = m_model.point(i);
                const double v = sweepMetricValue(pt, metric);
                if (!std::isfinite(v)) continue;
                const QPointF c(mapX(pt.kv_share), mapY(v));
                line << c;
                marks.emplace_back(c, i);
            }
            if (line.size() >= 2) {
                p.setPen(QPen(color, 1.8, Qt::SolidLine, Qt::RoundCap, Qt::RoundJoin));
                p.setBrush(Qt::NoBrush);
                p.drawPolyline(line);
            }
            for (const auto& [c, i] : marks) {
                paintMarker(p, c, color, px * 0.32, false, style);
                m_markers.emplace_back(c, i);
            }
        }
        if (std::isfinite(full_v)) {
            const QPointF c(mapX(full->kv_share > 0 ? full->kv_share : 1.0), mapY(full_v));
            paintMarker(p, c, style.text, px * 0.32, true, style);
            if (r && !r->points.empty()) m_markers.emplace_back(c, static_cast<size_t>(full - r->points.data()));
        }
        p.restore();
        p.setPen(QPen(style.frame, 0.8));
        p.setBrush(Qt::NoBrush);
        p.drawRect(plot);
        if (!m_model.hasMetric(metric))
            paintText(p, plot, Qt::AlignCenter, QStringLiteral("%1 not measured").arg(qs(sweepMetricTitle(metric))),
                      style.dim_text, px);
    }
}

std::optional<size_t> SweepFigure::pointAt(const QPointF& pos) const {
    std::optional<size_t> best;
    double best_d = 8.0 * 8.0;
    for (const auto& [c, i] : m_markers) {
        const double d = (c.x() - pos.x()) * (c.x() - pos.x()) + (c.y() - pos.y()) * (c.y() - pos.y());
        if (d <= best_d) {
            best_d = d;
            best = i;
        }
    }
    return best;
}

QString SweepFigure::describe(size_t index) const {
    const SweepResult* r = m_model.result();
    if (!r || index >= r->points.size()) return QString();
    const SweepPoint& p = r->points[index];
    auto num = [](double v, int decimals) { return std::isfinite(v) ? QString::number(v, 'f', decimals) : QStringLiteral("–"); };
    return QStringLiteral("%1 · KV %2% (%3) · accuracy %4 · KL %5 · top-1 %6 · prefill %7 ms · decode %8 ms/token")
        .arg(qs(p.spec), num(p.kv_share * 100, 1), bytesText(p.kv_bytes), num(p.accuracy, 2), num(p.kl_vs_full, 4),
             num(p.top1_vs_full, 2), num(p.prefill_ms, 1), num(p.decode_ms_per_token, 2));
}

}  // namespace attnlab
