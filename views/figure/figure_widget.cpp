#include "views/figure/figure_widget.h"

#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>

namespace attnlab {

FigureWidget::FigureWidget(QWidget* parent) : QWidget(parent) {
    m_options.is_dark = true;
    m_options.show_caption = false;  // the window shows the run elsewhere; exports carry it
    m_options.font_px = 11;
    setMouseTracking(true);
    setAttribute(Qt::WA_OpaquePaintEvent);
}

void FigureWidget::setFigure(const Figure* figure) {
    m_figure = figure;
    update();
}

void FigureWidget::setHoverText(std::function<QString(const QPointF&)> hover_text) { m_hover_text = std::move(hover_text); }

void FigureWidget::paintEvent(QPaintEvent*) {
    QPainter p(this);
    if (!m_figure) {
        p.fillRect(rect(), FigureStyle::from(m_options).background);
        return;
    }
    FigureOptions o = m_options;
    o.size = size();
    paintFigure(*m_figure, p, QSizeF(size()), o);
}

void FigureWidget::mouseMoveEvent(QMouseEvent* event) {
    const QString text = m_hover_text ? m_hover_text(event->position()) : QString();
    if (text.isEmpty()) {
        QToolTip::hideText();
    } else {
        QToolTip::showText(event->globalPosition().toPoint(), text, this);
    }
    QWidget::mouseMoveEvent(event);
}

}  // namespace attnlab
