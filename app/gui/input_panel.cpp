#include "app/gui/input_panel.h"

#include <QButtonGroup>
#include <QComboBox>
#include <QHBoxLayout>
#include <QStackedWidget>
#include <algorithm>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QPlainTextEdit>
#include <QRadioButton>
#include <QSpinBox>
#include <QTextCharFormat>
#include <QTextCursor>
#include <QTimer>
#include <cmath>
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

QSpinBox* InputPanel::addIntField(TaskPage& page, QWidget* form_parent, const std::string& key, const QString& label,
                                  int lo, int hi, int value, int step, const QString& tip) {
    auto* box = new QSpinBox(form_parent);
    box->setRange(lo, hi);
    box->setValue(value);
    box->setSingleStep(step);
    box->setToolTip(tip);
    box->setObjectName(QString::fromStdString("task_" + page.name + "_" + key));
    static_cast<QFormLayout*>(form_parent->layout())->addRow(label, box);
    page.fields.push_back(TaskField{key, box, nullptr});
    return box;
}

InputPanel::InputPanel(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    auto* kinds = new QButtonGroup(this);
    m_is_task = new QRadioButton(tr("Task"), this);
    m_is_prompt = new QRadioButton(tr("Free prompt"), this);
    kinds->addButton(m_is_task);
    kinds->addButton(m_is_prompt);
    m_is_task->setChecked(true);

    auto* task_row = new QHBoxLayout();
    task_row->addWidget(m_is_task);
    m_task_kind = new QComboBox(this);
    m_task_kind->setObjectName(QStringLiteral("taskKind"));
    task_row->addWidget(m_task_kind, 1);
    layout->addLayout(task_row);
    m_task_pages = new QStackedWidget(this);
    layout->addWidget(m_task_pages);
    auto newPage = [&](const std::string& name, const QString& label, const QString& tip) {
        auto* page = new QWidget(m_task_pages);
        auto* form = new QFormLayout(page);
        form->setContentsMargins(0, 0, 0, 0);
        m_task_pages->addWidget(page);
        m_task_kind->addItem(label);
        m_task_kind->setItemData(m_task_kind->count() - 1, tip, Qt::ToolTipRole);
        m_tasks.push_back(TaskPage{name, {}, {}});
        return page;
    };
    {
        QWidget* page = newPage("needle", tr("Needle in a haystack (pass key)"),
                                tr("a 5-digit pass key hidden at a depth in held-out text, then a question"));
        TaskPage& t = m_tasks.back();
        t.aliases = {"passkey"};
        addIntField(t, page, "length", tr("Length"), 16, 1 << 20, 256, 64, tr("prompt tokens, BOS and question included"))
            ->setSuffix(tr(" tokens"));
        auto* depth = new QDoubleSpinBox(page);
        depth->setRange(0, 1);
        depth->setSingleStep(0.05);
        depth->setDecimals(2);
        depth->setValue(0.5);
        depth->setToolTip(tr("0: the needle right after BOS; 1: right before the question"));
        depth->setObjectName(QStringLiteral("task_needle_depth"));
        static_cast<QFormLayout*>(page->layout())->addRow(tr("Depth"), depth);
        t.fields.push_back(TaskField{"depth", nullptr, depth});
        addIntField(t, page, "seed", tr("Seed"), 0, 1 << 30, 0, 1, tr("seed of the pass key and of the filler window"));
    }
    {
        QWidget* page = newPage("mqar", tr("MQAR (associative recall)"),
                                tr("key-value pairs, then queries; the last query's value is asked"));
        TaskPage& t = m_tasks.back();
        addIntField(t, page, "pairs", tr("Pairs"), 1, 676, 64, 8, tr("two-letter keys with two-digit values"));
        addIntField(t, page, "queries", tr("Queries"), 1, 676, 8, 1,
                    tr("queries after the pairs; all but the last show their values"));
        addIntField(t, page, "seed", tr("Seed"), 0, 1 << 30, 0, 1, tr("seed of keys, values and query order"));
    }
    {
        QWidget* page = newPage("heldout", tr("Held-out text"),
                                tr("a window of text the demo model never trained on; answer: its next tokens"));
        TaskPage& t = m_tasks.back();
        addIntField(t, page, "length", tr("Length"), 2, 1 << 20, 256, 64, tr("prompt tokens, BOS included"))
            ->setSuffix(tr(" tokens"));
        addIntField(t, page, "seed", tr("Seed"), 0, 1 << 30, 0, 1, tr("seed of the window's offset"));
        addIntField(t, page, "answer_tokens", tr("Answer tokens"), 1, 256, 4, 1,
                    tr("true next tokens the continuation is checked against"));
    }

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
    m_preview->setObjectName(QStringLiteral("promptPreview"));
    m_preview->setPlaceholderText(tr("the prompt, as the model reads it"));
    m_focus_label = new QLabel(this);
    m_focus_label->setObjectName(QStringLiteral("focusSummary"));
    m_focus_label->setWordWrap(true);
    m_focus_label->hide();
    layout->addWidget(m_focus_label);
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
    connect(m_task_kind, qOverload<int>(&QComboBox::currentIndexChanged), this, [this, edited](int i) {
        m_task_pages->setCurrentIndex(i);
        edited();
    });
    connect(m_prompt, &QPlainTextEdit::textChanged, this, edited);
    for (const TaskPage& t : m_tasks)
        for (const TaskField& f : t.fields) {
            if (f.int_box) connect(f.int_box, qOverload<int>(&QSpinBox::valueChanged), this, edited);
            if (f.float_box) connect(f.float_box, qOverload<double>(&QDoubleSpinBox::valueChanged), this, edited);
        }
    connect(m_max_new, qOverload<int>(&QSpinBox::valueChanged), this, edited);
    updateEnabled();
}

void InputPanel::updateEnabled() {
    const bool is_task = m_is_task->isChecked();
    m_task_kind->setEnabled(is_task);
    m_task_pages->setEnabled(is_task);
    m_prompt->setEnabled(!is_task);
    m_max_new->setEnabled(!is_task);
}

InputSpec InputPanel::input() const {
    InputSpec s;
    s.is_task = m_is_task->isChecked();
    s.prompt = m_prompt->toPlainText().toStdString();
    const TaskPage& t = m_tasks[static_cast<size_t>(std::max(0, m_task_kind->currentIndex()))];
    s.task_spec = t.name;
    for (size_t i = 0; i < t.fields.size(); ++i) {
        const TaskField& f = t.fields[i];
        s.task_spec += (i == 0 ? ":" : ",") + f.key + "=" +
                       (f.int_box ? std::to_string(f.int_box->value()) : formatNumber(f.float_box->value()));
    }
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
    int index = -1;
    std::string names;
    for (size_t i = 0; i < m_tasks.size(); ++i) {
        const TaskPage& t = m_tasks[i];
        names += (names.empty() ? "" : ", ") + t.name;
        if (t.name == parsed->name || std::find(t.aliases.begin(), t.aliases.end(), parsed->name) != t.aliases.end())
            index = static_cast<int>(i);
    }
    if (index < 0) {
        if (error) *error = "unknown task '" + parsed->name + "' (" + names + ")";
        return false;
    }
    TaskPage& t = m_tasks[static_cast<size_t>(index)];
    // Check everything before changing anything.
    std::vector<std::pair<const TaskField*, double>> updates;
    for (const auto& [key, value] : parsed->args) {
        const TaskField* field = nullptr;
        std::string keys;
        for (const TaskField& f : t.fields) {
            keys += (keys.empty() ? "" : ", ") + f.key;
            if (f.key == key) field = &f;
        }
        if (!field) {
            if (error) *error = "task '" + parsed->name + "': unknown key '" + key + "' (" + keys + ")";
            return false;
        }
        bool ok = false;
        const QString v = QString::fromStdString(value);
        double d = 0;
        if (field->int_box) {
            const int n = v.toInt(&ok);
            ok = ok && n >= field->int_box->minimum() && n <= field->int_box->maximum();
            d = n;
        } else {
            d = v.toDouble(&ok);
            ok = ok && d >= field->float_box->minimum() && d <= field->float_box->maximum();
        }
        if (!ok) {
            if (error) *error = "task '" + parsed->name + "': bad value '" + value + "' for " + key;
            return false;
        }
        updates.emplace_back(field, d);
    }
    for (const auto& [field, d] : updates) {
        if (field->int_box) field->int_box->setValue(static_cast<int>(d));
        if (field->float_box) field->float_box->setValue(d);
    }
    m_task_kind->setCurrentIndex(index);
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
    m_prompt_text = QString::fromStdString(prompt.text);
    if (!m_is_focus_shown) m_preview->setPlainText(m_prompt_text);
}

void InputPanel::showTokenFocus(const TokenFocus& focus) {
    if (focus.kind == FocusKind::None || focus.tokens.empty()) {
        m_is_focus_shown = false;
        m_focus_label->hide();
        m_preview->setPlainText(m_prompt_text);
        return;
    }
    m_is_focus_shown = true;
    m_focus_label->setText(QString::fromStdString(focus.description) +
                           tr(" · tint: weight relative to the largest (%1); click the cell again or Esc to clear")
                               .arg(double(focus.max_weight), 0, 'f', 3));
    m_focus_label->show();
    m_preview->clear();
    QTextCursor cursor(m_preview->document());
    cursor.beginEditBlock();
    for (size_t i = 0; i < focus.tokens.size(); ++i) {
        QTextCharFormat format;
        if (static_cast<int64_t>(i) == focus.position) {
            format.setBackground(QColor(41, 128, 185));
            format.setForeground(Qt::white);
            format.setFontWeight(QFont::Bold);
        } else {
            const float w = i < focus.weights.size() ? focus.weights[i] : 0.0f;
            // Square root: the sink token's weight would otherwise wash every other token out.
            const double t = focus.max_weight > 0 ? std::sqrt(double(w) / double(focus.max_weight)) : 0.0;
            if (t > 0.02) format.setBackground(QColor(255, 165, 0, static_cast<int>(std::lround(220 * t))));
        }
        cursor.insertText(QString::fromStdString(focus.tokens[i]), format);
    }
    cursor.endEditBlock();
}

}  // namespace attnlab
