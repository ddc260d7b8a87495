#include "views/diff_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QVBoxLayout>

#include "views/diff_model.h"
#include "views/figure/figure_widget.h"
#include "views/picker.h"
#include "views/figure/view_figures.h"

namespace attnlab {

DiffView::DiffView(QWidget* parent)
    : QWidget(parent), m_model(std::make_unique<DiffModel>()), m_figure(std::make_unique<DiffFigure>(*m_model)) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->setSpacing(4);
    auto* row = new QHBoxLayout();
    row->addWidget(new QLabel(tr("B"), this));
    m_b_box = addPicker(row, tr("Run B (shown as B − A)"), this, 8);
    row->addWidget(new QLabel(tr("− A"), this));
    m_a_box = addPicker(row, tr("Run A, the baseline"), this, 8);
    m_layer_box = addPicker(row, tr("Layer"), this, 7);
    m_head_box = addPicker(row, tr("Query head"), this, 7);
    layout->addLayout(row);
    m_canvas = new FigureWidget(this);
    m_canvas->setObjectName(QStringLiteral("diffCanvas"));
    m_canvas->setFigure(m_figure.get());
    m_canvas->setHoverText([this](const QPointF& pt) {
        const auto cell = m_figure->cellAt(pt);
        return cell ? m_figure->describe(cell->first, cell->second) : QString();
    });
    layout->addWidget(m_canvas, 1);
    for (QComboBox* box : {m_a_box, m_b_box, m_layer_box, m_head_box})
        connect(box, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
            if (!m_is_updating) applySelection();
        });
    rebuildPickers();
}

DiffView::~DiffView() = default;

const DiffModel& DiffView::model() const { return *m_model; }
const DiffFigure& DiffView::figure() const { return *m_figure; }

void DiffView::setData(std::shared_ptr<const ComparisonData> data) {
    // A new comparison: A is the first run (full when listed), B the last.
    m_model->setData(std::move(data));
    m_model->select(0, -1, m_model->layer(), m_model->head());
    rebuildPickers();
    m_canvas->update();
}

void DiffView::selectHead(int64_t layer, int64_t head) {
    m_model->select(m_model->runA(), m_model->runB(), layer, head);
    rebuildPickers();
    m_canvas->update();
}

void DiffView::selectRuns(int run_a, int run_b) {
    m_model->select(run_a, run_b, m_model->layer(), m_model->head());
    rebuildPickers();
    m_canvas->update();
}

void DiffView::rebuildPickers() {
    m_is_updating = true;
    const ComparisonData* data = m_model->data();
    for (QComboBox* box : {m_a_box, m_b_box, m_layer_box, m_head_box}) box->clear();
    if (data) {
        for (const RunData& run : data->runs) {
            m_a_box->addItem(QString::fromStdString(run.spec));
            m_b_box->addItem(QString::fromStdString(run.spec));
        }
        for (int64_t l = 0; l < data->layers; ++l) m_layer_box->addItem(tr("layer %1").arg(l));
        for (int64_t h = 0; h < data->heads; ++h) m_head_box->addItem(tr("head %1").arg(h));
        m_a_box->setCurrentIndex(m_model->runA());
        m_b_box->setCurrentIndex(m_model->runB());
        m_layer_box->setCurrentIndex(static_cast<int>(m_model->layer()));
        m_head_box->setCurrentIndex(static_cast<int>(m_model->head()));
    }
    for (QComboBox* box : {m_a_box, m_b_box, m_layer_box, m_head_box}) box->setEnabled(data != nullptr);
    m_is_updating = false;
}

void DiffView::applySelection() {
    m_model->select(std::max(0, m_a_box->currentIndex()), std::max(0, m_b_box->currentIndex()),
                    std::max(0, m_layer_box->currentIndex()), std::max(0, m_head_box->currentIndex()));
    m_canvas->update();
}

}  // namespace attnlab
