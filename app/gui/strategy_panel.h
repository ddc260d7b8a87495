// Strategy dock: every registered strategy with a checkbox and parameter editors generated from
// its ParamSpec schema (OBS style: plugins describe settings as data and never link Qt).
#pragma once

#include <QWidget>
#include <string>
#include <vector>

#include "app/gui/engine_client.h"
#include "app/gui/strategy_presets.h"

class QComboBox;
class QLabel;
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

    // Presets (strategy_presets.h): the picker applies one; "Save…" stores the checked strategies and
    // their parameters under a name (replacing a preset of that name); "Delete" removes the shown one.
    void setPresetsFile(const std::string& path);  // default: defaultPresetsPath(); reloads the picker
    bool applyPreset(const std::string& name, std::string* error);
    bool savePreset(const std::string& name, std::string* error);
    bool deletePreset(const std::string& name, std::string* error);
    std::vector<std::string> presetNames() const;

Q_SIGNALS:
    void selectionChanged();

private:
    struct Entry;
    std::vector<std::unique_ptr<Entry>> m_entries;
    QVBoxLayout* m_list = nullptr;
    QWidget* m_problems = nullptr;

    void reloadPresets();
    void showPresetMessage(const std::string& message, bool is_error);
    bool writePresets(std::vector<StrategyPreset> presets, std::string* error);
    std::string m_presets_path;
    std::vector<StrategyPreset> m_presets;
    std::string m_presets_error;  // the file could not be read: never overwrite it
    QComboBox* m_preset_picker = nullptr;
    QLabel* m_preset_status = nullptr;
};

}  // namespace attnlab
