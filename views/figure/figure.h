// Figures for papers: one QPainter renderer draws a view (title, plot, axis token labels, colour
// bar or legend, caption with the run spec) onto any paint device, so PNG (QImage), SVG
// (QSvgGenerator) and PDF (QPdfWriter) are the same picture. Vector where the view is vector:
// heatmap cells are rectangles up to FigureOptions::max_vector_cells drawn cells (the causal mask's
// hidden half does not count), a raster image beyond.
// No GL, no torch: works under QT_QPA_PLATFORM=offscreen. GUI thread (QFont needs the app).
#pragma once

#include <QImage>
#include <QRectF>
#include <QSize>
#include <QString>
#include <optional>

class QPainter;

namespace attnlab {

enum class FigureFormat { Png = 1, Svg = 2, Pdf = 3 };

// From a file name's extension (.png, .svg, .pdf; any case); nullopt otherwise.
std::optional<FigureFormat> figureFormatForPath(const QString& path);
const char* figureFormatName(FigureFormat format);

struct FigureOptions {
    // Layout size in CSS pixels (1/96 inch): an SVG or PDF is size/96 inches, a PNG has
    // size * dpi / 96 pixels. Fonts are sized in the same units, so the DPI only sharpens a PNG.
    QSize size{900, 700};
    double dpi = 96;
    QString title;              // empty: the view's own title
    bool show_caption = true;   // the run spec under the plot
    double font_px = 12;        // body text; the title is 1.25x
    int max_vector_cells = 40000;  // heatmaps with more cells are embedded as one raster image
    bool is_dark = false;       // light background for papers by default; dark like the app window
};

// Colours and fonts one figure is drawn with.
struct FigureStyle {
    QColor background;
    QColor text;
    QColor dim_text;
    QColor frame;
    double font_px = 12;
    int max_vector_cells = 40000;

    static FigureStyle from(const FigureOptions& options);
};

// One view as a figure. Implementations keep a reference to their view model (which must outlive
// them) and draw only from it.
class Figure {
public:
    virtual ~Figure() = default;
    virtual QString title() const = 0;
    // The run spec: model, input, strategy, layer/head, scale.
    virtual QString caption() const = 0;
    // "" when there is something to draw, else why not (exports fail with this message).
    virtual QString emptyReason() const { return QString(); }
    // Draws the plot with its labels and colour bar into `area` (title and caption are drawn around it).
    virtual void paintBody(QPainter& painter, const QRectF& area, const FigureStyle& style) const = 0;
};

// Draws the whole figure (background, title, body, caption) into [0, size] of the painter's
// current coordinates.
void paintFigure(const Figure& figure, QPainter& painter, const QSizeF& size, const FigureOptions& options);

// The figure as an image of size * dpi / 96 pixels (the PNG path).
QImage renderFigureImage(const Figure& figure, const FigureOptions& options);

// Writes `path` in the format its extension names. On failure returns false with *error naming
// the file and the problem. *pixel_size (optional) gets the PNG's pixels, or the layout size.
bool writeFigure(const Figure& figure, const QString& path, const FigureOptions& options, QString* error,
                 QSize* pixel_size = nullptr);

}  // namespace attnlab
