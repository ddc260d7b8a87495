// The head grid: layers x query heads as thumbnails coloured by a chosen score (entropy, sink
// mass, kept fraction, kept coverage); clicking a head asks the window to open it. GUI thread only.
#pragma once

#include <QImage>
#include <QWidget>
#include <memory>

#include "views/view_data.h"

class QComboBox;

namespace attnlab {

class HeadGridModel;
class GridCanvas;

class HeadGridView : public QWidget {
    Q_OBJECT

public:
    explicit HeadGridView(QWidget* parent = nullptr);
    ~HeadGridView() override;

    void setData(std::shared_ptr<const ComparisonData> data);
    void selectRun(int run);
    void setSelected(int64_t layer, int64_t head);
    const HeadGridModel& model() const;
    QImage renderFigure(const QSize& size, QString* error);

Q_SIGNALS:
    void headActivated(qint64 layer, qint64 head);

private:
    std::unique_ptr<HeadGridModel> m_model;
    QComboBox* m_run_box = nullptr;
    QComboBox* m_score_box = nullptr;
    GridCanvas* m_canvas = nullptr;
};

}  // namespace attnlab
