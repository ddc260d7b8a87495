#include "views/long_attention_view.h"

#include <QComboBox>
#include <QElapsedTimer>
#include <QHBoxLayout>
#include <QImage>
#include <QLabel>
#include <QMouseEvent>
#include <QPainter>
#include <QPointer>
#include <QPushButton>
#include <QVBoxLayout>
#include <QWheelEvent>
#include <cmath>

#include "core/analysis/long_attention.h"
#include "views/long_attention_model.h"

namespace attnlab {

LongAttentionView::LongAttentionView(QWidget* parent) : QWidget(parent), m_model(std::make_unique<LongAttentionModel>()) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    auto* bar = new QHBoxLayout;
    m_title = new QLabel(tr("No long-attention capture (open one with --long-attention FILE)"), this);
    m_pooling_box = new QComboBox(this);
    m_pooling_box->addItem(tr("Max pooling"), static_cast<int>(LongPooling::Max));
    m_pooling_box->addItem(tr("Mean pooling"), static_cast<int>(LongPooling::Mean));
    m_scale_box = new QComboBox(this);
    m_scale_box->addItem(tr("Log scale"), static_cast<int>(ColorScale::Log));
    m_scale_box->addItem(tr("Linear scale"), static_cast<int>(ColorScale::Linear));
    auto* reset = new QPushButton(tr("Whole prompt"), this);
    bar->addWidget(m_title, 1);
    bar->addWidget(m_pooling_box);
    bar->addWidget(m_scale_box);
    bar->addWidget(reset);
    layout->addLayout(bar);
    m_canvas = new LongAttentionCanvas(this);
    layout->addWidget(m_canvas, 1);
    m_readout = new QLabel(this);
    m_readout->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_readout);
    connect(m_pooling_box, &QComboBox::currentIndexChanged, this, [this] {
        m_model->setPooling(static_cast<LongPooling>(m_pooling_box->currentData().toInt()));
        m_canvas->update();
    });
    connect(m_scale_box, &QComboBox::currentIndexChanged, this, [this] {
        m_model->setColorScale(static_cast<ColorScale>(m_scale_box->currentData().toInt()));
        m_canvas->update();
    });
    connect(reset, &QPushButton::clicked, m_canvas, &LongAttentionCanvas::resetView);
}

LongAttentionView::~LongAttentionView() {
    m_worker.reset();  // joins the tile thread before the model goes
}

LongAttentionModel& LongAttentionView::model() { return *m_model; }
double LongAttentionView::lastFrameMs() const { return m_canvas->lastFrameMs(); }
double LongAttentionView::lastTileMs() const { return m_last_tile_ms; }
int LongAttentionView::tilesReceived() const { return m_tiles_received; }

Status LongAttentionView::openFile(const std::string& path) {
    Result<LongAttentionFile> file = loadLongAttention(path);
    if (!file) return Status::fail(file.error());
    std::shared_ptr<const AttentionPyramid> pyramid = file->pyramid;
    if (!pyramid) {
        Result<AttentionPyramid> built = buildPyramid(*file->capture);
        if (!built) return Status::fail(path + ": " + built.error());
        pyramid = std::make_shared<const AttentionPyramid>(std::move(*built));
    }
    const auto& info = file->capture->info;
    QString title = QString::fromStdString(path.substr(path.find_last_of('/') + 1));
    title += tr(": %1 tokens, head_dim %2").arg(file->capture->tokens).arg(file->capture->head_dim);
    if (info.count("layer") && info.count("head"))
        title += tr(", layer %1 head %2").arg(QString::fromStdString(info.at("layer")), QString::fromStdString(info.at("head")));
    if (info.count("source")) title += QStringLiteral(" (%1)").arg(QString::fromStdString(info.at("source")));
    setData(file->capture, pyramid, title);
    return Status::ok();
}

void LongAttentionView::setData(std::shared_ptr<const LongAttentionCapture> capture,
                                std::shared_ptr<const AttentionPyramid> pyramid, const QString& title) {
    m_worker.reset();
    m_model->setData(capture, std::move(pyramid));
    m_model->resize(m_canvas->width(), m_canvas->height());
    m_title->setText(title);
    QPointer<LongAttentionView> self(this);
    m_worker = std::make_unique<LongAttentionTileWorker>(
        capture, [self](const LongTileRequest& req, std::shared_ptr<const PooledWeights> tile, double ms) {
            // Worker thread: hand the tile to the GUI thread; drop it there if the view is gone or moved on.
            QMetaObject::invokeMethod(
                self.data(),
                [self, req, tile, ms] {
                    if (!self) return;
                    if (!(self->m_model->wantedTile() == req)) return;
                    self->m_model->setTile(req, tile);
                    self->m_last_tile_ms = ms;
                    ++self->m_tiles_received;
                    self->m_canvas->update();
                    Q_EMIT self->tileArrived();
                },
                Qt::QueuedConnection);
        });
    m_canvas->requestTileIfNeeded();
    m_canvas->update();
}

void LongAttentionView::updateReadout(double x_px, double y_px) {
    const LongAttentionHover h = m_model->hoverAt(x_px, y_px);
    QString zoom = tr("%1 tokens/px").arg(m_model->tokensPerPixel(), 0, 'g', 3);
    QString source = m_model->wantedTile().is_needed
                         ? (m_model->hasTile() && m_model->tileRequest() == m_model->wantedTile() ? tr("exact tile")
                                                                                                  : tr("computing exact tile…"))
                         : (m_model->isRegionTooLarge() ? tr("pyramid (zoom in for exact weights)")
                                                        : tr("pyramid level %1").arg(m_model->lastLevel()));
    if (!h.is_valid) {
        m_readout->setText(QStringLiteral("%1 · %2").arg(zoom, source));
        return;
    }
    const QString kind = m_model->pooling() == LongPooling::Max ? tr("max") : tr("mean");
    if (h.is_masked)
        m_readout->setText(tr("query %1, key %2: masked (causal) · %3 · %4").arg(h.query).arg(h.key).arg(zoom, source));
    else
        m_readout->setText(tr("query %1, key %2: weight %3 · pixel %4 %5 · %6 · %7")
                               .arg(h.query)
                               .arg(h.key)
                               .arg(static_cast<double>(h.weight), 0, 'g', 4)
                               .arg(kind)
                               .arg(static_cast<double>(h.shown), 0, 'g', 4)
                               .arg(zoom, source));
}

LongAttentionCanvas::LongAttentionCanvas(LongAttentionView* view) : QWidget(view), m_view(view) {
    setMouseTracking(true);
    setMinimumSize(200, 200);
    setAttribute(Qt::WA_OpaquePaintEvent);
    setFocusPolicy(Qt::StrongFocus);
}

void LongAttentionCanvas::requestTileIfNeeded() {
    LongAttentionModel& m = *m_view->m_model;
    if (!m_view->m_worker) return;
    const LongTileRequest want = m.wantedTile();
    if (want.is_needed && !(m.hasTile() && m.tileRequest() == want)) m_view->m_worker->request(want);
}

void LongAttentionCanvas::zoomAt(double x_px, double y_px, double factor) {
    m_view->m_model->zoomAt(x_px, y_px, factor);
    requestTileIfNeeded();
    update();
}

void LongAttentionCanvas::panBy(double dx_px, double dy_px) {
    m_view->m_model->panBy(dx_px, dy_px);
    requestTileIfNeeded();
    update();
}

void LongAttentionCanvas::resetView() {
    m_view->m_model->resetView();
    requestTileIfNeeded();
    update();
}

void LongAttentionCanvas::paintEvent(QPaintEvent*) {
    QElapsedTimer timer;
    timer.start();
    QPainter p(this);
    LongAttentionModel& m = *m_view->m_model;
    m.render();
    if (m.argb().empty()) {
        p.fillRect(rect(), Qt::white);
    } else {
        // Format_RGB32 is the backing store's own layout: no conversion while blitting.
        const QImage q(reinterpret_cast<const uchar*>(m.argb().data()), m.width(), m.height(), m.width() * 4,
                       QImage::Format_RGB32);
        p.drawImage(0, 0, q);
    }
    m_last_frame_ms = static_cast<double>(timer.nsecsElapsed()) / 1e6;
    ++m_frames;
}

void LongAttentionCanvas::resizeEvent(QResizeEvent*) {
    m_view->m_model->resize(width(), height());
    requestTileIfNeeded();
}

void LongAttentionCanvas::wheelEvent(QWheelEvent* event) {
    const double steps = event->angleDelta().y() / 120.0;
    zoomAt(event->position().x(), event->position().y(), std::pow(1.25, steps));
    m_view->updateReadout(event->position().x(), event->position().y());
    event->accept();
}

void LongAttentionCanvas::mousePressEvent(QMouseEvent* event) {
    if (event->button() == Qt::LeftButton) {
        m_is_dragging = true;
        m_drag_from = event->position();
    }
}

void LongAttentionCanvas::mouseMoveEvent(QMouseEvent* event) {
    if (m_is_dragging) {
        const QPointF d = event->position() - m_drag_from;
        m_drag_from = event->position();
        panBy(d.x(), d.y());
    }
    m_view->updateReadout(event->position().x(), event->position().y());
}

void LongAttentionCanvas::mouseReleaseEvent(QMouseEvent*) { m_is_dragging = false; }

void LongAttentionCanvas::mouseDoubleClickEvent(QMouseEvent* event) {
    zoomAt(event->position().x(), event->position().y(), 4.0);
}

}  // namespace attnlab
