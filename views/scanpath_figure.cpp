#include "views/scanpath_figure.h"

#include <QImage>
#include <QPainter>
#include <QPainterPath>
#include <algorithm>
#include <cmath>

#include "views/scanpath_model.h"

namespace attnlab {

using namespace attnlab::oat;

ScanpathFigureLayout layoutScanpathFigure(const QRectF& area, double font_px) {
    ScanpathFigureLayout L;
    const double strip = std::max(40.0, font_px * 6.5);
    const double gap = font_px;
    const double avail_h = std::max(20.0, area.height() - strip - gap);
    const double scale = std::min(area.width() / kCanvasWidth, avail_h / kCanvasHeight);
    const double w = kCanvasWidth * scale, h = kCanvasHeight * scale;
    L.display = QRectF(area.left() + (area.width() - w) / 2, area.top(), w, h);
    L.attention = QRectF(area.left(), L.display.bottom() + gap, area.width(), strip);
    return L;
}

QString ScanpathFigure::title() const { return QStringLiteral("Scanpath: OAT-lite vs simulated subject"); }
QString ScanpathFigure::caption() const { return QString::fromStdString(m_model.caption()); }
QString ScanpathFigure::emptyReason() const {
    return m_model.hasCase() ? QString() : QStringLiteral("no display generated yet");
}

namespace {

QColor heat(double v) {  // 0..1 -> transparent .. opaque orange-red
    v = std::clamp(v, 0.0, 1.0);
    return QColor::fromRgbF(1.0, 0.55 * (1 - v) + 0.1, 0.05, 0.1 + 0.45 * std::sqrt(v));  // objects stay visible
}

void arrow(QPainter& p, QPointF a, QPointF b, double head) {
    const QPointF d = b - a;
    const double len = std::hypot(d.x(), d.y());
    if (len < 1e-3) return;
    p.drawLine(a, b);
    const QPointF u = d / len, n(-u.y(), u.x());
    QPainterPath tri;
    tri.moveTo(b);
    tri.lineTo(b - u * head + n * head * 0.5);
    tri.lineTo(b - u * head - n * head * 0.5);
    tri.closeSubpath();
    p.fillPath(tri, p.pen().color());
}

void drawPath(QPainter& p, const QRectF& r, const Display& d, const std::vector<int>& path, int count, QColor colour,
              QPointF offset, double font_px) {
    const double s = r.width() / kCanvasWidth;
    QPointF at(r.left() + kCanvasWidth / 2.0 * s, r.top() + kCanvasHeight / 2.0 * s);
    at += offset;
    p.setPen(QPen(colour, std::max(1.0, font_px / 7)));
    p.setBrush(colour);
    p.drawEllipse(at, font_px * 0.25, font_px * 0.25);
    const double rad = font_px * 0.7;
    QFont f = p.font();
    f.setPixelSize(std::max(6, static_cast<int>(font_px * 0.85)));
    f.setBold(true);
    p.setFont(f);
    for (int k = 0; k < count && k < static_cast<int>(path.size()); ++k) {
        const int idx = path[k];
        if (idx < 0 || idx >= static_cast<int>(d.objects.size())) continue;
        const QPointF next = QPointF(r.left() + d.objects[idx].x_px * s, r.top() + d.objects[idx].y_px * s) + offset;
        const QPointF dir = next - at;
        const double len = std::hypot(dir.x(), dir.y());
        p.setPen(QPen(colour, std::max(1.0, font_px / 7)));
        if (len > 2 * rad) arrow(p, at + dir / len * rad * 0.3, next - dir / len * rad, font_px * 0.6);
        p.setBrush(colour);
        p.drawEllipse(next, rad, rad);
        p.setPen(Qt::black);
        p.drawText(QRectF(next.x() - rad, next.y() - rad, 2 * rad, 2 * rad), Qt::AlignCenter, QString::number(k + 1));
        at = next;
    }
}

}  // namespace

void ScanpathFigure::paintBody(QPainter& p, const QRectF& area, const FigureStyle& style) const {
    if (!m_model.hasCase()) return;
    const ScanpathFigureLayout L = layoutScanpathFigure(area, style.font_px);
    const Display& d = m_model.display();
    const std::vector<uint8_t>& rgb = m_model.imageRgb();
    p.save();
    if (!rgb.empty()) {
        QImage img(rgb.data(), kCanvasWidth, kCanvasHeight, kCanvasWidth * 3, QImage::Format_RGB888);
        p.setRenderHint(QPainter::SmoothPixmapTransform, false);
        p.drawImage(L.display, img);
    }
    p.setRenderHint(QPainter::Antialiasing, true);
    const double s = L.display.width() / kCanvasWidth;
    const std::vector<float> ptr = m_model.pointer();
    const int n = static_cast<int>(d.objects.size());
    float pmax = 0;
    for (int i = 0; i < n && i < static_cast<int>(ptr.size()); ++i) pmax = std::max(pmax, ptr[i]);
    for (int i = 0; i < n; ++i) {
        const SearchObject& o = d.objects[i];
        const QRectF box(L.display.left() + (o.x_px - o.w_px / 2 - 3) * s, L.display.top() + (o.y_px - o.h_px / 2 - 3) * s,
                         (o.w_px + 6) * s, (o.h_px + 6) * s);
        if (!ptr.empty() && pmax > 0) {
            QColor c = heat(ptr[i] / pmax);
            c.setAlphaF(c.alphaF() * std::min(1.0, ptr[i] / pmax * 1.5));
            p.fillRect(box, c);
        }
        const bool target = i == d.target_index;
        p.setPen(QPen(target ? QColor(255, 220, 0) : QColor(220, 220, 220), target ? 2.0 : 1.0));
        p.setBrush(Qt::NoBrush);
        p.drawRect(box);
        // Object index (the attention bars below use the same numbers).
        QFont small = p.font();
        small.setPixelSize(std::max(6, static_cast<int>(style.font_px * 0.7)));
        p.setFont(small);
        p.setPen(QColor(235, 235, 235));
        p.drawText(QPointF(box.left() + 1, box.top() - 2), QString::number(i));
    }
    // Subject (full path) and model (up to the current step).
    if (m_model.subject() >= 0)
        drawPath(p, L.display, d, m_model.subjectPath(m_model.subject()), 1 << 20, QColor(0, 220, 255),
                 QPointF(-3, -3) * s, style.font_px);
    drawPath(p, L.display, d, m_model.modelPath(), m_model.step() + 1, QColor(255, 0, 255), QPointF(3, 3) * s,
             style.font_px);
    p.setPen(QPen(style.frame, 1));
    p.setBrush(Qt::NoBrush);
    p.drawRect(L.display);

    // Attention strip: one bar per token (objects, cue, STOP), labelled by object index.
    const std::vector<float> att = m_model.attention();
    QFont f = p.font();
    f.setPixelSize(std::max(6, static_cast<int>(style.font_px * 0.8)));
    f.setBold(false);
    p.setFont(f);
    p.setPen(style.text);
    const double lh = style.font_px * 1.3;
    p.drawText(QRectF(L.attention.left(), L.attention.top(), L.attention.width(), lh), Qt::AlignLeft | Qt::AlignVCenter,
               att.empty() ? QStringLiteral("no model: attention unavailable")
                           : QStringLiteral("cross-attention over object tokens at step %1 (last decoder layer, mean of heads); "
                                            "heat on objects: pointer distribution (STOP %2)")
                                 .arg(m_model.step() + 1)
                                 .arg(ptr.empty() ? 0.0 : ptr.back(), 0, 'f', 2));
    if (att.empty()) {
        p.restore();
        return;
    }
    const int tokens = static_cast<int>(att.size());
    const QRectF bars(L.attention.left(), L.attention.top() + lh, L.attention.width(), L.attention.height() - 2 * lh);
    const double bw = bars.width() / tokens;
    const float amax = std::max(1e-6f, *std::max_element(att.begin(), att.end()));
    for (int t = 0; t < tokens; ++t) {
        const double h = bars.height() * att[t] / amax;
        const QRectF bar(bars.left() + t * bw + bw * 0.1, bars.bottom() - h, bw * 0.8, h);
        const bool is_path = t < n && t == m_model.argmaxObject();
        p.fillRect(bar, t >= n ? QColor(150, 150, 150) : is_path ? QColor(255, 0, 255) : QColor(90, 140, 220));
        const QString label = t < n ? QString::number(t) : t == n ? QStringLiteral("cue") : QStringLiteral("stop");
        if (bw >= style.font_px * 0.9 || t >= n || t % 2 == 0)
            p.drawText(QRectF(bars.left() + t * bw - bw, bars.bottom(), 3 * bw, lh), Qt::AlignHCenter | Qt::AlignTop, label);
    }
    p.restore();
}

}  // namespace attnlab
