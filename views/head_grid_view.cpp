#include "views/head_grid_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QVBoxLayout>
#include <functional>

#include "views/draw/painters.h"
#include "views/head_grid_model.h"
#include "views/imgui_canvas.h"

namespace attnlab {

class GridCanvas : public ImGuiCanvas {
public:
    GridCanvas(const HeadGridModel& model, QWidget* parent) : ImGuiCanvas(parent), m_model(model) {}
    std::function<void(int64_t, int64_t)> on_click;

protected:
    void drawCanvas(CanvasFrame& frame) override {
        auto clicked = drawHeadGrid(m_model, frame);
        if (clicked && on_click) {
            // Not from inside the ImGui frame: the handler may change the model being drawn.
            const auto [layer, head] = *clicked;
            QMetaObject::invokeMethod(
                this, [this, layer = layer, head = head] { on_click(layer, head); }, Qt::QueuedConnection);
        }
    }

private:
    const HeadGridModel& m_model;
};

HeadGridView::HeadGridView(QWidget* parent) : QWidget(parent), m_model(std::make_unique<HeadGridModel>()) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->setSpacing(4);
    auto* row = new QHBoxLayout();
    row->addWidget(new QLabel(tr("Run"), this));
    m_run_box = new QComboBox(this);
    m_run_box->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    row->addWidget(m_run_box);
    row->addWidget(new QLabel(tr("Colour by"), this));
    m_score_box = new QComboBox(this);
    for (HeadScore s : allHeadScores()) m_score_box->addItem(tr(headScoreName(s)), static_cast<int>(s));
    row->addWidget(m_score_box);
    row->addStretch(1);
    layout->addLayout(row);
    m_canvas = new GridCanvas(*m_model, this);
    m_canvas->setObjectName(QStringLiteral("gridCanvas"));
    m_canvas->on_click = [this](int64_t layer, int64_t head) {
        setSelected(layer, head);
        Q_EMIT headActivated(layer, head);
    };
    layout->addWidget(m_canvas, 1);
    connect(m_run_box, qOverload<int>(&QComboBox::currentIndexChanged), this, [this](int index) {
        if (index < 0) return;
        m_model->setRun(index);
        m_canvas->requestRepaint();
    });
    connect(m_score_box, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
        m_model->setScore(static_cast<HeadScore>(m_score_box->currentData().toInt()));
        m_canvas->requestRepaint();
    });
}

HeadGridView::~HeadGridView() = default;

const HeadGridModel& HeadGridView::model() const { return *m_model; }

void HeadGridView::setData(std::shared_ptr<const ComparisonData> data) {
    QSignalBlocker block(m_run_box);
    m_run_box->clear();
    if (data)
        for (const RunData& run : data->runs) m_run_box->addItem(QString::fromStdString(run.spec));
    m_model->setData(std::move(data));
    m_run_box->setCurrentIndex(m_model->run());
    m_canvas->requestRepaint();
}

void HeadGridView::selectRun(int run) {
    m_model->setRun(run);
    QSignalBlocker block(m_run_box);
    m_run_box->setCurrentIndex(m_model->run());
    m_canvas->requestRepaint();
}

void HeadGridView::setSelected(int64_t layer, int64_t head) {
    m_model->setSelected(layer, head);
    m_canvas->requestRepaint();
}

QImage HeadGridView::renderFigure(const QSize& size, QString* error) { return m_canvas->renderOffscreen(size, error); }

}  // namespace attnlab
