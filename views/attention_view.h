// The attention view and the mask view: pickers (run, layer, query head grouped by KV head,
// linear/log scale) above an ImGui canvas with the heatmap, colour bar, hover inspector, zoom and
// pan. The mask view is the same matrix with the strategy's kept KV entries overlaid. A viewer:
// it receives snapshots and selections and never talks to other viewers. GUI thread only.
#pragma once

#include <QImage>
#include <QWidget>
#include <memory>

#include "views/attention_model.h"
#include "views/colormap.h"
#include "views/view_data.h"

class QComboBox;
class QStandardItemModel;

namespace attnlab {

class MatrixCanvas;

class AttentionView : public QWidget {
    Q_OBJECT

public:
    enum class Mode { Attention = 1, Mask = 2 };

    explicit AttentionView(Mode mode, QWidget* parent = nullptr);
    ~AttentionView() override;

    Mode mode() const { return m_mode; }
    void setData(std::shared_ptr<const ComparisonData> data);
    void selectHead(int64_t layer, int64_t head);
    void selectRun(int run);
    void setScale(ColorScale scale);
    // Row (query) or column (key) focus on the current matrix; FocusKind::None clears it.
    void focusToken(FocusKind kind, int64_t index);
    const AttentionViewModel& model() const;
    // The canvas drawn offscreen at `size` pixels by the same code (figure export; needs GL).
    QImage renderFigure(const QSize& size, QString* error);

Q_SIGNALS:
    // The user picked another layer/head here.
    void headPicked(qint64 layer, qint64 head);
    // The focus or what it shows changed (new head, run or data): the prompt text can be re-tinted.
    void tokenFocusChanged(const attnlab::TokenFocus& focus);

private:
    void rebuildPickers();
    void applySelection();
    void announceFocus();

    Mode m_mode;
    std::unique_ptr<AttentionViewModel> m_model;
    QComboBox* m_run_box = nullptr;
    QComboBox* m_layer_box = nullptr;
    QComboBox* m_head_box = nullptr;
    QStandardItemModel* m_head_items = nullptr;
    QComboBox* m_scale_box = nullptr;
    MatrixCanvas* m_canvas = nullptr;
    bool m_is_updating = false;
    bool m_has_announced_focus = false;  // the last tokenFocusChanged carried a focus
};

}  // namespace attnlab
