#include "app/gui/results_panel.h"

#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPlainTextEdit>
#include <QScrollArea>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace attnlab {

namespace {

std::string format(const char* fmt, double v) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), fmt, v);
    return buf;
}

std::string bytesText(double b) {
    if (b >= 1e9) return format("%.2f GB", b / 1e9);
    if (b >= 1e6) return format("%.2f MB", b / 1e6);
    if (b >= 1e3) return format("%.1f kB", b / 1e3);
    return format("%.0f B", b);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> metricRows(const RunData& run, bool has_task) {
    std::vector<std::pair<std::string, std::string>> rows;
    auto metric = [&](const char* key) -> const double* {
        auto it = run.metrics.find(key);
        return it == run.metrics.end() ? nullptr : &it->second;
    };
    if (has_task) {
        const double* a = metric("accuracy");
        rows.emplace_back("accuracy", a ? (*a >= 1 ? "correct" : "wrong") : "—");
    }
    const double* kl = metric("kl_vs_full");
    rows.emplace_back("KL vs full", kl ? format("%.4f", *kl) : "—");
    const double* top1 = metric("top1_vs_full");
    rows.emplace_back("top-1 vs full", top1 ? format("%.1f%%", 100.0 * *top1) : "—");
    const double* kv_share = metric("kv_bytes_vs_full");
    rows.emplace_back("KV bytes", bytesText(double(run.kv_bytes)) +
                                      (kv_share ? format(" (%.0f%% of full)", 100.0 * *kv_share) : std::string()));
    rows.emplace_back("KV peak", bytesText(double(run.kv_peak_bytes)));
    rows.emplace_back("prefill", format("%.1f ms", run.prefill_ms));
    rows.emplace_back("decode", run.decode_tokens > 0 ? format("%.2f ms/token", run.decode_ms_per_token) : "—");
    rows.emplace_back("stop", run.stop_reason);
    return rows;
}

ResultsPanel::ResultsPanel(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    m_header = new QLabel(tr("No run yet: pick strategies and press Run."), this);
    m_header->setWordWrap(true);
    m_header->setObjectName(QStringLiteral("resultsHeader"));
    layout->addWidget(m_header);
    auto* scroll = new QScrollArea(this);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    auto* inner = new QWidget(scroll);
    m_columns = new QHBoxLayout(inner);
    m_columns->setContentsMargins(0, 0, 0, 0);
    scroll->setWidget(inner);
    layout->addWidget(scroll, 1);
}

void ResultsPanel::clear(const QString& message) {
    while (QLayoutItem* item = m_columns->takeAt(0)) {
        delete item->widget();
        delete item;
    }
    m_header->setText(message);
}

int ResultsPanel::columnCount() const {
    int n = 0;
    for (int i = 0; i < m_columns->count(); ++i)
        if (qobject_cast<QGroupBox*>(m_columns->itemAt(i)->widget())) ++n;
    return n;
}

void ResultsPanel::setData(std::shared_ptr<const ComparisonData> data) {
    if (!data) {
        clear(tr("No run yet."));
        return;
    }
    const bool has_task = !data->task_spec.empty();
    QString header = tr("%1 · %2 prompt tokens")
                         .arg(QString::fromStdString(data->model_name))
                         .arg(static_cast<qlonglong>(data->prompt_tokens.size()));
    if (has_task)
        header += tr(" · %1 · expected answer \"%2\"")
                      .arg(QString::fromStdString(data->task_spec), QString::fromStdString(data->answer));
    clear(header);
    QWidget* inner = m_columns->parentWidget();
    for (const RunData& run : data->runs) {
        auto* column = new QGroupBox(QString::fromStdString(run.spec), inner);
        column->setObjectName(QStringLiteral("resultColumn"));
        auto* layout = new QVBoxLayout(column);
        auto* output = new QPlainTextEdit(column);
        output->setObjectName(QStringLiteral("output"));
        output->setReadOnly(true);
        output->setPlainText(QString::fromStdString(run.output_text));
        output->setFixedHeight(output->fontMetrics().lineSpacing() * 2 + 12);
        layout->addWidget(output);
        // full's continuation, each token tinted by this strategy's KL from full there (teacher
        // forced): white at 0, saturated red at >= 1 nat. Hover shows the value.
        if (!run.kl_per_token.empty() && run.kl_per_token.size() == data->reference_tokens.size()) {
            QString html = tr("<span style='color:#666'>KL vs full per token:</span> ");
            for (size_t i = 0; i < run.kl_per_token.size(); ++i) {
                const double t = std::min(1.0, std::max(0.0, run.kl_per_token[i]));
                const int gb = static_cast<int>(255 - 175 * t);
                html += QStringLiteral("<span title='KL %1' style='background-color:rgb(255,%2,%2)'>%3</span>")
                            .arg(run.kl_per_token[i], 0, 'f', 3)
                            .arg(gb)
                            .arg(QString::fromStdString(displayToken(data->reference_tokens[i])).toHtmlEscaped());
            }
            auto* tinted = new QLabel(html, column);
            tinted->setObjectName(QStringLiteral("klTokens"));
            tinted->setWordWrap(true);
            tinted->setTextFormat(Qt::RichText);
            layout->addWidget(tinted);
        }
        const auto rows = metricRows(run, has_task);
        auto* table = new QTableWidget(static_cast<int>(rows.size()), 1, column);
        table->setObjectName(QStringLiteral("metrics"));
        table->horizontalHeader()->hide();
        table->horizontalHeader()->setStretchLastSection(true);
        table->verticalHeader()->setDefaultSectionSize(table->fontMetrics().height() + 4);
        table->setEditTriggers(QAbstractItemView::NoEditTriggers);
        for (int r = 0; r < static_cast<int>(rows.size()); ++r) {
            table->setVerticalHeaderItem(r, new QTableWidgetItem(QString::fromStdString(rows[size_t(r)].first)));
            auto* item = new QTableWidgetItem(QString::fromStdString(rows[size_t(r)].second));
            if (rows[size_t(r)].first == "accuracy")
                item->setForeground(rows[size_t(r)].second == "correct" ? QColor(30, 132, 73) : QColor(192, 57, 43));
            table->setItem(r, 0, item);
        }
        // Every row visible without scrolling.
        table->setFixedHeight(table->verticalHeader()->defaultSectionSize() * table->rowCount() + 2 * table->frameWidth());
        table->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
        layout->addWidget(table);
        column->setMinimumWidth(240);
        m_columns->addWidget(column, 1);
    }
}

nlohmann::json ResultsPanel::summary() const {
    nlohmann::json columns = nlohmann::json::array();
    for (int i = 0; i < m_columns->count(); ++i) {
        auto* column = qobject_cast<QGroupBox*>(m_columns->itemAt(i)->widget());
        if (!column) continue;
        nlohmann::json c{{"strategy", column->title().toStdString()}};
        if (auto* output = column->findChild<QPlainTextEdit*>(QStringLiteral("output")))
            c["output_text"] = output->toPlainText().toStdString();
        nlohmann::json metrics = nlohmann::json::object();
        if (auto* table = column->findChild<QTableWidget*>(QStringLiteral("metrics"))) {
            for (int r = 0; r < table->rowCount(); ++r)
                if (table->verticalHeaderItem(r) && table->item(r, 0))
                    metrics[table->verticalHeaderItem(r)->text().toStdString()] = table->item(r, 0)->text().toStdString();
        }
        c["metrics"] = metrics;
        columns.push_back(c);
    }
    return columns;
}

}  // namespace attnlab
