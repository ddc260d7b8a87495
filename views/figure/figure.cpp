#include "views/figure/figure.h"

#include <QDir>
#include <QFileInfo>
#include <QFontMetricsF>
#include <QLinearGradient>
#include <QPageSize>
#include <QPainter>
#include <QPdfWriter>
#include <QSvgGenerator>
#include <algorithm>
#include <cmath>

#include "views/figure/figure_paint.h"

namespace attnlab {

namespace {

// Viewers anti-alias the edges of abutting rectangles into faint seams; cells overlap by this much.
constexpr double kSeamOverlap = 0.5;

QColor mix(const QColor& a, const QColor& b, double t) {
    return QColor::fromRgbF(float(a.redF() + (b.redF() - a.redF()) * t), float(a.greenF() + (b.greenF() - a.greenF()) * t),
                            float(a.blueF() + (b.blueF() - a.blueF()) * t));
}

}  // namespace

std::optional<FigureFormat> figureFormatForPath(const QString& path) {
    const QString suffix = QFileInfo(path).suffix().toLower();
    if (suffix == QLatin1String("png")) return FigureFormat::Png;
    if (suffix == QLatin1String("svg")) return FigureFormat::Svg;
    if (suffix == QLatin1String("pdf")) return FigureFormat::Pdf;
    return std::nullopt;
}

const char* figureFormatName(FigureFormat format) {
    switch (format) {
        case FigureFormat::Png: return "png";
        case FigureFormat::Svg: return "svg";
        case FigureFormat::Pdf: return "pdf";
    }
    return "?";
}

FigureStyle FigureStyle::from(const FigureOptions& o) {
    FigureStyle s;
    if (o.is_dark) {
        s.background = QColor(30, 30, 36);
        s.text = QColor(235, 235, 240);
        s.dim_text = QColor(170, 170, 180);
        s.frame = QColor(90, 90, 100);
    } else {
        s.background = QColor(255, 255, 255);
        s.text = QColor(20, 20, 24);
        s.dim_text = QColor(80, 80, 88);
        s.frame = QColor(120, 120, 128);
    }
    s.font_px = std::max(4.0, o.font_px);
    s.max_vector_cells = o.max_vector_cells;
    return s;
}

QFont figureFont(double px, bool is_bold) {
    QFont f(QStringLiteral("DejaVu Sans"));
    // No shaping for Latin text: ligatures ("fi") would hide words from PDF text extraction.
    f.setStyleHint(QFont::SansSerif, QFont::PreferNoShaping);
    f.setPixelSize(std::max(1, static_cast<int>(std::lround(px))));
    f.setBold(is_bold);
    f.setHintingPreference(QFont::PreferNoHinting);
    return f;
}

ColorStops viridisStops() {
    ColorStops stops;
    for (int i = 0; i <= 10; ++i) stops.emplace_back(i / 10.0, toQColor(viridis(i / 10.0)));
    return stops;
}

void paintText(QPainter& p, const QRectF& rect, int flags, const QString& text, const QColor& color, double px,
               bool is_bold) {
    p.setFont(figureFont(px, is_bold));
    p.setPen(color);
    p.drawText(rect, flags, text);
}

void paintCells(QPainter& p, const QRectF& plot, const RgbaImage& image, Rgba8 hidden, const QColor& fill,
                bool merge_runs, const FigureStyle& style) {
    if (image.isEmpty()) return;
    auto same = [](Rgba8 a, Rgba8 b) { return a.r == b.r && a.g == b.g && a.b == b.b && a.a == b.a; };
    p.save();
    // Axis-aligned cells: no anti-aliasing, so a raster has no seams between them (vector viewers
    // anti-alias by themselves; the overlap below covers that).
    p.setRenderHint(QPainter::Antialiasing, false);
    p.setPen(Qt::NoPen);
    p.setBrush(fill);
    p.drawRect(plot);
    const double cw = plot.width() / image.width, ch = plot.height() / image.height;
    int64_t cells = 0;  // cells that would be drawn one by one
    for (int y = 0; y < image.height; ++y)
        for (int x = 0; x < image.width; ++x) cells += same(image.at(x, y), hidden) ? 0 : 1;
    if (cells > style.max_vector_cells) {
        // One raster image; upscaled here by whole pixels so viewers that smooth it stay crisp.
        QImage img(image.width, image.height, QImage::Format_RGBA8888);
        for (int y = 0; y < image.height; ++y) {
            for (int x = 0; x < image.width; ++x) {
                const Rgba8 c = image.at(x, y);
                img.setPixelColor(x, y, same(c, hidden) ? fill : toQColor(c));
            }
        }
        const int factor = std::clamp(2048 / std::max(image.width, image.height), 1, 8);
        const QImage big = img.scaled(image.width * factor, image.height * factor, Qt::IgnoreAspectRatio,
                                      Qt::FastTransformation);
        p.setRenderHint(QPainter::SmoothPixmapTransform, false);
        p.drawImage(plot, big);
        p.restore();
        return;
    }
    for (int y = 0; y < image.height; ++y) {
        int x = 0;
        while (x < image.width) {
            const Rgba8 c = image.at(x, y);
            int end = x + 1;
            if (merge_runs)
                while (end < image.width && same(image.at(end, y), c)) ++end;
            if (!same(c, hidden)) {
                const double x0 = plot.left() + x * cw, y0 = plot.top() + y * ch;
                const double w = (end - x) * cw + (end < image.width ? kSeamOverlap : 0.0);
                const double h = ch + (y + 1 < image.height ? kSeamOverlap : 0.0);
                p.setBrush(toQColor(c));
                p.drawRect(QRectF(x0, y0, w, h));
            }
            x = end;
        }
    }
    p.restore();
}

double labelsWidth(int64_t count, const std::function<QString(int64_t)>& label, double max_width,
                   const FigureStyle& style) {
    const QFontMetricsF fm(figureFont(style.font_px * 0.85));
    double w = 0;
    const int64_t step = std::max<int64_t>(1, count / 512);  // long axes: a sample is enough
    for (int64_t i = 0; i < count; i += step) w = std::max(w, fm.horizontalAdvance(label(i)));
    return std::min(max_width, w + 4);
}

namespace {

// Which rows/columns get a label: every k-th when cells are smaller than the text.
int64_t labelStride(double cell, double font) {
    if (cell <= 0) return 1;
    return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(font * 1.2 / cell)));
}

QString elided(const QString& text, double width, const QFont& font) {
    return QFontMetricsF(font).elidedText(text, Qt::ElideRight, width);
}

}  // namespace

void paintRowLabels(QPainter& p, const QRectF& plot, int64_t rows, const std::function<QString(int64_t)>& label,
                    double width, const FigureStyle& style) {
    if (rows <= 0) return;
    const double px = style.font_px * 0.85;
    const QFont font = figureFont(px);
    p.setFont(font);
    p.setPen(style.dim_text);
    const double ch = plot.height() / double(rows);
    const int64_t stride = labelStride(ch, px);
    for (int64_t r = 0; r < rows; r += stride) {
        const double cy = plot.top() + (double(r) + 0.5) * ch;
        const QRectF box(plot.left() - width - 3, cy - px, width, 2 * px);
        p.drawText(box, Qt::AlignRight | Qt::AlignVCenter, elided(label(r), width, font));
    }
}

void paintColumnLabels(QPainter& p, const QRectF& plot, int64_t cols, const std::function<QString(int64_t)>& label,
                       double height, const FigureStyle& style) {
    if (cols <= 0) return;
    const double px = style.font_px * 0.85;
    const QFont font = figureFont(px);
    p.setFont(font);
    p.setPen(style.dim_text);
    const double cw = plot.width() / double(cols);
    const int64_t stride = labelStride(cw, px);
    for (int64_t c = 0; c < cols; c += stride) {
        const double cx = plot.left() + (double(c) + 0.5) * cw;
        p.save();
        // Rotated -90 degrees about the label's anchor under the column: text reads bottom-up and
        // ends at the plot's edge.
        p.translate(cx, plot.bottom() + 3);
        p.rotate(-90);
        p.drawText(QRectF(-height, -px, height, 2 * px), Qt::AlignRight | Qt::AlignVCenter,
                   elided(label(c), height, font));
        p.restore();
    }
}

double colorBarExtent(const std::vector<std::pair<double, std::string>>& ticks, const FigureStyle& style) {
    const QFontMetricsF fm(figureFont(style.font_px * 0.85));
    double w = 0;
    for (const auto& t : ticks) w = std::max(w, fm.horizontalAdvance(QString::fromStdString(t.second)));
    return kColorBarWidth + 6 + w + 6 + style.font_px * 1.2;
}

void paintColorBar(QPainter& p, const QRectF& bar, const ColorStops& stops,
                   const std::vector<std::pair<double, std::string>>& ticks, const QString& caption,
                   const FigureStyle& style) {
    p.save();
    QLinearGradient g(bar.bottomLeft(), bar.topLeft());  // t = 0 at the bottom
    for (const auto& [t, c] : stops) g.setColorAt(t, c);
    p.setPen(Qt::NoPen);
    p.setBrush(g);
    p.drawRect(bar);
    p.setBrush(Qt::NoBrush);
    p.setPen(QPen(style.frame, 0.8));
    p.drawRect(bar);
    const double px = style.font_px * 0.85;
    p.setFont(figureFont(px));
    double label_w = 0;
    const QFontMetricsF fm(figureFont(px));
    for (const auto& [t, text] : ticks) {
        const double y = bar.bottom() - t * bar.height();
        p.setPen(QPen(style.frame, 0.8));
        p.drawLine(QPointF(bar.right(), y), QPointF(bar.right() + 4, y));
        p.setPen(style.dim_text);
        const QString label = QString::fromStdString(text);
        label_w = std::max(label_w, fm.horizontalAdvance(label));
        p.drawText(QRectF(bar.right() + 6, y - px, 400, 2 * px), Qt::AlignLeft | Qt::AlignVCenter, label);
    }
    if (!caption.isEmpty()) {
        p.translate(bar.right() + 6 + label_w + 6 + style.font_px, bar.center().y());
        p.rotate(-90);
        p.setFont(figureFont(style.font_px * 0.9));
        p.setPen(style.text);
        p.drawText(QRectF(-bar.height() / 2, -style.font_px, bar.height(), style.font_px * 1.4), Qt::AlignCenter,
                   caption);
    }
    p.restore();
}

double paintLegend(QPainter& p, const QPointF& origin, double max_width,
                   const std::vector<std::pair<QColor, QString>>& items, const FigureStyle& style) {
    const double px = style.font_px * 0.9;
    const QFont font = figureFont(px);
    const QFontMetricsF fm(font);
    const double sw = px * 1.1, gap = px * 1.2, line = px * 1.6;
    double x = origin.x(), y = origin.y();
    p.save();
    p.setFont(font);
    for (const auto& [color, text] : items) {
        const double w = sw + 4 + fm.horizontalAdvance(text);
        if (x > origin.x() && x + w > origin.x() + max_width) {
            x = origin.x();
            y += line;
        }
        p.setPen(QPen(style.frame, 0.6));
        p.setBrush(color);
        p.drawRect(QRectF(x, y + (line - sw) / 2, sw, sw));
        p.setPen(style.text);
        p.drawText(QRectF(x + sw + 4, y, w, line), Qt::AlignLeft | Qt::AlignVCenter, text);
        x += w + gap;
    }
    p.restore();
    return y + line - origin.y();
}

void paintFigure(const Figure& figure, QPainter& p, const QSizeF& size, const FigureOptions& options) {
    const FigureStyle style = FigureStyle::from(options);
    p.save();
    p.setRenderHint(QPainter::Antialiasing, true);
    p.setRenderHint(QPainter::TextAntialiasing, true);
    p.fillRect(QRectF(QPointF(0, 0), size), style.background);
    const double margin = std::max(6.0, style.font_px);
    const double title_px = style.font_px * 1.25;
    QRectF area(margin, margin, size.width() - 2 * margin, size.height() - 2 * margin);

    const QString title = options.title.isEmpty() ? figure.title() : options.title;
    {
        const QFont font = figureFont(title_px, true);
        const QRectF box(area.left(), area.top(), area.width(), title_px * 3);
        const QRectF used = QFontMetricsF(font).boundingRect(box, Qt::TextWordWrap | Qt::AlignLeft, title);
        paintText(p, box, Qt::TextWordWrap | Qt::AlignLeft | Qt::AlignTop, title, style.text, title_px, true);
        area.setTop(area.top() + std::min(box.height(), used.height()) + style.font_px * 0.6);
    }
    if (options.show_caption) {
        const QString caption = figure.caption();
        const double px = style.font_px * 0.85;
        const QFont font = figureFont(px);
        const QRectF box(area.left(), area.bottom() - px * 4.5, area.width(), px * 4.5);
        const QRectF used = QFontMetricsF(font).boundingRect(QRectF(area.left(), 0, area.width(), px * 4.5),
                                                              Qt::TextWordWrap | Qt::AlignLeft, caption);
        const double h = std::min(box.height(), used.height());
        paintText(p, QRectF(area.left(), area.bottom() - h, area.width(), h), Qt::TextWordWrap | Qt::AlignLeft,
                  caption, style.dim_text, px);
        area.setBottom(area.bottom() - h - style.font_px * 0.6);
    }
    const QString empty = figure.emptyReason();
    if (!empty.isEmpty()) {
        paintText(p, area, Qt::AlignCenter | Qt::TextWordWrap, empty, mix(style.dim_text, style.background, 0.2),
                  style.font_px);
    } else if (area.width() > 20 && area.height() > 20) {
        figure.paintBody(p, area, style);
    }
    p.restore();
}

QImage renderFigureImage(const Figure& figure, const FigureOptions& options) {
    const double scale = std::max(0.05, options.dpi / 96.0);
    const QSize px(std::max(1, static_cast<int>(std::lround(options.size.width() * scale))),
                   std::max(1, static_cast<int>(std::lround(options.size.height() * scale))));
    QImage image(px, QImage::Format_ARGB32_Premultiplied);
    image.fill(Qt::white);
    {
        QPainter p(&image);
        p.scale(scale, scale);
        paintFigure(figure, p, QSizeF(options.size), options);
    }
    const int dpm = static_cast<int>(std::lround(options.dpi / 0.0254));
    image.setDotsPerMeterX(dpm);
    image.setDotsPerMeterY(dpm);
    return image;
}

bool writeFigure(const Figure& figure, const QString& path, const FigureOptions& options, QString* error,
                 QSize* pixel_size) {
    auto fail = [&](const QString& why) {
        if (error) *error = path + QStringLiteral(": ") + why;
        return false;
    };
    const std::optional<FigureFormat> format = figureFormatForPath(path);
    if (!format) return fail(QStringLiteral("unknown figure format (use .png, .svg or .pdf)"));
    if (options.size.width() < 16 || options.size.height() < 16 || options.size.width() > 20000 ||
        options.size.height() > 20000)
        return fail(QStringLiteral("figure size %1x%2 is out of range").arg(options.size.width()).arg(options.size.height()));
    if (!(options.dpi >= 10 && options.dpi <= 2400)) return fail(QStringLiteral("DPI %1 is out of range (10..2400)").arg(options.dpi));
    const QString empty = figure.emptyReason();
    if (!empty.isEmpty()) return fail(QStringLiteral("nothing to draw: ") + empty);
    const QFileInfo info(path);
    if (!QDir().mkpath(info.absolutePath())) return fail(QStringLiteral("cannot create its folder"));

    if (*format == FigureFormat::Png) {
        const QImage image = renderFigureImage(figure, options);
        if (!image.save(path, "PNG")) return fail(QStringLiteral("cannot write the PNG"));
        if (pixel_size) *pixel_size = image.size();
        return true;
    }
    const QSizeF size(options.size);
    if (*format == FigureFormat::Svg) {
        QSvgGenerator svg;
        svg.setFileName(path);
        svg.setSize(options.size);
        svg.setViewBox(QRectF(QPointF(0, 0), size));
        svg.setResolution(96);
        svg.setTitle(options.title.isEmpty() ? figure.title() : options.title);
        svg.setDescription(figure.caption());
        QPainter p;
        if (!p.begin(&svg)) return fail(QStringLiteral("cannot write the SVG"));
        paintFigure(figure, p, size, options);
        p.end();
    } else {
        QPdfWriter pdf(path);
        pdf.setResolution(96);
        pdf.setPageSize(QPageSize(QSizeF(size.width() * 72.0 / 96.0, size.height() * 72.0 / 96.0), QPageSize::Point,
                                  QString(), QPageSize::ExactMatch));
        pdf.setPageMargins(QMarginsF(0, 0, 0, 0));
        pdf.setTitle(options.title.isEmpty() ? figure.title() : options.title);
        pdf.setCreator(QStringLiteral("attnlab"));
        QPainter p;
        if (!p.begin(&pdf)) return fail(QStringLiteral("cannot write the PDF"));
        paintFigure(figure, p, size, options);
        p.end();
    }
    if (!QFileInfo(path).exists() || QFileInfo(path).size() == 0) return fail(QStringLiteral("nothing was written"));
    if (pixel_size) *pixel_size = options.size;
    return true;
}

}  // namespace attnlab
