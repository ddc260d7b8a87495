#include "views/timeline_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QVBoxLayout>

#include "views/figure/figure_widget.h"
#include "views/picker.h"
#include "views/figure/view_figures.h"
#include "views/timeline_model.h"

namespace attnlab {

TimelineView::TimelineView(QWidget* parent)
    : QWidget(parent), m_model(std::make_unique<TimelineModel>()), m_figure(std::make_unique<TimelineFigure>(*m_model)) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->setSpacing(4);
    auto* row = new QHBoxLayout();
    m_run_box = addPicker(row, tr("Run whose KV cache is shown"), this, 10);
    m_run_box->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    m_layer_box = addPicker(row, tr("Layer"), this, 7);
    m_kv_box = addPicker(row, tr("KV head"), this, 8);
    layout->addLayout(row);
    m_canvas = new FigureWidget(this);
    m_canvas->setObjectName(QStringLiteral("timelineCanvas"));
    m_canvas->setFigure(m_figure.get());
    m_canvas->setHoverText([this](const QPointF& pt) {
        const auto cell = m_figure->cellAt(pt);
        return cell ? m_figure->describe(cell->first, cell->second) : QString();
    });
    layout->addWidget(m_canvas, 1);
    for (QComboBox* box : {m_run_box, m_layer_box, m_kv_box})
        connect(box, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
            if (!m_is_updating) applySelection();
        });
    rebuildPickers();
}

TimelineView::~TimelineView() = default;

const TimelineModel& TimelineView::model() const { return *m_model; }
const TimelineFigure& TimelineView::figure() const { return *m_figure; }

void TimelineView::setData(std::shared_ptr<const ComparisonData> data) {
    int run = m_model->run();
    if (data) {
        // Start on the first run whose strategy decided something (full keeps everything).
        run = 0;
        for (size_t i = 0; i < data->runs.size(); ++i) {
            if (!data->runs[i].trace.decisions.empty() || !data->runs[i].trace.evictions.empty()) {
                run = static_cast<int>(i);
                break;
            }
        }
    }
    m_model->setData(std::move(data));
    m_model->select(run, m_model->layer(), m_model->kvHead());
    rebuildPickers();
    m_canvas->update();
}

void TimelineView::selectHead(int64_t layer, int64_t head) {
    const ComparisonData* data = m_model->data();
    m_model->select(m_model->run(), layer, data ? data->kvHeadOf(head) : 0);
    rebuildPickers();
    m_canvas->update();
}

void TimelineView::selectRun(int run) {
    m_model->select(run, m_model->layer(), m_model->kvHead());
    rebuildPickers();
    m_canvas->update();
}

void TimelineView::rebuildPickers() {
    m_is_updating = true;
    const ComparisonData* data = m_model->data();
    m_run_box->clear();
    m_layer_box->clear();
    m_kv_box->clear();
    if (data) {
        for (const RunData& run : data->runs) m_run_box->addItem(QString::fromStdString(run.spec));
        for (int64_t l = 0; l < data->layers; ++l) m_layer_box->addItem(tr("layer %1").arg(l));
        const int64_t kv_heads = data->kv_heads > 0 ? data->kv_heads : data->heads;
        for (int64_t k = 0; k < kv_heads; ++k) m_kv_box->addItem(tr("KV head %1").arg(k));
        m_run_box->setCurrentIndex(m_model->run());
        m_layer_box->setCurrentIndex(static_cast<int>(m_model->layer()));
        m_kv_box->setCurrentIndex(static_cast<int>(m_model->kvHead()));
    }
    for (QComboBox* box : {m_run_box, m_layer_box, m_kv_box}) box->setEnabled(data != nullptr);
    m_is_updating = false;
}

void TimelineView::applySelection() {
    m_model->select(std::max(0, m_run_box->currentIndex()), std::max(0, m_layer_box->currentIndex()),
                    std::max(0, m_kv_box->currentIndex()));
    m_canvas->update();
}

}  // namespace attnlab
