// Results dock: one column per strategy with its output text and a metrics table (accuracy, KL and
// top-1 agreement vs full, KV bytes, prefill/decode time). A viewer of comparison snapshots.
#pragma once

#include <QWidget>
#include <memory>
#include <nlohmann/json_fwd.hpp>

#include "views/view_data.h"

class QHBoxLayout;
class QLabel;

namespace attnlab {

class ResultsPanel : public QWidget {
    Q_OBJECT

public:
    explicit ResultsPanel(QWidget* parent = nullptr);

    void setData(std::shared_ptr<const ComparisonData> data);
    void clear(const QString& message);
    int columnCount() const;
    // What the columns show, read back from the widgets (the --quit-when-done summary).
    nlohmann::json summary() const;

private:
    QLabel* m_header = nullptr;
    QHBoxLayout* m_columns = nullptr;
};

// The rows of a column's metrics table: label and formatted value, in display order.
std::vector<std::pair<std::string, std::string>> metricRows(const RunData& run, bool has_task);

}  // namespace attnlab
