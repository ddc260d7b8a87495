// The attention view and the mask view: pickers (run, layer, query head grouped by KV head,
// linear/log scale) above an ImGui canvas with the heatmap, colour bar, hover inspector, zoom and
// pan. The mask view is the same matrix with the strategy's kept KV entries overlaid. A viewer:
// it receives snapshots and selections and never talks to other viewers. GUI thread only.
#pragma once

#include <QImage>
#include <QWidget>
#include <memory>

#include "views/colormap.h"
#include "views/view_data.h"

class QComboBox;
class QStandardItemModel;

namespace attnlab {

class AttentionViewModel;
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
    const AttentionViewModel& model() const;
    // The canvas drawn offscreen at `size` pixels by the same code (figure export; needs GL).
    QImage renderFigure(const QSize& size, QString* error);

Q_SIGNALS:
    // The user picked another layer/head here.
    void headPicked(qint64 layer, qint64 head);

private:
    void rebuildPickers();
    void applySelection();

    Mode m_mode;
    std::unique_ptr<AttentionViewModel> m_model;
    QComboBox* m_run_box = nullptr;
    QComboBox* m_layer_box = nullptr;
    QComboBox* m_head_box = nullptr;
    QStandardItemModel* m_head_items = nullptr;
    QComboBox* m_scale_box = nullptr;
    MatrixCanvas* m_canvas = nullptr;
    bool m_is_updating = false;
};

}  // namespace attnlab
