// The KV-cache timeline dock: run, layer and KV-head pickers over the timeline figure (decode step x
// token position: alive / selected / evicted). A viewer: it receives snapshots and selections.
// GUI thread only.
#pragma once

#include <QWidget>
#include <memory>

#include "views/view_data.h"

class QComboBox;

namespace attnlab {

class FigureWidget;
class TimelineFigure;
class TimelineModel;

class TimelineView : public QWidget {
    Q_OBJECT

public:
    explicit TimelineView(QWidget* parent = nullptr);
    ~TimelineView() override;

    void setData(std::shared_ptr<const ComparisonData> data);
    // Shows the KV head that query head `head` reads.
    void selectHead(int64_t layer, int64_t head);
    void selectRun(int run);
    const TimelineModel& model() const;
    const TimelineFigure& figure() const;

private:
    void rebuildPickers();
    void applySelection();

    std::unique_ptr<TimelineModel> m_model;
    std::unique_ptr<TimelineFigure> m_figure;
    QComboBox* m_run_box = nullptr;
    QComboBox* m_layer_box = nullptr;
    QComboBox* m_kv_box = nullptr;
    FigureWidget* m_canvas = nullptr;
    bool m_is_updating = false;
};

}  // namespace attnlab
