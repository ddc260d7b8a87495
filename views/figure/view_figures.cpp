#include "views/figure/view_figures.h"

#include <QFontMetricsF>
#include <QPainter>
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "views/attention_model.h"
#include "views/diff_model.h"
#include "views/figure/figure_paint.h"
#include "views/head_grid_model.h"
#include "views/timeline_model.h"

namespace attnlab {

namespace {

// The attention model's colour for cells the causal mask hides (views/attention_model.cpp).
constexpr Rgba8 kAttentionFutureColor{24, 24, 28, 255};

QString qs(const std::string& s) { return QString::fromStdString(s); }

QColor hiddenFill(const FigureStyle& style) {
    return style.background.lightness() > 128 ? QColor(236, 236, 240) : QColor(24, 24, 28);
}

int64_t positionAt(const std::vector<int64_t>& v, int64_t i) {
    return i >= 0 && i < static_cast<int64_t>(v.size()) ? v[static_cast<size_t>(i)] : i;
}

QString tokenLabel(const ComparisonData* data, int64_t position) {
    std::string token;
    if (data && position >= 0 && position < static_cast<int64_t>(data->prompt_tokens.size()))
        token = data->prompt_tokens[static_cast<size_t>(position)];
    return QString::number(position) + QStringLiteral(" ") + qs(displayToken(token, 16));
}

std::string formatNumber(const char* fmt, double v) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), fmt, v);
    return buf;
}

// Where the plot goes inside `area`, leaving room for labels and what sits right of / above it.
struct GridLayout {
    QRectF plot;
    double row_label_w = 0;
    double col_label_h = 0;
};

GridLayout layoutGrid(const QRectF& area, int64_t rows, int64_t cols, double row_label_w, double col_label_h,
                      double right_w, double top_h, bool is_square, const FigureStyle& style) {
    GridLayout g;
    g.row_label_w = row_label_w;
    g.col_label_h = col_label_h;
    const double axis = style.font_px * 1.4;  // the rotated axis caption on the left, the one below
    const double left = area.left() + axis + row_label_w + 4;
    const double top = area.top() + top_h;
    const double w = std::max(10.0, area.right() - right_w - left);
    const double h = std::max(10.0, area.bottom() - axis - col_label_h - 4 - top);
    double pw = w, ph = h;
    if (is_square && rows > 0 && cols > 0) {
        const double cell = std::min(w / double(cols), h / double(rows));
        pw = cell * double(cols);
        ph = cell * double(rows);
    }
    g.plot = QRectF(left, top, pw, ph);
    return g;
}

void paintAxisCaptions(QPainter& p, const QRectF& area, const GridLayout& g, const QString& left_caption,
                       const QString& bottom_caption, const FigureStyle& style) {
    const double px = style.font_px * 0.95;
    paintText(p, QRectF(g.plot.left(), g.plot.bottom() + g.col_label_h + 4, g.plot.width(), style.font_px * 1.4),
              Qt::AlignHCenter | Qt::AlignVCenter, bottom_caption, style.text, px);
    p.save();
    p.translate(area.left() + style.font_px * 0.7, g.plot.center().y());
    p.rotate(-90);
    paintText(p, QRectF(-g.plot.height() / 2, -style.font_px * 0.7, g.plot.height(), style.font_px * 1.4),
              Qt::AlignCenter, left_caption, style.text, px);
    p.restore();
}

void paintFrame(QPainter& p, const QRectF& r, const FigureStyle& style) {
    p.save();
    p.setPen(QPen(style.frame, 0.8));
    p.setBrush(Qt::NoBrush);
    p.drawRect(r);
    p.restore();
}

ColorStops divergingStops() {
    ColorStops stops;
    for (int i = 0; i <= 10; ++i) stops.emplace_back(i / 10.0, toQColor(diverging(i / 5.0 - 1.0)));
    return stops;
}

std::vector<std::pair<double, std::string>> symmetricTicks(double max_abs, const char* fmt) {
    return {{0.0, formatNumber(fmt, -max_abs)}, {0.25, formatNumber(fmt, -max_abs / 2)}, {0.5, "0"},
            {0.75, formatNumber(fmt, max_abs / 2)}, {1.0, formatNumber(fmt, max_abs)}};
}

}  // namespace

QString runSpecCaption(const ComparisonData* data, const RunData* run) {
    if (!data) return QString();
    QStringList parts;
    if (!data->model_name.empty()) parts << QStringLiteral("model %1").arg(qs(data->model_name));
    const QString tokens = QStringLiteral("%1 prompt tokens").arg(data->prompt_tokens.size());
    parts << (data->task_spec.empty() ? QStringLiteral("free prompt (%1)").arg(tokens)
                                      : QStringLiteral("task %1 (%2)").arg(qs(data->task_spec), tokens));
    if (run) {
        parts << QStringLiteral("strategy %1").arg(qs(run->spec));
        parts << QStringLiteral("%1 new tokens").arg(run->output_tokens.size());
    }
    return parts.join(QStringLiteral(" · "));
}

// ---------------------------------------------------------------------------------------------
// Attention and mask

QString MatrixFigure::title() const {
    return (m_model.isMaskOverlay() ? QStringLiteral("Kept KV entries · ") : QStringLiteral("Attention · ")) +
           qs(m_model.title());
}

QString MatrixFigure::caption() const {
    QString c = runSpecCaption(m_model.data(), m_model.currentRun());
    c += QStringLiteral(" · layer %1 · head %2 (KV head %3) · exact prefill attention, %4 colour scale")
             .arg(m_model.layer())
             .arg(m_model.head())
             .arg(m_model.kvHead())
             .arg(QString::fromLatin1(colorScaleName(m_model.scale())));
    if (m_model.scale() == ColorScale::Log)
        c += QStringLiteral(" over %1 decades").arg(ScaleRange::kLogDecades, 0, 'f', 0);
    return c;
}

QString MatrixFigure::emptyReason() const { return qs(m_model.emptyReason()); }

void MatrixFigure::paintBody(QPainter& p, const QRectF& area, const FigureStyle& style) const {
    const AttentionMatrix* m = m_model.matrix();
    if (!m) return;
    const ComparisonData* data = m_model.data();
    auto rowLabel = [&](int64_t r) { return tokenLabel(data, positionAt(m->query_positions, r)); };
    auto colLabel = [&](int64_t c) { return tokenLabel(data, positionAt(m->key_positions, c)); };
    const ScaleRange range = m_model.range();
    const auto ticks = range.ticks();
    const bool show_mask = m_model.isMaskOverlay() && !m_model.keptMask().empty();

    double top = 0;
    if (m_model.isMaskOverlay()) {
        const KeptCoverage c = m_model.coverage();
        QString text;
        if (c.has_mask) {
            text = QStringLiteral("kept %1 of %2 keys (%3%) · they carry %4% of the last query's full attention, "
                                  "%5% on average over all queries")
                       .arg(c.kept_keys)
                       .arg(c.total_keys)
                       .arg(100.0 * double(c.kept_keys) / double(std::max<int64_t>(1, c.total_keys)), 0, 'f', 1)
                       .arg(100.0 * c.last_row_mass, 0, 'f', 1)
                       .arg(100.0 * c.mean_row_mass, 0, 'f', 1);
        } else {
            text = QStringLiteral("this strategy keeps every KV entry of this head (100% of the attention mass)");
        }
        const double legend_h = paintLegend(p, QPointF(area.left(), area.top()), area.width(),
                                            show_mask ? std::vector<std::pair<QColor, QString>>{
                                                            {QColor(80, 200, 120), QStringLiteral("kept key")},
                                                            {QColor(170, 55, 55), QStringLiteral("evicted key")}}
                                                      : std::vector<std::pair<QColor, QString>>{},
                                            style);
        const double px = style.font_px * 0.9;
        const double y = area.top() + (show_mask ? legend_h : 0);
        const QRectF used = QFontMetricsF(figureFont(px)).boundingRect(QRectF(area.left(), y, area.width(), px * 6),
                                                                       Qt::TextWordWrap | Qt::AlignLeft, text);
        paintText(p, QRectF(area.left(), y, area.width(), used.height() + 2), Qt::TextWordWrap | Qt::AlignLeft, text,
                  style.text, px);
        top = (y - area.top()) + used.height() + style.font_px * 0.4 + (show_mask ? 10 : 0);
    }
    const double right = 14 + colorBarExtent(ticks, style);
    const double row_w = labelsWidth(m->rows, rowLabel, area.width() * 0.22, style);
    const double col_h = labelsWidth(m->cols, colLabel, area.height() * 0.22, style);
    const GridLayout g = layoutGrid(area, m->rows, m->cols, row_w, col_h, right, top, true, style);

    paintCells(p, g.plot, m_model.image(), kAttentionFutureColor, hiddenFill(style), false, style);
    paintFrame(p, g.plot, style);
    if (show_mask) {
        // Kept (green) / evicted (red) keys over the key axis; runs of equal columns are one rectangle.
        const auto& kept = m_model.keptMask();
        const double cw = g.plot.width() / double(m->cols);
        p.save();
        p.setPen(Qt::NoPen);
        int64_t c = 0;
        while (c < m->cols) {
            int64_t end = c + 1;
            while (end < m->cols && kept[static_cast<size_t>(end)] == kept[static_cast<size_t>(c)]) ++end;
            p.setBrush(kept[static_cast<size_t>(c)] ? QColor(80, 200, 120) : QColor(170, 55, 55));
            p.drawRect(QRectF(g.plot.left() + double(c) * cw, g.plot.top() - 9, double(end - c) * cw, 7));
            c = end;
        }
        p.restore();
    }
    paintRowLabels(p, g.plot, m->rows, rowLabel, row_w, style);
    paintColumnLabels(p, g.plot, m->cols, colLabel, col_h, style);
    paintAxisCaptions(p, area, g, QStringLiteral("query token"), QStringLiteral("key token"), style);
    const QRectF bar(g.plot.right() + 14, g.plot.top(), kColorBarWidth, std::max(40.0, g.plot.height()));
    paintColorBar(p, bar, viridisStops(), ticks,
                  range.scale == ColorScale::Log ? QStringLiteral("attention weight (log)")
                                                 : QStringLiteral("attention weight"),
                  style);
}

// ---------------------------------------------------------------------------------------------
// Head grid

QString HeadGridFigure::title() const { return QStringLiteral("Heads · ") + qs(m_model.title()); }

QString HeadGridFigure::caption() const {
    const ComparisonData* data = m_model.data();
    const RunData* run = data && !data->runs.empty() ? &data->runs[static_cast<size_t>(m_model.run())] : nullptr;
    return runSpecCaption(data, run) + QStringLiteral(" · score: ") + QString::fromLatin1(headScoreHelp(m_model.score()));
}

QString HeadGridFigure::emptyReason() const {
    const ComparisonData* data = m_model.data();
    if (!data || data->runs.empty() || m_model.layers() <= 0 || m_model.heads() <= 0)
        return QStringLiteral("Run a comparison to see its heads.");
    return QString();
}

void HeadGridFigure::paintBody(QPainter& p, const QRectF& area, const FigureStyle& style) const {
    const ComparisonData* data = m_model.data();
    const int64_t L = m_model.layers(), H = m_model.heads();
    const int64_t group = data->groupSize();
    const int64_t groups = (H + group - 1) / group;
    const auto ticks = ScaleRange::forMaximum(ColorScale::Linear, 1.0).ticks();
    const double right = 14 + colorBarExtent(ticks, style);
    const double header = groups > 1 ? style.font_px * 1.6 : 0;
    const double gap = groups > 1 ? std::max(3.0, style.font_px * 0.4) : 0;
    const double label_w = QFontMetricsF(figureFont(style.font_px * 0.85)).horizontalAdvance(QStringLiteral("L000")) + 4;
    const double axis = style.font_px * 1.4;
    const double col_h = style.font_px * 1.4;
    const double room_w = area.width() - axis - label_w - 4 - right - gap * double(groups - 1);
    const double room_h = area.height() - header - col_h - axis - 4;
    const double cell = std::max(2.0, std::min(room_w / double(H), room_h / double(L)));
    const QPointF origin(area.left() + axis + label_w + 4, area.top() + header);
    auto cellRect = [&](int64_t l, int64_t h) {
        return QRectF(origin.x() + double(h) * cell + double(h / group) * gap, origin.y() + double(l) * cell, cell,
                      cell);
    };
    const QRectF grid(origin, cellRect(L - 1, H - 1).bottomRight());

    const RgbaImage& atlas = m_model.thumbnails();
    QImage thumbs;
    if (!atlas.isEmpty() && cell >= 14)
        thumbs = QImage(atlas.pixels.data(), atlas.width, atlas.height, atlas.width * 4, QImage::Format_RGBA8888).copy();
    p.save();
    p.setPen(Qt::NoPen);
    for (int64_t l = 0; l < L; ++l) {
        for (int64_t h = 0; h < H; ++h) {
            const double score = m_model.scoreAt(l, h);
            const QRectF r = cellRect(l, h).adjusted(0, 0, -std::min(1.0, cell * 0.08), -std::min(1.0, cell * 0.08));
            p.setBrush(score < 0 ? QColor(150, 150, 155) : toQColor(viridis(score)));
            p.drawRect(r);
            if (score >= 0 && !thumbs.isNull()) {
                const double inset = cell >= 24 ? 2 : 1;
                p.setOpacity(0.55);
                p.drawImage(r.adjusted(inset, inset, -inset, -inset), thumbs,
                            QRectF(double(h * HeadGridModel::kThumbSide), double(l * HeadGridModel::kThumbSide),
                                   HeadGridModel::kThumbSide, HeadGridModel::kThumbSide));
                p.setOpacity(1.0);
            }
        }
    }
    p.restore();
    // Selected head.
    if (m_model.selectedLayer() < L && m_model.selectedHead() < H) {
        p.save();
        p.setPen(QPen(style.text, 1.5));
        p.setBrush(Qt::NoBrush);
        p.drawRect(cellRect(m_model.selectedLayer(), m_model.selectedHead()).adjusted(-1, -1, 0, 0));
        p.restore();
    }
    // Labels: layers on the left, query heads below, KV groups above.
    const double px = style.font_px * 0.85;
    for (int64_t l = 0; l < L; ++l) {
        if (cell < px * 1.05 && l % std::max<int64_t>(1, static_cast<int64_t>(std::ceil(px * 1.05 / cell))) != 0) continue;
        const QRectF r = cellRect(l, 0);
        paintText(p, QRectF(origin.x() - label_w - 4, r.top(), label_w, cell), Qt::AlignRight | Qt::AlignVCenter,
                  QStringLiteral("L%1").arg(l), style.dim_text, px);
    }
    const QFontMetricsF fm(figureFont(px));
    const int64_t stride = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(
                                                    (fm.horizontalAdvance(QString::number(H)) + 3) / cell)));
    for (int64_t h = 0; h < H; h += stride) {
        const QRectF r = cellRect(L - 1, h);
        paintText(p, QRectF(r.center().x() - 30, grid.bottom() + 2, 60, col_h), Qt::AlignHCenter | Qt::AlignTop,
                  QString::number(h), style.dim_text, px);
    }
    for (int64_t gi = 0; gi < groups && groups > 1; ++gi) {
        const QRectF a = cellRect(0, gi * group), b = cellRect(0, std::min(H, (gi + 1) * group) - 1);
        paintText(p, QRectF(a.left(), area.top(), b.right() - a.left(), header * 0.7), Qt::AlignHCenter | Qt::AlignBottom,
                  QStringLiteral("KV %1").arg(gi), style.dim_text, px);
        p.save();
        p.setPen(QPen(style.dim_text, 0.8));
        p.drawLine(QPointF(a.left() + 1, area.top() + header * 0.8), QPointF(b.right() - 1, area.top() + header * 0.8));
        p.restore();
    }
    GridLayout g;
    g.plot = grid;
    g.col_label_h = col_h;
    paintAxisCaptions(p, area, g, QStringLiteral("layer"), QStringLiteral("query head"), style);
    const QRectF bar(grid.right() + 14, grid.top(), kColorBarWidth, std::max(40.0, grid.height()));
    paintColorBar(p, bar, viridisStops(), ticks, QString::fromLatin1(headScoreName(m_model.score())), style);
}

// ---------------------------------------------------------------------------------------------
// KV-cache timeline

QString TimelineFigure::title() const { return qs(m_model.title()); }

QString TimelineFigure::caption() const {
    return runSpecCaption(m_model.data(), m_model.currentRun()) +
           QStringLiteral(" · layer %1 · KV head %2 · rows: the cache after the prefill and after each decode step")
               .arg(m_model.layer())
               .arg(m_model.kvHead());
}

QString TimelineFigure::emptyReason() const { return qs(m_model.emptyReason()); }

void TimelineFigure::paintBody(QPainter& p, const QRectF& area, const FigureStyle& style) const {
    const int64_t rows = m_model.rows(), cols = m_model.positions();
    std::vector<std::pair<QColor, QString>> legend;
    for (KvState s : {KvState::Alive, KvState::Selected, KvState::Evicted, KvState::Gone})
        legend.emplace_back(toQColor(kvStateColor(s)), QString::fromLatin1(kvStateName(s)));
    const double legend_h = paintLegend(p, area.topLeft(), area.width(), legend, style);
    if (!m_model.hasTrace()) {
        paintText(p, QRectF(area.left(), area.top() + legend_h, area.width(), style.font_px * 1.5),
                  Qt::AlignLeft | Qt::AlignVCenter,
                  QStringLiteral("no cache decisions recorded for this head: every entry stays alive"), style.dim_text,
                  style.font_px * 0.9);
    }
    const double top = legend_h + style.font_px * (m_model.hasTrace() ? 0.6 : 2.0);
    auto rowLabel = [&](int64_t r) { return qs(m_model.rowLabel(r)); };
    auto colLabel = [&](int64_t c) {
        return QString::number(c) + QStringLiteral(" ") + qs(displayToken(m_model.tokenAt(c), 16));
    };
    const QFontMetricsF fm(figureFont(style.font_px * 0.85));
    const double right = fm.horizontalAdvance(QStringLiteral("0000 alive")) + 10;
    const double row_w = labelsWidth(rows, rowLabel, area.width() * 0.2, style);
    const double col_h = labelsWidth(cols, colLabel, area.height() * 0.2, style);
    const GridLayout g = layoutGrid(area, rows, cols, row_w, col_h, right, top, false, style);
    m_plot = g.plot;
    // Positions not written yet take the background's tone (near white on paper, dark on screen).
    const QColor not_written = style.background.lightness() > 128 ? toQColor(kvStateColor(KvState::NotWritten))
                                                                  : style.background.lighter(135);
    paintCells(p, g.plot, m_model.image(), kvStateColor(KvState::NotWritten), not_written, true, style);
    paintFrame(p, g.plot, style);
    // The prompt / generated boundary.
    if (m_model.promptTokens() > 0 && m_model.promptTokens() < cols) {
        const double x = g.plot.left() + g.plot.width() * double(m_model.promptTokens()) / double(cols);
        p.save();
        p.setPen(QPen(style.text, 1.0, Qt::DashLine));
        p.drawLine(QPointF(x, g.plot.top() - 3), QPointF(x, g.plot.bottom() + 3));
        p.restore();
    }
    paintRowLabels(p, g.plot, rows, rowLabel, row_w, style);
    paintColumnLabels(p, g.plot, cols, colLabel, col_h, style);
    paintAxisCaptions(p, area, g, QStringLiteral("step"), QStringLiteral("token position"), style);
    // Live entries per row, right of the plot.
    const double ch = g.plot.height() / double(std::max<int64_t>(1, rows));
    const double px = style.font_px * 0.8;
    const int64_t stride = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(px * 1.05 / std::max(ch, 1e-6))));
    for (int64_t r = 0; r < rows; r += stride) {
        const TimelineRowSummary s = m_model.summary(r);
        paintText(p, QRectF(g.plot.right() + 6, g.plot.top() + double(r) * ch + ch / 2 - px, right, 2 * px),
                  Qt::AlignLeft | Qt::AlignVCenter, QStringLiteral("%1 alive").arg(s.alive), style.dim_text, px);
    }
}

// ---------------------------------------------------------------------------------------------
// Difference map

QString DiffFigure::title() const { return qs(m_model.title()); }

QString DiffFigure::caption() const {
    const ComparisonData* data = m_model.data();
    QString c = runSpecCaption(data, nullptr);
    if (data && !data->runs.empty()) {
        c += QStringLiteral(" · A = %1 · B = %2").arg(qs(data->runs[static_cast<size_t>(m_model.runA())].spec),
                                                      qs(data->runs[static_cast<size_t>(m_model.runB())].spec));
    }
    c += QStringLiteral(" · attention after each run's kept set (prefill attention renormalised over kept keys)"
                        " · mean total variation per query %1 · KL per token: KL(full ‖ run) in nats on full's "
                        "continuation")
             .arg(m_model.meanTotalVariation(), 0, 'f', 4);
    return c;
}

QString DiffFigure::emptyReason() const { return qs(m_model.emptyReason()); }

void DiffFigure::paintBody(QPainter& p, const QRectF& area, const FigureStyle& style) const {
    const AttentionMatrix* m = m_model.matrix();
    if (!m) return;
    const ComparisonData* data = m_model.data();
    const std::vector<double> kl = m_model.klDelta();
    const std::vector<std::string>& tokens = m_model.tokens();
    const bool has_kl = !kl.empty();
    const double max_abs = m_model.maxAbsDelta() > 0 ? m_model.maxAbsDelta() : 1.0;
    const auto ticks = symmetricTicks(max_abs, "%+.3g");
    const double right = 14 + colorBarExtent(ticks, style);

    // Attention difference on top, per-token KL difference below.
    QRectF top_area = area;
    QRectF kl_area;
    if (has_kl) {
        const double kl_h = std::min(area.height() * 0.34, style.font_px * 16);
        kl_area = QRectF(area.left(), area.bottom() - kl_h, area.width(), kl_h);
        top_area.setBottom(kl_area.top() - style.font_px);
    }
    auto rowLabel = [&](int64_t r) { return tokenLabel(data, positionAt(m->query_positions, r)); };
    auto colLabel = [&](int64_t c) { return tokenLabel(data, positionAt(m->key_positions, c)); };
    const double row_w = labelsWidth(m->rows, rowLabel, top_area.width() * 0.22, style);
    const double col_h = labelsWidth(m->cols, colLabel, top_area.height() * 0.2, style);
    const GridLayout g = layoutGrid(top_area, m->rows, m->cols, row_w, col_h, right, 0, true, style);
    m_plot = g.plot;
    paintCells(p, g.plot, m_model.image(), kDiffFutureColor, toQColor(kDiffFutureColor), false, style);
    paintFrame(p, g.plot, style);
    paintRowLabels(p, g.plot, m->rows, rowLabel, row_w, style);
    paintColumnLabels(p, g.plot, m->cols, colLabel, col_h, style);
    paintAxisCaptions(p, top_area, g, QStringLiteral("query token"), QStringLiteral("key token"), style);
    const QRectF bar(g.plot.right() + 14, g.plot.top(), kColorBarWidth, std::max(40.0, g.plot.height()));
    paintColorBar(p, bar, divergingStops(), ticks, QStringLiteral("Δ attention weight (B − A)"), style);
    if (!has_kl) return;

    // Signed bars around zero: red where B is further from full than A, blue where closer.
    const double kl_max = m_model.maxAbsKlDelta() > 0 ? m_model.maxAbsKlDelta() : 1.0;
    const int64_t n = static_cast<int64_t>(kl.size());
    auto tokLabel = [&](int64_t i) {
        return QString::number(i) + QStringLiteral(" ") +
               qs(displayToken(i < static_cast<int64_t>(tokens.size()) ? tokens[static_cast<size_t>(i)] : "", 12));
    };
    const double tok_h = labelsWidth(n, tokLabel, kl_area.height() * 0.4, style);
    const QFontMetricsF fm(figureFont(style.font_px * 0.85));
    const double axis_w = fm.horizontalAdvance(QStringLiteral("+0.000e+00")) + 6;
    const QRectF plot(kl_area.left() + style.font_px * 1.4 + axis_w, kl_area.top() + style.font_px * 1.5,
                      std::max(10.0, kl_area.width() - style.font_px * 1.4 - axis_w - right),
                      std::max(10.0, kl_area.height() - style.font_px * 1.5 - tok_h - 4));
    paintText(p, QRectF(kl_area.left(), kl_area.top(), kl_area.width(), style.font_px * 1.4),
              Qt::AlignLeft | Qt::AlignVCenter,
              QStringLiteral("Δ KL per generated token: KL(full ‖ B) − KL(full ‖ A), nats"), style.text,
              style.font_px * 0.95);
    const double zero_y = plot.center().y();
    const double bw = plot.width() / double(n);
    p.save();
    p.setPen(Qt::NoPen);
    for (int64_t i = 0; i < n; ++i) {
        const double v = kl[static_cast<size_t>(i)];
        const double hgt = v / kl_max * plot.height() / 2;
        p.setBrush(toQColor(diverging(v / kl_max)));
        p.drawRect(QRectF(plot.left() + double(i) * bw + bw * 0.1, std::min(zero_y, zero_y - hgt), bw * 0.8,
                          std::max(0.5, std::fabs(hgt))));
    }
    p.restore();
    p.save();
    p.setPen(QPen(style.frame, 0.8));
    p.drawLine(QPointF(plot.left(), zero_y), QPointF(plot.right(), zero_y));
    p.drawLine(plot.topLeft(), plot.bottomLeft());
    p.restore();
    for (const auto& [frac, text] : std::vector<std::pair<double, std::string>>{
             {0.0, formatNumber("%+.3g", kl_max)}, {0.5, "0"}, {1.0, formatNumber("%+.3g", -kl_max)}}) {
        const double y = plot.top() + frac * plot.height();
        paintText(p, QRectF(plot.left() - axis_w - 4, y - style.font_px, axis_w, 2 * style.font_px),
                  Qt::AlignRight | Qt::AlignVCenter, qs(text), style.dim_text, style.font_px * 0.85);
    }
    paintColumnLabels(p, plot, n, tokLabel, tok_h, style);
}

namespace {

std::optional<std::pair<int64_t, int64_t>> gridCell(const QRectF& plot, int64_t rows, int64_t cols, const QPointF& pt) {
    if (rows <= 0 || cols <= 0 || plot.isEmpty() || !plot.contains(pt)) return std::nullopt;
    const auto r = static_cast<int64_t>((pt.y() - plot.top()) / plot.height() * double(rows));
    const auto c = static_cast<int64_t>((pt.x() - plot.left()) / plot.width() * double(cols));
    return std::make_pair(std::clamp<int64_t>(r, 0, rows - 1), std::clamp<int64_t>(c, 0, cols - 1));
}

}  // namespace

std::optional<std::pair<int64_t, int64_t>> TimelineFigure::cellAt(const QPointF& point) const {
    return gridCell(m_plot, m_model.rows(), m_model.positions(), point);
}

QString TimelineFigure::describe(int64_t row, int64_t position) const {
    const TimelineRowSummary s = m_model.summary(row);
    return QStringLiteral("%1 · position %2 \"%3\"%4\n%5\n%6 entries alive (%7 selected), %8 evicted here")
        .arg(qs(m_model.rowLabel(row)))
        .arg(position)
        .arg(qs(displayToken(m_model.tokenAt(position))))
        .arg(position >= m_model.promptTokens() ? QStringLiteral(" (generated)") : QString())
        .arg(QString::fromLatin1(kvStateName(m_model.state(row, position))))
        .arg(s.alive)
        .arg(s.selected)
        .arg(s.evicted);
}

std::optional<std::pair<int64_t, int64_t>> DiffFigure::cellAt(const QPointF& point) const {
    return gridCell(m_plot, m_model.rows(), m_model.cols(), point);
}

QString DiffFigure::describe(int64_t row, int64_t col) const {
    const AttentionMatrix* m = m_model.matrix();
    if (!m) return QString();
    const int64_t q = positionAt(m->query_positions, row), k = positionAt(m->key_positions, col);
    if (m_model.isFuture(row, col)) return QStringLiteral("query %1, key %2: masked (the key comes later)").arg(q).arg(k);
    return QStringLiteral("query %1 \"%2\"\nkey %3 \"%4\"\nB − A = %5")
        .arg(q)
        .arg(tokenLabel(m_model.data(), q).section(QLatin1Char(' '), 1))
        .arg(k)
        .arg(tokenLabel(m_model.data(), k).section(QLatin1Char(' '), 1))
        .arg(double(m_model.delta(row, col)), 0, 'f', 6);
}

}  // namespace attnlab
