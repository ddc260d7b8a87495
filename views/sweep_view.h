// The budget-sweep dock (issue 7): the sweep chart of the comparison on screen (every column a
// point), of a Sweep over budgets, or of a sweep / quality-benchmark JSON file; pickers for the
// quality metric (accuracy, KL, top-1) and the time metric (decode ms per token, prefill ms). A
// viewer: it receives snapshots; Sweep asks the window to run the checked strategies at the budgets
// typed here. GUI thread only.
#pragma once

#include <QWidget>
#include <memory>
#include <string>

#include "core/util/result.h"
#include "views/view_data.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;

namespace attnlab {

class FigureWidget;
class SweepFigure;
class SweepModel;
struct SweepResult;

class SweepView : public QWidget {
    Q_OBJECT

public:
    explicit SweepView(QWidget* parent = nullptr);
    ~SweepView() override;

    // Every run of the comparison becomes a point.
    void setData(std::shared_ptr<const ComparisonData> data);
    void setResult(std::shared_ptr<const SweepResult> result);
    // A sweep JSON (attnlab-cli sweep --json/--out) or a quality-benchmark JSON (its longest length).
    Status openFile(const std::string& path);
    // The budgets typed in the dock ("10%,25%,50%").
    QString budgets() const;
    void setBudgets(const QString& budgets);
    void setSweepEnabled(bool is_enabled);

    const SweepModel& model() const;
    const SweepFigure& figure() const;

Q_SIGNALS:
    // Run the checked strategies at each of these budgets (a list as parseBudgetList reads it).
    void sweepRequested(const QString& budgets);

private:
    void rebuildPickers();
    void applyPickers();

    std::unique_ptr<SweepModel> m_model;
    std::unique_ptr<SweepFigure> m_figure;
    QComboBox* m_quality_box = nullptr;
    QComboBox* m_time_box = nullptr;
    QLineEdit* m_budgets = nullptr;
    QPushButton* m_sweep_button = nullptr;
    QLabel* m_status = nullptr;
    FigureWidget* m_canvas = nullptr;
    bool m_is_updating = false;
};

}  // namespace attnlab
