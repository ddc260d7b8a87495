#include "app/gui/input_panel.h"

#include <QButtonGroup>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QPlainTextEdit>
#include <QRadioButton>
#include <QSpinBox>
#include <QTimer>
#include <QVBoxLayout>
#include <cstdio>

#include "core/strategy/params.h"

namespace attnlab {

namespace {

constexpr int kDebounceMs = 200;
constexpr const char* kDefaultPrompt = "The old sailor looked at the sea and said";

std::string formatNumber(double v) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", v);
    return buf;
}

}  // namespace

InputPanel::InputPanel(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    auto* kinds = new QButtonGroup(this);
    m_is_task = new QRadioButton(tr("Needle in a haystack (pass key)"), this);
    m_is_prompt = new QRadioButton(tr("Free prompt"), this);
    kinds->addButton(m_is_task);
    kinds->addButton(m_is_prompt);
    m_is_task->setChecked(true);

    layout->addWidget(m_is_task);
    auto* task_form = new QFormLayout();
    m_length = new QSpinBox(this);
    m_length->setRange(16, 1 << 20);
    m_length->setSingleStep(64);
    m_length->setValue(256);
    m_length->setSuffix(tr(" tokens"));
    m_depth = new QDoubleSpinBox(this);
    m_depth->setRange(0, 1);
    m_depth->setSingleStep(0.05);
    m_depth->setDecimals(2);
    m_depth->setValue(0.5);
    m_depth->setToolTip(tr("0: the needle right after BOS; 1: right before the question"));
    m_seed = new QSpinBox(this);
    m_seed->setRange(0, 1 << 30);
    m_seed->setToolTip(tr("seed of the pass key and of the filler window"));
    task_form->addRow(tr("Length"), m_length);
    task_form->addRow(tr("Depth"), m_depth);
    task_form->addRow(tr("Seed"), m_seed);
    layout->addLayout(task_form);

    layout->addWidget(m_is_prompt);
    m_prompt = new QPlainTextEdit(this);
    m_prompt->setPlainText(QString::fromUtf8(kDefaultPrompt));
    m_prompt->setMaximumHeight(70);
    layout->addWidget(m_prompt);
    auto* prompt_form = new QFormLayout();
    m_max_new = new QSpinBox(this);
    m_max_new->setRange(0, 1 << 16);
    m_max_new->setValue(32);
    prompt_form->addRow(tr("New tokens"), m_max_new);
    layout->addLayout(prompt_form);

    m_summary = new QLabel(this);
    m_summary->setWordWrap(true);
    m_summary->setObjectName(QStringLiteral("promptSummary"));
    layout->addWidget(m_summary);
    m_preview = new QPlainTextEdit(this);
    m_preview->setReadOnly(true);
    m_preview->setPlaceholderText(tr("the prompt, as the model reads it"));
    layout->addWidget(m_preview, 1);

    m_debounce = new QTimer(this);
    m_debounce->setSingleShot(true);
    m_debounce->setInterval(kDebounceMs);
    connect(m_debounce, &QTimer::timeout, this, &InputPanel::inputChanged);
    auto edited = [this] {
        updateEnabled();
        m_debounce->start();
    };
    connect(kinds, &QButtonGroup::buttonToggled, this, edited);
    connect(m_prompt, &QPlainTextEdit::textChanged, this, edited);
    connect(m_length, qOverload<int>(&QSpinBox::valueChanged), this, edited);
    connect(m_depth, qOverload<double>(&QDoubleSpinBox::valueChanged), this, edited);
    connect(m_seed, qOverload<int>(&QSpinBox::valueChanged), this, edited);
    connect(m_max_new, qOverload<int>(&QSpinBox::valueChanged), this, edited);
    updateEnabled();
}

void InputPanel::updateEnabled() {
    const bool is_task = m_is_task->isChecked();
    m_length->setEnabled(is_task);
    m_depth->setEnabled(is_task);
    m_seed->setEnabled(is_task);
    m_prompt->setEnabled(!is_task);
    m_max_new->setEnabled(!is_task);
}

InputSpec InputPanel::input() const {
    InputSpec s;
    s.is_task = m_is_task->isChecked();
    s.prompt = m_prompt->toPlainText().toStdString();
    s.task_spec = "needle:length=" + std::to_string(m_length->value()) + ",depth=" + formatNumber(m_depth->value()) +
                  ",seed=" + std::to_string(m_seed->value());
    s.max_new_tokens = m_max_new->value();
    return s;
}

void InputPanel::setPrompt(const QString& prompt) {
    m_prompt->setPlainText(prompt);
    m_is_prompt->setChecked(true);
    updateEnabled();
}

bool InputPanel::setTaskSpec(const std::string& spec, std::string* error) {
    auto parsed = parseStrategySpec(spec);  // tasks share the "name:key=value" syntax
    if (!parsed) {
        if (error) *error = parsed.error();
        return false;
    }
    if (parsed->name != "needle" && parsed->name != "passkey") {
        if (error) *error = "unknown task '" + parsed->name + "' (needle, passkey)";
        return false;
    }
    for (const auto& [key, value] : parsed->args) {
        bool ok = false;
        const QString v = QString::fromStdString(value);
        if (key == "length") {
            const int n = v.toInt(&ok);
            if (ok && n >= m_length->minimum() && n <= m_length->maximum()) m_length->setValue(n); else ok = false;
        } else if (key == "depth") {
            const double d = v.toDouble(&ok);
            if (ok && d >= 0 && d <= 1) m_depth->setValue(d); else ok = false;
        } else if (key == "seed") {
            const int n = v.toInt(&ok);
            if (ok && n >= 0) m_seed->setValue(n); else ok = false;
        } else {
            if (error) *error = "task '" + parsed->name + "': unknown key '" + key + "' (length, depth, seed)";
            return false;
        }
        if (!ok) {
            if (error) *error = "task '" + parsed->name + "': bad value '" + value + "' for " + key;
            return false;
        }
    }
    m_is_task->setChecked(true);
    updateEnabled();
    return true;
}

void InputPanel::setMaxNewTokens(int64_t n) { m_max_new->setValue(static_cast<int>(n)); }

void InputPanel::showPrompt(const PromptSnapshot& prompt) {
    if (!prompt.is_ok) {
        m_summary->setStyleSheet(QStringLiteral("color: #c0392b;"));
        m_summary->setText(QString::fromStdString(prompt.error));
        m_preview->clear();
        return;
    }
    m_summary->setStyleSheet(QString());
    QString text = tr("%n prompt token(s)", nullptr, static_cast<int>(prompt.tokens));
    if (!prompt.task_spec.empty())
        text += tr(" · %1 · answer \"%2\"")
                    .arg(QString::fromStdString(prompt.task_spec), QString::fromStdString(prompt.answer));
    m_summary->setText(text);
    m_preview->setPlainText(QString::fromStdString(prompt.text));
}

}  // namespace attnlab
