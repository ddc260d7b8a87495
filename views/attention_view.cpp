#include "views/attention_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QStandardItemModel>
#include <QMetaObject>
#include <QVBoxLayout>
#include <functional>

#include "views/attention_model.h"
#include "views/picker.h"
#include "views/draw/painters.h"
#include "views/imgui_canvas.h"

namespace attnlab {

class MatrixCanvas : public ImGuiCanvas {
public:
    MatrixCanvas(const AttentionViewModel& model, QWidget* parent) : ImGuiCanvas(parent), m_model(model) {}
    void resetView() { m_state.reset(); }
    std::function<void(FocusKind, int64_t)> on_focus;  // a click asked for a focus (called after the frame)

protected:
    void drawCanvas(CanvasFrame& frame) override {
        // Export draws the whole matrix; the on-screen zoom stays as it is.
        if (frame.is_interactive) {
            drawMatrixView(m_model, m_state, frame);
            if (m_state.has_focus_request) {
                m_state.has_focus_request = false;
                const FocusKind kind = m_state.requested_focus;
                const int64_t index = m_state.requested_index;
                // Not from inside the paint: the view changes the model and repaints.
                if (on_focus)
                    QMetaObject::invokeMethod(this, [this, kind, index] { on_focus(kind, index); }, Qt::QueuedConnection);
            }
        } else {
            MatrixViewState whole;
            drawMatrixView(m_model, whole, frame);
        }
    }

private:
    const AttentionViewModel& m_model;
    MatrixViewState m_state;
};

namespace {

constexpr int kHeadRole = Qt::UserRole + 1;

}  // namespace

AttentionView::AttentionView(Mode mode, QWidget* parent)
    : QWidget(parent), m_mode(mode), m_model(std::make_unique<AttentionViewModel>()) {
    m_model->setMaskOverlay(mode == Mode::Mask);
    // Log by default: the first query always puts weight 1 on itself, so a linear scale hides the rest.
    m_model->setScale(ColorScale::Log);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->setSpacing(4);
    auto* row = new QHBoxLayout();
    row->setSpacing(6);
    m_run_box = addPicker(row, mode == Mode::Mask ? tr("Strategy whose kept KV entries are shown") : tr("Run"), this, 8);
    m_run_box->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    m_layer_box = addPicker(row, tr("Layer"), this, 7);
    m_head_box = addPicker(row, tr("Query head, grouped by the KV head it reads"), this, 7);
    m_head_items = new QStandardItemModel(this);
    m_head_box->setModel(m_head_items);
    m_scale_box = addPicker(row, tr("Colour scale"), this, 6);
    m_scale_box->addItem(tr("linear"), static_cast<int>(ColorScale::Linear));
    m_scale_box->addItem(tr("log scale"), static_cast<int>(ColorScale::Log));
    layout->addLayout(row);
    m_canvas = new MatrixCanvas(*m_model, this);
    m_canvas->setObjectName(mode == Mode::Mask ? QStringLiteral("maskCanvas") : QStringLiteral("attentionCanvas"));
    layout->addWidget(m_canvas, 1);
    m_canvas->on_focus = [this](FocusKind kind, int64_t index) { focusToken(kind, index); };

    auto changed = [this] {
        if (!m_is_updating) applySelection();
    };
    connect(m_run_box, qOverload<int>(&QComboBox::currentIndexChanged), this, changed);
    connect(m_layer_box, qOverload<int>(&QComboBox::currentIndexChanged), this, [this, changed] {
        changed();
        if (!m_is_updating) Q_EMIT headPicked(m_model->layer(), m_model->head());
    });
    connect(m_head_box, qOverload<int>(&QComboBox::currentIndexChanged), this, [this, changed] {
        changed();
        if (!m_is_updating) Q_EMIT headPicked(m_model->layer(), m_model->head());
    });
    connect(m_scale_box, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
        m_model->setScale(static_cast<ColorScale>(m_scale_box->currentData().toInt()));
        m_canvas->requestRepaint();
    });
    rebuildPickers();
}

AttentionView::~AttentionView() = default;

const AttentionViewModel& AttentionView::model() const { return *m_model; }

void AttentionView::setData(std::shared_ptr<const ComparisonData> data) {
    int run = m_model->run();
    if (m_mode == Mode::Mask && data) {
        // The mask view starts on the first run whose strategy decided something.
        run = 0;
        for (size_t i = 0; i < data->runs.size(); ++i) {
            if (!data->runs[i].trace.decisions.empty()) {
                run = static_cast<int>(i);
                break;
            }
        }
    }
    m_model->setData(std::move(data));
    m_model->select(run, m_model->layer(), m_model->head());
    m_canvas->resetView();
    rebuildPickers();
    m_canvas->requestRepaint();
    announceFocus();
}

void AttentionView::selectHead(int64_t layer, int64_t head) {
    m_model->select(m_model->run(), layer, head);
    rebuildPickers();
    m_canvas->requestRepaint();
    announceFocus();
}

void AttentionView::selectRun(int run) {
    m_model->select(run, m_model->layer(), m_model->head());
    rebuildPickers();
    m_canvas->requestRepaint();
    announceFocus();
}

void AttentionView::focusToken(FocusKind kind, int64_t index) {
    m_model->setFocus(kind, index);
    m_canvas->requestRepaint();
    announceFocus();
}

void AttentionView::announceFocus() {
    const bool is_focused = m_model->focusKind() != FocusKind::None;
    if (!is_focused && !m_has_announced_focus) return;
    m_has_announced_focus = is_focused;
    Q_EMIT tokenFocusChanged(m_model->tokenFocus());
}

void AttentionView::setScale(ColorScale scale) {
    m_model->setScale(scale);
    rebuildPickers();
    m_canvas->requestRepaint();
}

QImage AttentionView::renderFigure(const QSize& size, QString* error) { return m_canvas->renderOffscreen(size, error); }

void AttentionView::rebuildPickers() {
    m_is_updating = true;
    const ComparisonData* data = m_model->data();
    m_run_box->clear();
    m_layer_box->clear();
    m_head_items->clear();
    if (data) {
        for (const RunData& run : data->runs) m_run_box->addItem(QString::fromStdString(run.spec));
        for (int64_t l = 0; l < data->layers; ++l) m_layer_box->addItem(tr("layer %1").arg(l), QVariant::fromValue(l));
        // Query heads grouped under their KV head; the group rows are headings, not choices.
        int current_row = -1;
        for (const HeadGroup& g : headGroups(*data)) {
            if (data->groupSize() > 1) {
                auto* heading = new QStandardItem(tr("KV head %1").arg(g.kv_head));
                heading->setFlags(Qt::NoItemFlags);
                heading->setData(-1, kHeadRole);
                m_head_items->appendRow(heading);
            }
            for (int64_t h : g.query_heads) {
                auto* item = new QStandardItem((data->groupSize() > 1 ? QStringLiteral("   ") : QString()) + tr("head %1").arg(h));
                item->setData(QVariant::fromValue(h), kHeadRole);
                if (h == m_model->head()) current_row = m_head_items->rowCount();
                m_head_items->appendRow(item);
            }
        }
        m_run_box->setCurrentIndex(m_model->run());
        m_layer_box->setCurrentIndex(static_cast<int>(m_model->layer()));
        if (current_row >= 0) m_head_box->setCurrentIndex(current_row);
    }
    m_scale_box->setCurrentIndex(m_model->scale() == ColorScale::Log ? 1 : 0);
    m_run_box->setEnabled(data != nullptr);
    m_layer_box->setEnabled(data != nullptr);
    m_head_box->setEnabled(data != nullptr);
    m_is_updating = false;
}

void AttentionView::applySelection() {
    const int run = std::max(0, m_run_box->currentIndex());
    const int64_t layer = m_layer_box->currentData().isValid() ? m_layer_box->currentData().toLongLong() : 0;
    const QVariant head_data = m_head_box->currentData(kHeadRole);
    const int64_t head = head_data.isValid() && head_data.toLongLong() >= 0 ? head_data.toLongLong() : m_model->head();
    m_model->select(run, layer, head);
    m_canvas->requestRepaint();
    announceFocus();
}

}  // namespace attnlab
