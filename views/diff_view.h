// The difference-map dock: runs A and B, layer and head pickers over the difference figure
// (B - A of attention after each run's kept set; B - A of per-token KL from full). A viewer: it
// receives snapshots and selections. GUI thread only.
#pragma once

#include <QWidget>
#include <memory>

#include "views/view_data.h"

class QComboBox;

namespace attnlab {

class DiffFigure;
class DiffModel;
class FigureWidget;

class DiffView : public QWidget {
    Q_OBJECT

public:
    explicit DiffView(QWidget* parent = nullptr);
    ~DiffView() override;

    void setData(std::shared_ptr<const ComparisonData> data);
    void selectHead(int64_t layer, int64_t head);
    void selectRuns(int run_a, int run_b);
    const DiffModel& model() const;
    const DiffFigure& figure() const;

private:
    void rebuildPickers();
    void applySelection();

    std::unique_ptr<DiffModel> m_model;
    std::unique_ptr<DiffFigure> m_figure;
    QComboBox* m_a_box = nullptr;
    QComboBox* m_b_box = nullptr;
    QComboBox* m_layer_box = nullptr;
    QComboBox* m_head_box = nullptr;
    FigureWidget* m_canvas = nullptr;
    bool m_is_updating = false;
};

}  // namespace attnlab
