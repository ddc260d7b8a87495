#include "views/scene_view.h"

#include <QComboBox>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QMessageBox>
#include <QMouseEvent>
#include <QPainter>
#include <QPushButton>
#include <QSlider>
#include <QSpinBox>
#include <QTimer>
#include <QVBoxLayout>

#include "views/figure/export_dialog.h"
#include "views/scene_figure.h"
#include "views/scene_layout_model.h"

namespace attnlab {

using namespace scene;

namespace {

FigureStyle screenStyle() {
    FigureOptions o;
    o.is_dark = true;
    return FigureStyle::from(o);
}

}  // namespace

// ----------------------------------------------------------------------------- canvas

SceneCanvas::SceneCanvas(SceneLayoutModel& model, const SceneFigure& figure, QWidget* parent)
    : QWidget(parent), m_model(model), m_figure(figure) {
    setObjectName(QStringLiteral("sceneCanvas"));
    setMinimumSize(480, 420);
    setMouseTracking(false);
}

QRectF SceneCanvas::bodyRect() const { return QRectF(rect()).adjusted(10, 6, -10, -6); }

QPointF SceneCanvas::pointOfPixel(int panel, double x, double y) const {
    const SceneFigureLayout L = layoutSceneFigure(bodyRect(), int(m_model.frame().tokens.size()), m_model.stepCount(), fontPx());
    const QRectF& r = L.panels[panel];
    return QPointF(r.left() + x * r.width() / kImageSize, r.top() + y * r.height() / kImageSize);
}

int SceneCanvas::panelAt(const QPointF& p, double* x, double* y) const {
    const SceneFigureLayout L = layoutSceneFigure(bodyRect(), int(m_model.frame().tokens.size()), m_model.stepCount(), fontPx());
    for (int i = 0; i < 4; ++i)
        if (L.panels[i].contains(p)) {
            *x = (p.x() - L.panels[i].left()) * kImageSize / L.panels[i].width();
            *y = (p.y() - L.panels[i].top()) * kImageSize / L.panels[i].height();
            return i;
        }
    return -1;
}

void SceneCanvas::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing, true);
    const FigureStyle style = screenStyle();
    p.fillRect(rect(), style.background);
    if (!m_model.hasModel()) {
        p.setPen(style.text);
        p.drawText(rect(), Qt::AlignCenter, m_figure.emptyReason());
        return;
    }
    m_figure.paintBody(p, bodyRect(), style);
    if (m_dragging && m_drag_panel >= 0) {  // where the object will land
        p.setPen(QPen(Qt::white, 1.5, Qt::DashLine));
        p.setBrush(Qt::NoBrush);
        p.drawEllipse(m_drag_now, 6, 6);
    }
}

void SceneCanvas::mousePressEvent(QMouseEvent* e) {
    if (!m_model.hasModel() || e->button() != Qt::LeftButton) return;
    const QPointF pos = e->position();
    double x = 0, y = 0;
    const int panel = panelAt(pos, &x, &y);
    if (panel >= 0) {
        const int token = m_model.tokenAt(int(x), int(y));
        m_model.select(token);
        if (token >= 0) {
            double bx = 0, by = 0;
            SceneLayoutModel::tokenBasePoint(m_model.tokens()[size_t(token)], &bx, &by);
            m_drag_offset = QPointF(bx - x, by - y);
            m_dragging = true;
            m_drag_panel = panel;
            m_drag_now = pos;
        }
        Q_EMIT edited();
        update();
        return;
    }
    const SceneFigureLayout L = layoutSceneFigure(bodyRect(), int(m_model.frame().tokens.size()), m_model.stepCount(), fontPx());
    for (size_t k = 0; k < L.steps.size(); ++k)
        if (L.steps[k].contains(pos)) {
            m_model.setStep(int(k) + 1);
            Q_EMIT edited();
            update();
            return;
        }
    for (size_t k = 1; k < L.attention.size(); ++k)
        if (L.attention[k].contains(pos)) {
            m_model.select(m_model.frame().source_index[k - 1]);
            Q_EMIT edited();
            update();
            return;
        }
}

void SceneCanvas::mouseMoveEvent(QMouseEvent* e) {
    if (!m_dragging) return;
    m_drag_now = e->position();
    update();
}

void SceneCanvas::mouseReleaseEvent(QMouseEvent* e) {
    if (!m_dragging) return;
    m_dragging = false;
    double x = 0, y = 0;
    const QPointF start = pointOfPixel(m_drag_panel, 0, 0);
    (void)start;
    const int panel = panelAt(e->position(), &x, &y);
    if (panel == m_drag_panel) {
        int qx = 0, qy = 0;
        SceneLayoutModel::binsNearPixel(x + m_drag_offset.x(), y + m_drag_offset.y(), &qx, &qy);
        const Token& t = m_model.tokens()[size_t(m_model.selected())];
        if (qx != t.qx || qy != t.qy) m_model.moveSelected(qx, qy);
    }
    m_drag_panel = -1;
    Q_EMIT edited();
    update();
}

// ----------------------------------------------------------------------------- view

SceneView::SceneView(const QString& exe_dir, QWidget* parent)
    : QWidget(parent), m_model(std::make_unique<SceneLayoutModel>()), m_exe_dir(exe_dir) {
    setObjectName(QStringLiteral("sceneView"));
    m_figure = std::make_unique<SceneFigure>(*m_model);
    setFocusPolicy(Qt::StrongFocus);

    auto* bar = new QHBoxLayout();
    bar->addWidget(new QLabel(tr("Seed"), this));
    m_seed = new QSpinBox(this);
    m_seed->setObjectName(QStringLiteral("sceneSeed"));
    m_seed->setRange(0, 1000000);
    m_seed->setValue(1);
    bar->addWidget(m_seed);
    auto* plan = new QPushButton(tr("Plan"), this);
    plan->setObjectName(QStringLiteral("scenePlan"));
    plan->setToolTip(tr("Draft a new layout with the planner (objects back to front)"));
    bar->addWidget(plan);
    bar->addWidget(new QLabel(tr("Drawn"), this));
    m_step = new QSlider(Qt::Horizontal, this);
    m_step->setObjectName(QStringLiteral("sceneStep"));
    m_step->setMaximumWidth(140);
    bar->addWidget(m_step);
    m_play = new QPushButton(tr("Play"), this);
    m_play->setToolTip(tr("Replay the planner drawing the objects one at a time, back to front"));
    bar->addWidget(m_play);
    bar->addWidget(new QLabel(tr("Layer"), this));
    m_layer = new QComboBox(this);
    m_layer->setObjectName(QStringLiteral("sceneLayer"));
    bar->addWidget(m_layer);
    m_masks = new QComboBox(this);
    m_masks->setObjectName(QStringLiteral("sceneMasks"));
    m_masks->addItems({tr("Visible masks"), tr("Amodal masks")});
    bar->addWidget(m_masks);
    m_colour = new QComboBox(this);
    m_colour->setObjectName(QStringLiteral("sceneColour"));
    m_colour->setToolTip(tr("Recolour the selected object"));
    for (int c = 0; c < kNumColours; ++c) m_colour->addItem(QString::fromLatin1(colourName(c)));
    bar->addWidget(m_colour);
    m_delete = new QPushButton(tr("Delete"), this);
    m_delete->setObjectName(QStringLiteral("sceneDelete"));
    bar->addWidget(m_delete);
    auto* exp = new QPushButton(tr("Export…"), this);
    exp->setObjectName(QStringLiteral("sceneExport"));
    bar->addWidget(exp);
    bar->addStretch(1);
    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("sceneStatus"));
    auto* col = new QVBoxLayout(this);
    col->setContentsMargins(4, 4, 4, 4);
    col->addLayout(bar);
    m_canvas = new SceneCanvas(*m_model, *m_figure, this);
    col->addWidget(m_canvas, 1);
    col->addWidget(m_status);
    m_play_timer = new QTimer(this);
    m_play_timer->setInterval(450);

    connect(plan, &QPushButton::clicked, this, [this] { this->plan(m_seed->value()); });
    connect(m_step, &QSlider::valueChanged, this, [this](int v) {
        if (v != m_model->step()) {
            m_model->setStep(v);
            refresh();
        }
    });
    connect(m_play, &QPushButton::clicked, this, [this] {
        if (!m_model->hasModel() || m_model->stepCount() == 0) return;
        m_model->setStep(1);
        refresh();
        m_play_timer->start();
    });
    connect(m_play_timer, &QTimer::timeout, this, [this] {
        if (m_model->step() >= m_model->stepCount()) {
            m_play_timer->stop();
            return;
        }
        m_model->setStep(m_model->step() + 1);
        refresh();
    });
    connect(m_layer, qOverload<int>(&QComboBox::activated), this, [this](int i) {
        m_model->setLayer(i);
        refresh();
    });
    connect(m_masks, qOverload<int>(&QComboBox::activated), this, [this](int i) {
        m_model->setShowAmodal(i == 1);
        refresh();
    });
    connect(m_colour, qOverload<int>(&QComboBox::activated), this, [this](int c) {
        if (m_model->recolourSelected(c)) refresh();
    });
    connect(m_delete, &QPushButton::clicked, this, [this] {
        if (m_model->deleteSelected()) refresh();
    });
    connect(exp, &QPushButton::clicked, this, &SceneView::showExportDialog);
    connect(m_canvas, &SceneCanvas::edited, this, &SceneView::refresh);
    syncControls();
}

SceneView::~SceneView() = default;

const Figure& SceneView::figure() const { return *m_figure; }

bool SceneView::loadModel(const QString& dir, QString* error) {
    m_tried_default = true;
    const Status s = m_model->loadModel(dir.toStdString());
    if (!s.isOk()) {
        if (error) *error = QString::fromStdString(s.error());
        m_status->setText(QString::fromStdString(s.error()));
        return false;
    }
    plan(m_seed->value());
    return true;
}

void SceneView::showEvent(QShowEvent* event) {
    QWidget::showEvent(event);
    if (m_tried_default || m_model->hasModel()) return;
    m_tried_default = true;
    const std::string dir = SceneLayoutModel::findDefaultModelDir(m_exe_dir.toStdString());
    if (dir.empty()) {
        m_status->setText(tr("No scene model found: set ATTNLAB_SCENE_MODEL or run from the source tree "
                             "(assets/models/scene)"));
        return;
    }
    loadModel(QString::fromStdString(dir));
}

void SceneView::keyPressEvent(QKeyEvent* event) {
    if ((event->key() == Qt::Key_Delete || event->key() == Qt::Key_Backspace) && m_model->deleteSelected()) {
        refresh();
        return;
    }
    QWidget::keyPressEvent(event);
}

void SceneView::plan(int seed) {
    if (!m_model->hasModel()) return;
    m_seed->setValue(seed);
    m_model->plan(uint64_t(seed));
    refresh();
}

void SceneView::refresh() {
    syncControls();
    m_canvas->update();
    if (m_model->renderCount() != m_last_render_count) {
        m_last_render_count = m_model->renderCount();
        Q_EMIT rendered(m_model->lastRenderMs());
    }
}

void SceneView::syncControls() {
    const bool has = m_model->hasModel();
    m_step->blockSignals(true);
    m_step->setRange(0, m_model->stepCount());
    m_step->setValue(m_model->step());
    m_step->blockSignals(false);
    if (m_layer->count() != m_model->layerCount()) {
        m_layer->clear();
        for (int l = 0; l < m_model->layerCount(); ++l) {
            int res = 0;
            (void)m_model->attention(l, 0, &res);
            m_layer->addItem(tr("%1 (%2 px)").arg(l + 1).arg(res));
        }
    }
    m_layer->setCurrentIndex(m_model->layer());
    const int sel = m_model->selected();
    m_delete->setEnabled(has && sel >= 0);
    m_colour->setEnabled(has && sel >= 0);
    if (sel >= 0) m_colour->setCurrentIndex(m_model->tokens()[size_t(sel)].colour);
    if (has) {
        QString s = tr("%1 objects, rendered in %2 ms (raster %3 ms)")
                        .arg(m_model->frame().tokens.size())
                        .arg(m_model->lastRenderMs(), 0, 'f', 1)
                        .arg(m_model->frame().raster_ms, 0, 'f', 1);
        s += sel >= 0 ? tr("; selected: %1 (drag to move, Del to delete)").arg(QString::fromStdString(m_model->describeToken(sel)))
                      : tr("; click an object to select it");
        m_status->setText(s);
    }
}

bool SceneView::exportFigure(const QString& path, const FigureOptions& options, QString* error) {
    return writeFigure(*m_figure, path, options, error);
}

void SceneView::showExportDialog() {
    FigureOptions defaults;
    defaults.size = QSize(1100, 900);
    FigureExportDialog dialog({QStringLiteral("scene")}, QStringLiteral("scene"), defaults,
                              QStringLiteral("scene.pdf"), this);
    if (dialog.exec() != QDialog::Accepted) return;
    QString error;
    if (!exportFigure(dialog.path(), dialog.options(), &error)) QMessageBox::warning(this, tr("Export failed"), error);
    else m_status->setText(tr("Exported %1").arg(dialog.path()));
}

}  // namespace attnlab
