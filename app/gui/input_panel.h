// Input dock: a free prompt, or the needle (pass key) task with length, depth and seed; shows the
// prompt the model will read once the engine has built it.
#pragma once

#include <QWidget>

#include "app/gui/engine_client.h"

class QDoubleSpinBox;
class QLabel;
class QPlainTextEdit;
class QRadioButton;
class QSpinBox;
class QTimer;

namespace attnlab {

class InputPanel : public QWidget {
    Q_OBJECT

public:
    explicit InputPanel(QWidget* parent = nullptr);

    InputSpec input() const;
    void setPrompt(const QString& prompt);
    // "needle:length=512,depth=0.5,seed=0"; false and *error when the spec cannot be shown here.
    bool setTaskSpec(const std::string& spec, std::string* error);
    void setMaxNewTokens(int64_t n);
    void showPrompt(const PromptSnapshot& prompt);

Q_SIGNALS:
    // Debounced: the input settled after an edit.
    void inputChanged();

private:
    void updateEnabled();

    QRadioButton* m_is_prompt = nullptr;
    QRadioButton* m_is_task = nullptr;
    QPlainTextEdit* m_prompt = nullptr;
    QSpinBox* m_max_new = nullptr;
    QSpinBox* m_length = nullptr;
    QDoubleSpinBox* m_depth = nullptr;
    QSpinBox* m_seed = nullptr;
    QLabel* m_summary = nullptr;
    QPlainTextEdit* m_preview = nullptr;
    QTimer* m_debounce = nullptr;
};

}  // namespace attnlab
