#include "views/scene_figure.h"

#include <QImage>
#include <QPainter>
#include <algorithm>
#include <cmath>

#include "views/figure/figure_paint.h"
#include "views/scene_layout_model.h"

namespace attnlab {

using namespace scene;

namespace {

QImage toQImage(const RgbaImage& im) {
    if (im.isEmpty()) return QImage();
    QImage q(im.width, im.height, QImage::Format_RGBA8888);
    for (int y = 0; y < im.height; ++y)
        std::copy_n(im.pixels.data() + size_t(y) * im.width * 4, size_t(im.width) * 4, q.scanLine(y));
    return q;
}

void drawPixels(QPainter& p, const QRectF& r, const RgbaImage& im) {
    p.save();
    p.setRenderHint(QPainter::SmoothPixmapTransform, false);
    p.drawImage(r, toQImage(im));
    p.restore();
}

QRectF boxRect(const QRectF& panel, const int box[4]) {
    const double s = panel.width() / kImageSize;
    return QRectF(panel.left() + box[0] * s, panel.top() + box[1] * s, (box[2] - box[0] + 1) * s, (box[3] - box[1] + 1) * s);
}

}  // namespace

SceneFigureLayout layoutSceneFigure(const QRectF& area, int objects, int steps, double font_px) {
    SceneFigureLayout L;
    const double gap = std::max(6.0, font_px * 0.8), lh = font_px * 1.7;
    const double W = area.width(), H = area.height();
    // Three rows: panels, drawing order, attention; heights in the ratio 0.46 : 0.22 : 0.32.
    const double s1 = std::max(8.0, std::min((W - 3 * gap) / 4, H * 0.46 - lh - gap));
    double y = area.top() + lh;
    const double x0 = area.left() + (W - (4 * s1 + 3 * gap)) / 2;
    for (int i = 0; i < 4; ++i) L.panels[i] = QRectF(x0 + i * (s1 + gap), y, s1, s1);
    y += s1 + gap + lh;
    const int ns = std::max(1, steps);
    const double s2 = std::max(6.0, std::min({(W - (ns - 1) * gap / 2) / ns, H * 0.22 - lh - gap, s1 * 0.6}));
    for (int k = 0; k < steps; ++k) L.steps.push_back(QRectF(area.left() + k * (s2 + gap / 2), y, s2, s2));
    y += s2 + gap + lh;
    const int na = 1 + objects;
    const double bar = font_px * 4.5;
    const double s3 = std::max(6.0, std::min({(W - bar - (na - 1) * gap / 2) / na, area.bottom() - y - lh * 0.2, s1 * 0.8}));
    for (int k = 0; k < na; ++k) L.attention.push_back(QRectF(area.left() + k * (s3 + gap / 2), y, s3, s3));
    L.color_bar = QRectF(area.left() + na * (s3 + gap / 2) + gap / 2, y, kColorBarWidth, s3);
    return L;
}

QString SceneFigure::title() const { return QStringLiteral("Scene layout: plan -> render (token -> pixel attention)"); }

QString SceneFigure::caption() const { return QString::fromStdString(m_model.caption()); }

QString SceneFigure::emptyReason() const {
    if (!m_model.hasModel()) return QStringLiteral("no scene model loaded (assets/models/scene)");
    return QString();
}

void SceneFigure::paintBody(QPainter& p, const QRectF& area, const FigureStyle& style) const {
    const SceneFrame& f = m_model.frame();
    const int n = int(f.tokens.size());
    const SceneFigureLayout L = layoutSceneFigure(area, n, m_model.stepCount(), style.font_px);
    const double lh = style.font_px * 1.7;
    auto label = [&](const QRectF& r, const QString& text, bool bold = false) {
        paintText(p, QRectF(r.left(), r.top() - lh, std::max(r.width(), area.right() - r.left()), lh),
                  Qt::AlignLeft | Qt::AlignVCenter, text, style.text, style.font_px, bold);
    };
    const int sel = m_model.selectedSlot();
    const QString mask_title = m_model.showAmodal() ? QStringLiteral("Amodal masks (whole shapes)")
                                                    : QStringLiteral("Visible masks (after occlusion)");
    const QString titles[4] = {QStringLiteral("Rendered (%1 ms)").arg(f.render_ms + f.raster_ms, 0, 'f', 0),
                               QStringLiteral("Layout (rasteriser)"), mask_title, QStringLiteral("Depth (near = bright)")};
    const RgbaImage images[4] = {m_model.renderedImage(), m_model.rasterImage(), m_model.maskImage(),
                                 m_model.depthImage()};
    for (int i = 0; i < 4; ++i) {
        label(L.panels[i], titles[i], i == 0);
        drawPixels(p, L.panels[i], images[i]);
        p.setPen(QPen(style.frame, 1));
        p.setBrush(Qt::NoBrush);
        p.drawRect(L.panels[i]);
        for (int k = 0; k < n; ++k) {
            const RenderedObject& o = f.raster.objects[size_t(k)];
            if (o.amodal_pixels == 0) continue;
            const bool is_sel = k == sel;
            if (!is_sel && i != 2) continue;
            const QColor c = is_sel ? QColor(255, 255, 255) : toQColor(SceneLayoutModel::instanceColour(k + 1));
            p.setPen(QPen(c, is_sel ? 2.0 : 1.0, is_sel ? Qt::SolidLine : Qt::DashLine));
            p.drawRect(boxRect(L.panels[i], o.box));
            if (i == 2)
                paintText(p, boxRect(L.panels[i], o.box).adjusted(2, 1, 0, 0), Qt::AlignLeft | Qt::AlignTop,
                          QString::number(k + 1), c, style.font_px * 0.85, true);
        }
    }
    if (!L.steps.empty()) {
        label(L.steps[0], QStringLiteral("Planner drawing order, back to front (%1 of %2 drawn)")
                              .arg(m_model.step())
                              .arg(m_model.stepCount()));
        const std::vector<RgbaImage> thumbs = m_model.stepThumbnails();
        for (size_t k = 0; k < L.steps.size() && k < thumbs.size(); ++k) {
            drawPixels(p, L.steps[k], thumbs[k]);
            const bool drawn = int(k) < m_model.step();
            p.setBrush(Qt::NoBrush);
            p.setPen(QPen(drawn ? style.text : style.frame, drawn && int(k) + 1 == m_model.step() ? 2.5 : 1.0));
            p.drawRect(L.steps[k]);
            if (!drawn) p.fillRect(L.steps[k], QColor(128, 128, 128, 150));
            paintText(p, L.steps[k].adjusted(3, 1, 0, 0), Qt::AlignLeft | Qt::AlignTop, QString::number(k + 1),
                      QColor(255, 255, 255), style.font_px * 0.85, true);
        }
    }
    if (m_model.layerCount() > 0) {
        int res = 0;
        (void)m_model.attention(m_model.layer(), 0, &res);
        label(L.attention[0], QStringLiteral("Token -> pixel attention, layer %1 of %2 (%3 x %3 px): background, then objects")
                                  .arg(m_model.layer() + 1)
                                  .arg(m_model.layerCount())
                                  .arg(res));
        for (size_t k = 0; k < L.attention.size(); ++k) {
            float mx = 0;
            drawPixels(p, L.attention[k], m_model.attentionImage(m_model.layer(), int(k), &mx));
            const bool is_sel = int(k) == sel + 1 && sel >= 0;
            p.setBrush(Qt::NoBrush);
            p.setPen(QPen(is_sel ? QColor(255, 255, 255) : toQColor(SceneLayoutModel::instanceColour(int(k))),
                          is_sel ? 3.0 : 2.0));
            p.drawRect(L.attention[k]);
            const QString name = k == 0 ? QStringLiteral("bg")
                                        : QStringLiteral("%1 %2").arg(k).arg(QString::fromLatin1(colourName(f.tokens[k - 1].colour)));
            paintText(p, L.attention[k].adjusted(3, 1, 0, 0), Qt::AlignLeft | Qt::AlignTop, name, QColor(255, 255, 255),
                      style.font_px * 0.8, true);
        }
        paintColorBar(p, L.color_bar, viridisStops(), {{0.0, "0"}, {0.5, "0.5"}, {1.0, "1"}},
                      QStringLiteral("weight"), style);
    }
}

}  // namespace attnlab
