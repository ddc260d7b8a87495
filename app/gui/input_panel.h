// Input dock: a free prompt, or a task from assets/tasks (needle / pass key with length, depth and
// seed; MQAR with pairs, queries and seed; held-out text with length and seed); shows the prompt the
// model will read once the engine has built it.
#pragma once

#include <QWidget>

#include "app/gui/engine_client.h"
#include "views/attention_model.h"

class QComboBox;
class QDoubleSpinBox;
class QStackedWidget;
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
    // Row/column focus of the attention view: the prompt on screen, token by token, tinted by the
    // focused query's attention (or by each query's attention to the focused key); the focused token
    // in blue. FocusKind::None shows the plain prompt again.
    void showTokenFocus(const TokenFocus& focus);

Q_SIGNALS:
    // Debounced: the input settled after an edit.
    void inputChanged();

private:
    void updateEnabled();

    struct TaskField {
        std::string key;
        QSpinBox* int_box = nullptr;
        QDoubleSpinBox* float_box = nullptr;
    };
    struct TaskPage {
        std::string name;                   // spec name: "needle", "mqar", "heldout"
        std::vector<std::string> aliases;   // other names setTaskSpec accepts ("passkey")
        std::vector<TaskField> fields;      // in spec order
    };
    QSpinBox* addIntField(TaskPage& page, QWidget* form_parent, const std::string& key, const QString& label, int lo,
                          int hi, int value, int step, const QString& tip);

    QRadioButton* m_is_prompt = nullptr;
    QRadioButton* m_is_task = nullptr;
    QComboBox* m_task_kind = nullptr;
    QStackedWidget* m_task_pages = nullptr;
    std::vector<TaskPage> m_tasks;
    QPlainTextEdit* m_prompt = nullptr;
    QSpinBox* m_max_new = nullptr;
    QLabel* m_summary = nullptr;
    QPlainTextEdit* m_preview = nullptr;
    QLabel* m_focus_label = nullptr;
    QString m_prompt_text;  // the prepared prompt, shown when nothing is focused
    bool m_is_focus_shown = false;
    QTimer* m_debounce = nullptr;
};

}  // namespace attnlab
