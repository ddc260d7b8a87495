#include "app/gui/strategy_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QPushButton>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QScrollArea>
#include <QSpinBox>
#include <QVBoxLayout>
#include <algorithm>
#include <climits>
#include <cstdio>
#include <functional>

#include "core/strategy/params.h"

namespace attnlab {

namespace {

std::string formatNumber(double v) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.6g", v);
    return buf;
}

}  // namespace

struct StrategyPanel::Entry {
    StrategyInfo info;
    QGroupBox* box = nullptr;
    QLabel* error = nullptr;
    // Per parameter: read the editor as spec text, write spec text into it.
    std::vector<std::function<std::string()>> readers;
    std::vector<std::function<bool(const std::string&)>> writers;

    // The editors' values, every parameter written out.
    std::string editorText() const {
        std::string s = info.name;
        char sep = ':';
        for (size_t i = 0; i < info.params.size(); ++i) {
            s += sep + info.params[i].name + "=" + readers[i]();
            sep = ',';
        }
        return s;
    }
    Result<ParamValues> bound() const {
        auto parsed = parseStrategySpec(editorText());
        if (!parsed) return Result<ParamValues>::fail(parsed.error());
        return bindParams(info.name, info.params, *parsed);
    }
    // The canonical spec (the text runs and sessions record), or the editors' text while it is invalid.
    std::string spec() const {
        auto b = bound();
        return b ? b->canonical(info.name) : editorText();
    }
    std::string validate() const {
        auto b = bound();
        return b ? std::string() : b.error();
    }
};

StrategyPanel::StrategyPanel(QWidget* parent) : QWidget(parent) {
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    auto* presets = new QHBoxLayout();
    m_preset_picker = new QComboBox(this);
    m_preset_picker->setObjectName(QStringLiteral("presetPicker"));
    m_preset_picker->setToolTip(tr("Apply a saved set of strategies and parameters"));
    presets->addWidget(m_preset_picker, 1);
    auto* save = new QPushButton(tr("Save…"), this);
    save->setToolTip(tr("Save the checked strategies and their parameters as a preset"));
    auto* remove = new QPushButton(tr("Delete"), this);
    remove->setToolTip(tr("Delete the preset shown in the picker"));
    presets->addWidget(save);
    presets->addWidget(remove);
    outer->addLayout(presets);
    m_preset_status = new QLabel(this);
    m_preset_status->setObjectName(QStringLiteral("presetStatus"));
    m_preset_status->setWordWrap(true);
    m_preset_status->hide();
    outer->addWidget(m_preset_status);
    connect(m_preset_picker, qOverload<int>(&QComboBox::activated), this, [this](int index) {
        if (index <= 0) return;
        std::string error;
        if (!applyPreset(m_preset_picker->itemText(index).toStdString(), &error)) showPresetMessage(error, true);
    });
    connect(save, &QPushButton::clicked, this, [this] {
        const QString current = m_preset_picker->currentIndex() > 0 ? m_preset_picker->currentText() : QString();
        bool ok = false;
        const QString name =
            QInputDialog::getText(this, tr("Save preset"), tr("Preset name:"), QLineEdit::Normal, current, &ok).trimmed();
        if (!ok || name.isEmpty()) return;
        std::string error;
        if (!savePreset(name.toStdString(), &error)) showPresetMessage(error, true);
    });
    connect(remove, &QPushButton::clicked, this, [this] {
        if (m_preset_picker->currentIndex() <= 0) return;
        std::string error;
        if (!deletePreset(m_preset_picker->currentText().toStdString(), &error)) showPresetMessage(error, true);
    });
    auto* scroll = new QScrollArea(this);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    auto* inner = new QWidget(scroll);
    m_list = new QVBoxLayout(inner);
    auto* waiting = new QLabel(tr("Loading strategies…"), inner);
    waiting->setObjectName(QStringLiteral("waiting"));
    m_list->addWidget(waiting);
    m_list->addStretch(1);
    scroll->setWidget(inner);
    outer->addWidget(scroll);
    setPresetsFile(defaultPresetsPath());
}

StrategyPanel::~StrategyPanel() = default;

void StrategyPanel::setPresetsFile(const std::string& path) {
    m_presets_path = path;
    reloadPresets();
}

void StrategyPanel::reloadPresets() {
    m_presets.clear();
    m_presets_error.clear();
    auto loaded = loadPresets(m_presets_path);
    if (loaded) {
        m_presets = std::move(*loaded);
        m_preset_status->hide();
    } else {
        m_presets_error = loaded.error();
        showPresetMessage("Presets not loaded: " + loaded.error(), true);
    }
    const QString shown = m_preset_picker->currentIndex() > 0 ? m_preset_picker->currentText() : QString();
    m_preset_picker->clear();
    m_preset_picker->addItem(m_presets.empty() ? tr("No presets yet") : tr("Presets…"));
    for (const StrategyPreset& p : m_presets) m_preset_picker->addItem(QString::fromStdString(p.name));
    const int index = shown.isEmpty() ? -1 : m_preset_picker->findText(shown);
    m_preset_picker->setCurrentIndex(std::max(0, index));
}

void StrategyPanel::showPresetMessage(const std::string& message, bool is_error) {
    m_preset_status->setStyleSheet(is_error ? QStringLiteral("color: #c0392b;") : QStringLiteral("color: #666;"));
    m_preset_status->setText(QString::fromStdString(message));
    m_preset_status->setVisible(!message.empty());
}

std::vector<std::string> StrategyPanel::presetNames() const {
    std::vector<std::string> out;
    for (const StrategyPreset& p : m_presets) out.push_back(p.name);
    return out;
}

bool StrategyPanel::applyPreset(const std::string& name, std::string* error) {
    auto it = std::find_if(m_presets.begin(), m_presets.end(), [&](const StrategyPreset& p) { return p.name == name; });
    if (it == m_presets.end()) {
        if (error) *error = "no preset '" + name + "' in " + m_presets_path;
        return false;
    }
    if (m_entries.empty()) {
        if (error) *error = "the strategies are still loading";
        return false;
    }
    std::string why;
    if (!applySpecs(it->specs, &why)) {
        if (error) *error = "preset '" + name + "': " + why;
        return false;
    }
    m_preset_picker->setCurrentIndex(std::max(0, m_preset_picker->findText(QString::fromStdString(name))));
    showPresetMessage("Applied preset '" + name + "'", false);
    return true;
}

bool StrategyPanel::writePresets(std::vector<StrategyPreset> presets, std::string* error) {
    if (!m_presets_error.empty()) {
        if (error) *error = "not saved: " + m_presets_error + " (fix or remove that file first)";
        return false;
    }
    Status saved = attnlab::savePresets(m_presets_path, presets);
    if (!saved.isOk()) {
        if (error) *error = "not saved: " + saved.error();
        return false;
    }
    reloadPresets();
    return true;
}

bool StrategyPanel::savePreset(const std::string& name, std::string* error) {
    if (name.empty()) {
        if (error) *error = "a preset needs a name";
        return false;
    }
    const std::vector<std::string> specs = checkedSpecs();
    std::string problem = validationError();
    if (specs.empty()) problem = "check at least one strategy";
    if (!problem.empty()) {
        if (error) *error = "not saved: " + problem;
        return false;
    }
    std::vector<StrategyPreset> presets = m_presets;
    auto it = std::find_if(presets.begin(), presets.end(), [&](const StrategyPreset& p) { return p.name == name; });
    if (it != presets.end()) {
        it->specs = specs;
    } else {
        presets.push_back(StrategyPreset{name, specs});
    }
    if (!writePresets(std::move(presets), error)) return false;
    m_preset_picker->setCurrentIndex(std::max(0, m_preset_picker->findText(QString::fromStdString(name))));
    showPresetMessage("Saved preset '" + name + "' to " + m_presets_path, false);
    return true;
}

bool StrategyPanel::deletePreset(const std::string& name, std::string* error) {
    std::vector<StrategyPreset> presets = m_presets;
    auto it = std::find_if(presets.begin(), presets.end(), [&](const StrategyPreset& p) { return p.name == name; });
    if (it == presets.end()) {
        if (error) *error = "no preset '" + name + "'";
        return false;
    }
    presets.erase(it);
    if (!writePresets(std::move(presets), error)) return false;
    showPresetMessage("Deleted preset '" + name + "'", false);
    return true;
}

void StrategyPanel::setCatalog(const StrategyCatalog& catalog) {
    QWidget* inner = m_list->parentWidget();
    while (QLayoutItem* item = m_list->takeAt(0)) {
        delete item->widget();
        delete item;
    }
    m_entries.clear();
    for (const StrategyInfo& info : catalog.strategies) {
        auto entry = std::make_unique<Entry>();
        Entry* e = entry.get();
        e->info = info;
        e->box = new QGroupBox(QString::fromStdString(info.name), inner);
        e->box->setObjectName(QStringLiteral("strategy_") + QString::fromStdString(info.name));
        e->box->setCheckable(true);
        e->box->setChecked(info.name == "full" || info.name == "streaming");
        auto* box_layout = new QVBoxLayout(e->box);
        auto* summary = new QLabel(QString::fromStdString(info.summary), e->box);
        summary->setWordWrap(true);
        summary->setStyleSheet(QStringLiteral("color: #666;"));
        box_layout->addWidget(summary);
        auto* form = new QFormLayout();
        box_layout->addLayout(form);
        for (const ParamSpec& p : info.params) {
            const QString help = QString::fromStdString(p.help);
            QWidget* editor = nullptr;
            switch (p.type) {
                case ParamType::Int: {
                    auto* spin = new QSpinBox(e->box);
                    spin->setRange(static_cast<int>(std::max<double>(p.min_value, INT_MIN)),
                                   static_cast<int>(std::min<double>(p.max_value, INT_MAX)));
                    spin->setValue(QString::fromStdString(p.default_value).toInt());
                    e->readers.push_back([spin] { return std::to_string(spin->value()); });
                    e->writers.push_back([spin](const std::string& v) {
                        bool ok = false;
                        const int n = QString::fromStdString(v).toInt(&ok);
                        if (ok) spin->setValue(n);
                        return ok;
                    });
                    connect(spin, qOverload<int>(&QSpinBox::valueChanged), this, &StrategyPanel::selectionChanged);
                    editor = spin;
                    break;
                }
                case ParamType::Float: {
                    auto* spin = new QDoubleSpinBox(e->box);
                    spin->setDecimals(4);
                    spin->setRange(std::max(p.min_value, -1e9), std::min(p.max_value, 1e9));
                    spin->setSingleStep(std::min(0.1, (spin->maximum() - spin->minimum()) / 20));
                    spin->setValue(QString::fromStdString(p.default_value).toDouble());
                    e->readers.push_back([spin] { return formatNumber(spin->value()); });
                    e->writers.push_back([spin](const std::string& v) {
                        bool ok = false;
                        const double d = QString::fromStdString(v).toDouble(&ok);
                        if (ok) spin->setValue(d);
                        return ok;
                    });
                    connect(spin, qOverload<double>(&QDoubleSpinBox::valueChanged), this,
                            &StrategyPanel::selectionChanged);
                    editor = spin;
                    break;
                }
                case ParamType::Bool: {
                    auto* check = new QCheckBox(e->box);
                    check->setChecked(p.default_value == "true" || p.default_value == "1");
                    e->readers.push_back([check] { return std::string(check->isChecked() ? "true" : "false"); });
                    e->writers.push_back([check](const std::string& v) {
                        if (v != "true" && v != "false" && v != "1" && v != "0") return false;
                        check->setChecked(v == "true" || v == "1");
                        return true;
                    });
                    connect(check, &QCheckBox::toggled, this, &StrategyPanel::selectionChanged);
                    editor = check;
                    break;
                }
                case ParamType::Budget:
                case ParamType::Invalid: {
                    // Budgets are a count ("256") or a share of the prompt ("25%"): free text, checked
                    // against the schema as it is typed.
                    auto* line = new QLineEdit(QString::fromStdString(p.default_value), e->box);
                    line->setPlaceholderText(QString::fromStdString(p.default_value));
                    e->readers.push_back([line] { return line->text().trimmed().toStdString(); });
                    e->writers.push_back([line](const std::string& v) {
                        line->setText(QString::fromStdString(v));
                        return true;
                    });
                    connect(line, &QLineEdit::textChanged, this, &StrategyPanel::selectionChanged);
                    editor = line;
                    break;
                }
            }
            editor->setToolTip(help);
            editor->setObjectName(QString::fromStdString(info.name + "_" + p.name));
            auto* label = new QLabel(QString::fromStdString(p.name), e->box);
            label->setToolTip(help);
            form->addRow(label, editor);
        }
        e->error = new QLabel(e->box);
        e->error->setWordWrap(true);
        e->error->setStyleSheet(QStringLiteral("color: #c0392b;"));
        e->error->hide();
        box_layout->addWidget(e->error);
        if (!info.calibration.empty())
            e->box->setToolTip(tr("needs a %1 calibration: the first run on a model computes it (cached per model)")
                                   .arg(QString::fromStdString(info.calibration)));
        connect(e->box, &QGroupBox::toggled, this, &StrategyPanel::selectionChanged);
        // Show parameter problems as they are typed.
        connect(this, &StrategyPanel::selectionChanged, e->box, [e] {
            const std::string problem = e->box->isChecked() ? e->validate() : std::string();
            e->error->setText(QString::fromStdString(problem));
            e->error->setVisible(!problem.empty());
        });
        m_list->addWidget(e->box);
        m_entries.push_back(std::move(entry));
    }
    if (!catalog.problems.empty()) {
        QString text = tr("Plugins not loaded:");
        for (const PluginProblem& p : catalog.problems) text += QStringLiteral("\n• ") + QString::fromStdString(p.reason);
        auto* problems = new QLabel(text, inner);
        problems->setWordWrap(true);
        problems->setStyleSheet(QStringLiteral("color: #a04000;"));
        m_list->addWidget(problems);
    }
    m_list->addStretch(1);
    Q_EMIT selectionChanged();
}

std::vector<std::string> StrategyPanel::checkedSpecs() const {
    std::vector<std::string> out;
    for (const auto& e : m_entries)
        if (e->box->isChecked()) out.push_back(e->spec());
    return out;
}

std::string StrategyPanel::validationError() const {
    for (const auto& e : m_entries) {
        if (!e->box->isChecked()) continue;
        const std::string problem = e->validate();
        if (!problem.empty()) return problem;
    }
    return "";
}

bool StrategyPanel::applySpecs(const std::vector<std::string>& specs, std::string* error) {
    auto fail = [error](const std::string& message) {
        if (error) *error = message;
        return false;
    };
    std::string names;
    for (const auto& e : m_entries) names += (names.empty() ? "" : ", ") + e->info.name;
    for (const auto& e : m_entries) e->box->setChecked(false);
    for (const std::string& text : specs) {
        auto parsed = parseStrategySpec(text);
        if (!parsed) return fail(parsed.error());
        auto it = std::find_if(m_entries.begin(), m_entries.end(),
                               [&](const auto& e) { return e->info.name == parsed->name; });
        if (it == m_entries.end()) return fail("unknown strategy '" + parsed->name + "' (" + names + ")");
        Entry& e = **it;
        auto bound = bindParams(e.info.name, e.info.params, *parsed);
        if (!bound) return fail(bound.error());
        for (size_t i = 0; i < e.info.params.size(); ++i) {
            const auto& raw = bound->raw();
            auto v = raw.find(e.info.params[i].name);
            if (v != raw.end() && !e.writers[i](v->second))
                return fail(text + ": the editor of '" + e.info.params[i].name + "' cannot show '" + v->second + "'");
        }
        e.box->setChecked(true);
    }
    Q_EMIT selectionChanged();
    return true;
}

}  // namespace attnlab
