#include "views/sweep_view.h"

#include <QComboBox>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QVBoxLayout>

#include "core/analysis/budget_sweep.h"
#include "views/figure/figure_widget.h"
#include "views/picker.h"
#include "views/sweep_figure.h"
#include "views/sweep_model.h"

namespace attnlab {

SweepView::SweepView(QWidget* parent)
    : QWidget(parent), m_model(std::make_unique<SweepModel>()), m_figure(std::make_unique<SweepFigure>(*m_model)) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->setSpacing(4);
    auto* row = new QHBoxLayout();
    m_quality_box = addPicker(row, tr("Quality metric (left panel)"), this, 10);
    m_time_box = addPicker(row, tr("Time metric (right panel)"), this, 10);
    row->addWidget(new QLabel(tr("Budgets"), this));
    m_budgets = new QLineEdit(QStringLiteral("10%,25%,50%"), this);
    m_budgets->setObjectName(QStringLiteral("sweepBudgets"));
    m_budgets->setToolTip(tr("Budgets each checked strategy with a budget parameter runs at (counts or shares, "
                             "comma separated)"));
    m_budgets->setMinimumWidth(100);
    m_budgets->setMaximumWidth(160);
    row->addWidget(m_budgets);
    m_sweep_button = new QPushButton(tr("Sweep"), this);
    m_sweep_button->setObjectName(QStringLiteral("sweepButton"));
    m_sweep_button->setToolTip(tr("Run the checked strategies at every budget, with full as the reference"));
    row->addWidget(m_sweep_button);
    auto* open_button = new QPushButton(tr("Open…"), this);
    open_button->setToolTip(tr("Chart a sweep JSON (attnlab-cli sweep --out) or quality-benchmark results"));
    row->addWidget(open_button);
    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("sweepStatus"));
    row->addWidget(m_status, 1);
    layout->addLayout(row);
    m_canvas = new FigureWidget(this);
    m_canvas->setObjectName(QStringLiteral("sweepCanvas"));
    m_canvas->setFigure(m_figure.get());
    m_canvas->setHoverText([this](const QPointF& pt) {
        const auto i = m_figure->pointAt(pt);
        return i ? m_figure->describe(*i) : QString();
    });
    layout->addWidget(m_canvas, 1);
    for (QComboBox* box : {m_quality_box, m_time_box})
        connect(box, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
            if (!m_is_updating) applyPickers();
        });
    connect(m_sweep_button, &QPushButton::clicked, this, [this] {
        auto list = parseBudgetList(m_budgets->text().toStdString());
        if (!list) {
            m_status->setText(QString::fromStdString(list.error()));
            return;
        }
        m_status->clear();
        Q_EMIT sweepRequested(m_budgets->text());
    });
    connect(m_budgets, &QLineEdit::returnPressed, m_sweep_button, &QPushButton::click);
    connect(open_button, &QPushButton::clicked, this, [this] {
        const QString file = QFileDialog::getOpenFileName(this, tr("Open sweep results"), QString(),
                                                          tr("JSON (*.json)"));
        if (file.isEmpty()) return;
        const Status s = openFile(file.toStdString());
        if (!s.isOk()) m_status->setText(QString::fromStdString(s.error()));
    });
    rebuildPickers();
}

SweepView::~SweepView() = default;

const SweepModel& SweepView::model() const { return *m_model; }
const SweepFigure& SweepView::figure() const { return *m_figure; }

void SweepView::setData(std::shared_ptr<const ComparisonData> data) {
    if (data) {
        m_model->setComparison(*data);
    } else {
        m_model->clear();
    }
    m_status->clear();
    m_status->setToolTip(QString());
    rebuildPickers();
    m_canvas->update();
}

void SweepView::setResult(std::shared_ptr<const SweepResult> result) {
    m_model->setResult(std::move(result));
    rebuildPickers();
    m_canvas->update();
}

Status SweepView::openFile(const std::string& path) {
    auto loaded = loadSweepJson(path);
    if (!loaded) return Status::fail(loaded.error());
    setResult(std::make_shared<const SweepResult>(std::move(*loaded)));
    // The file name only: the full path would push the pickers aside (it is in the tooltip).
    const QString file = QString::fromStdString(path);
    m_status->setText(tr("from %1").arg(file.section(QLatin1Char('/'), -1)));
    m_status->setToolTip(file);
    return Status::ok();
}

QString SweepView::budgets() const { return m_budgets->text(); }
void SweepView::setBudgets(const QString& budgets) { m_budgets->setText(budgets); }
void SweepView::setSweepEnabled(bool is_enabled) { m_sweep_button->setEnabled(is_enabled); }

void SweepView::rebuildPickers() {
    m_is_updating = true;
    m_quality_box->clear();
    m_time_box->clear();
    for (SweepMetric m : SweepModel::kQualityMetrics) {
        QString text = QString::fromStdString(sweepMetricTitle(m));
        if (m_model->result() && !m_model->hasMetric(m)) text += tr(" (not measured)");
        m_quality_box->addItem(text, static_cast<int>(m));
    }
    for (SweepMetric m : SweepModel::kTimeMetrics)
        m_time_box->addItem(QString::fromStdString(sweepMetricTitle(m)), static_cast<int>(m));
    m_quality_box->setCurrentIndex(m_quality_box->findData(static_cast<int>(m_model->qualityMetric())));
    m_time_box->setCurrentIndex(m_time_box->findData(static_cast<int>(m_model->timeMetric())));
    m_is_updating = false;
}

void SweepView::applyPickers() {
    m_model->setQualityMetric(static_cast<SweepMetric>(m_quality_box->currentData().toInt()));
    m_model->setTimeMetric(static_cast<SweepMetric>(m_time_box->currentData().toInt()));
    m_canvas->update();
}

}  // namespace attnlab
