// A plain QWidget that shows a Figure with the same renderer the export uses (on screen in the
// app's dark style), with hover text from a callback. No GL, so it works on every platform.
// GUI thread only.
#pragma once

#include <QWidget>
#include <functional>

#include "views/figure/figure.h"

namespace attnlab {

class FigureWidget : public QWidget {
    Q_OBJECT

public:
    explicit FigureWidget(QWidget* parent = nullptr);

    // Not owned; must outlive the widget or be replaced first. nullptr shows nothing.
    void setFigure(const Figure* figure);
    // Hover text for a point in widget coordinates ("" for none).
    void setHoverText(std::function<QString(const QPointF&)> hover_text);
    FigureOptions& options() { return m_options; }
    QSize sizeHint() const override { return QSize(520, 360); }
    QSize minimumSizeHint() const override { return QSize(200, 160); }

protected:
    void paintEvent(QPaintEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;

private:
    const Figure* m_figure = nullptr;
    std::function<QString(const QPointF&)> m_hover_text;
    FigureOptions m_options;
};

}  // namespace attnlab
