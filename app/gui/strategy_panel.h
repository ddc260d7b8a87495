// Strategy dock: every registered strategy with a checkbox and parameter editors generated from
// its ParamSpec schema (OBS style: plugins describe settings as data and never link Qt).
#pragma once

#include <QWidget>
#include <string>
#include <vector>

#include "app/gui/engine_client.h"

class QVBoxLayout;

namespace attnlab {

class StrategyPanel : public QWidget {
    Q_OBJECT

public:
    explicit StrategyPanel(QWidget* parent = nullptr);
    ~StrategyPanel() override;

    // Builds one box per strategy; `full` and `streaming` start checked.
    void setCatalog(const StrategyCatalog& catalog);
    // Specs of the checked strategies, in panel order ("streaming:budget=25%,sink=4").
    std::vector<std::string> checkedSpecs() const;
    // First problem of the checked strategies' parameters, or "".
    std::string validationError() const;
    // Unchecks everything, then checks and fills the strategies of these specs. Errors name the
    // valid choices.
    bool applySpecs(const std::vector<std::string>& specs, std::string* error);

Q_SIGNALS:
    void selectionChanged();

private:
    struct Entry;
    std::vector<std::unique_ptr<Entry>> m_entries;
    QVBoxLayout* m_list = nullptr;
    QWidget* m_problems = nullptr;
};

}  // namespace attnlab
