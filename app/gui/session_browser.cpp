#include "app/gui/session_browser.h"

#include <QDateTime>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <cmath>
#include <nlohmann/json.hpp>

namespace attnlab {

namespace {

constexpr int kRunIdRole = Qt::UserRole + 1;

QString timeText(int64_t unix_ms) {
    if (unix_ms <= 0) return QStringLiteral("—");
    return QDateTime::fromMSecsSinceEpoch(unix_ms).toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
}

// The metrics a reader compares columns by, shortest first.
QString metricsText(const std::map<std::string, double>& m) {
    QStringList parts;
    auto add = [&](const char* key, const char* label, int digits) {
        auto it = m.find(key);
        if (it == m.end() || std::isnan(it->second)) return;
        parts << QStringLiteral("%1 %2").arg(QLatin1String(label)).arg(it->second, 0, 'f', digits);
    };
    add("accuracy", "acc", 2);
    add("kl_vs_full", "KL", 4);
    add("top1_vs_full", "top-1", 2);
    auto kv = m.find("kv_bytes");
    if (kv != m.end() && !std::isnan(kv->second))
        parts << QStringLiteral("KV %1 KiB").arg(kv->second / 1024.0, 0, 'f', 1);
    return parts.join(QStringLiteral(" · "));
}

}  // namespace

SessionBrowser::SessionBrowser(QWidget* parent) : QWidget(parent) {
    m_client = new SessionClient(this);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    auto* top = new QHBoxLayout();
    m_path_label = new QLabel(tr("No session"), this);
    m_path_label->setObjectName(QStringLiteral("sessionPath"));
    m_path_label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    top->addWidget(m_path_label, 1);
    auto* open = new QPushButton(tr("Open…"), this);
    open->setToolTip(tr("Open or create another session file; new runs are saved there"));
    top->addWidget(open);
    layout->addLayout(top);
    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("sessionStatus"));
    m_status->setWordWrap(true);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_status);
    m_list = new QTreeWidget(this);
    m_list->setObjectName(QStringLiteral("sessionRuns"));
    m_list->setHeaderLabels({tr("Runs"), tr("Time"), tr("Model"), tr("Input"), tr("Strategy"), tr("Metrics")});
    m_list->setRootIsDecorated(true);
    m_list->setAlternatingRowColors(true);
    m_list->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
    layout->addWidget(m_list, 1);
    auto* buttons = new QHBoxLayout();
    m_reopen = new QPushButton(tr("Reopen"), this);
    m_reopen->setToolTip(tr("Show the selected run's results and views again (nothing is recomputed)"));
    m_reopen->setEnabled(false);
    m_retry = new QPushButton(tr("Save again"), this);
    m_retry->setObjectName(QStringLiteral("sessionRetry"));
    m_retry->setToolTip(tr("Try again to save the runs that could not be saved"));
    m_retry->setVisible(false);
    buttons->addWidget(m_reopen);
    buttons->addStretch(1);
    buttons->addWidget(m_retry);
    layout->addLayout(buttons);

    connect(m_client, &SessionClient::sessionListed, this, &SessionBrowser::onListed);
    connect(m_client, &SessionClient::saved, this, &SessionBrowser::onSaved);
    connect(m_client, &SessionClient::reopened, this, &SessionBrowser::onReopened);
    connect(open, &QPushButton::clicked, this, &SessionBrowser::chooseFile);
    connect(m_retry, &QPushButton::clicked, this, &SessionBrowser::retrySave);
    connect(m_reopen, &QPushButton::clicked, this, &SessionBrowser::reopenSelected);
    connect(m_list, &QTreeWidget::itemDoubleClicked, this, [this] { reopenSelected(); });
    connect(m_list, &QTreeWidget::itemSelectionChanged, this,
            [this] { m_reopen->setEnabled(m_is_session_ok && !m_list->selectedItems().isEmpty()); });
}

void SessionBrowser::openSession(const std::string& path, bool create_if_missing) {
    m_path = path;
    m_is_session_ok = false;
    m_path_label->setText(QString::fromStdString(path));
    m_path_label->setToolTip(QString::fromStdString(path));
    m_status->setStyleSheet(QString());
    m_status->setText(tr("Opening…"));
    m_client->open(path, create_if_missing);
}

void SessionBrowser::saveRun(std::shared_ptr<const std::vector<RunRecord>> records) {
    if (!records || records->empty()) return;
    m_in_flight.push_back(records);
    m_client->save(std::move(records));
}

void SessionBrowser::reopenRun(int64_t run_id) { m_client->reopen(run_id); }

void SessionBrowser::chooseFile() {
    const QString start = m_path.empty() ? QString() : QFileInfo(QString::fromStdString(m_path)).absolutePath();
    const QString file = QFileDialog::getSaveFileName(this, tr("Open or create a session"), start,
                                                      tr("attnlab sessions (*.attnlab);;All files (*)"), nullptr,
                                                      QFileDialog::DontConfirmOverwrite);
    if (!file.isEmpty()) openSession(file.toStdString());
}

void SessionBrowser::retrySave() {
    std::vector<std::shared_ptr<const std::vector<RunRecord>>> failed;
    failed.swap(m_failed);
    m_retry->setVisible(false);
    for (auto& records : failed) saveRun(records);
}

void SessionBrowser::reopenSelected() {
    const auto items = m_list->selectedItems();
    if (items.isEmpty()) return;
    const qint64 id = items.front()->data(0, kRunIdRole).toLongLong();
    if (id > 0) reopenRun(id);
}

void SessionBrowser::showError(const QString& error) {
    m_status->setStyleSheet(QStringLiteral("color: #c0392b;"));
    m_status->setText(error);
}

void SessionBrowser::onListed(const SessionListing& listing) {
    if (listing.path != m_path) return;  // an answer for a file no longer shown
    m_is_session_ok = listing.is_ok;
    m_error = listing.error;
    m_list->clear();
    if (!listing.is_ok) {
        showError(tr("Session not usable, runs are not saved: %1").arg(QString::fromStdString(listing.error)));
        Q_EMIT sessionListed(false, QString::fromStdString(listing.error));
        return;
    }
    int runs = 0;
    for (const SessionEntry& e : listing.entries) {
        auto* top = new QTreeWidgetItem(m_list);
        QStringList ids;
        for (int64_t id : e.run_ids) ids << QString::number(id);
        top->setText(0, ids.join(QLatin1Char(',')));
        top->setText(1, timeText(e.started_unix_ms));
        top->setText(2, QString::fromStdString(e.model));
        top->setText(3, QString::fromStdString(e.input).left(60));
        top->setToolTip(3, QString::fromStdString(e.input));
        QStringList names;
        for (const std::string& s : e.strategies) names << QString::fromStdString(s.substr(0, s.find(':')));
        top->setText(4, names.join(QStringLiteral(", ")));
        top->setText(5, e.has_view_data ? QString() : tr("(no attention stored)"));
        top->setData(0, kRunIdRole, QVariant::fromValue<qint64>(e.run_ids.front()));
        for (size_t i = 0; i < e.run_ids.size(); ++i) {
            auto* child = new QTreeWidgetItem(top);
            child->setText(0, QString::number(e.run_ids[i]));
            child->setText(4, QString::fromStdString(e.strategies[i]));
            child->setText(5, metricsText(e.metrics[i]));
            child->setData(0, kRunIdRole, QVariant::fromValue<qint64>(e.run_ids[i]));
        }
        runs += static_cast<int>(e.run_ids.size());
    }
    if (!listing.entries.empty()) m_list->scrollToItem(m_list->topLevelItem(m_list->topLevelItemCount() - 1));
    if (m_last_save_error.empty() && m_failed.empty()) {
        m_status->setStyleSheet(QString());
        QString text = tr("%n run(s) in this session; new runs are saved automatically.", nullptr, runs);
        if (!listing.migration_note.empty()) text += QLatin1Char(' ') + QString::fromStdString(listing.migration_note);
        m_status->setText(text);
    }
    Q_EMIT sessionListed(true, QString());
}

void SessionBrowser::onSaved(const SaveOutcome& outcome) {
    std::shared_ptr<const std::vector<RunRecord>> records;
    if (!m_in_flight.empty()) {
        records = m_in_flight.front();
        m_in_flight.pop_front();
    }
    if (outcome.is_ok) {
        m_saved_ids.insert(m_saved_ids.end(), outcome.run_ids.begin(), outcome.run_ids.end());
        m_last_save_error.clear();
        if (m_failed.empty()) m_status->setStyleSheet(QString());
        QStringList ids;
        for (int64_t id : outcome.run_ids) ids << QString::number(id);
        Q_EMIT saveFinished(true, tr("Saved as run %1").arg(ids.join(QLatin1Char(','))));
        return;
    }
    m_last_save_error = outcome.error;
    // Columns already saved stay saved (they are answered in order): the retry saves the rest.
    if (records && outcome.run_ids.size() < records->size()) {
        if (!outcome.run_ids.empty())
            records = std::make_shared<const std::vector<RunRecord>>(records->begin() + outcome.run_ids.size(),
                                                                     records->end());
        m_failed.push_back(records);
    }
    m_retry->setVisible(true);
    const QString message = tr("Not saved to %1: %2 — the results on screen are kept; \"Save again\" retries.")
                                .arg(QString::fromStdString(outcome.path.empty() ? m_path : outcome.path),
                                     QString::fromStdString(outcome.error));
    showError(message);
    Q_EMIT saveFinished(false, message);
}

void SessionBrowser::onReopened(const ReopenOutcome& outcome) {
    if (!outcome.is_ok) {
        const QString error = QString::fromStdString(outcome.error);
        showError(tr("Could not reopen run %1: %2").arg(outcome.run_id).arg(error));
        Q_EMIT reopenFailed(error);
        return;
    }
    QString description = tr("run %1 from %2").arg(outcome.run_id).arg(QFileInfo(QString::fromStdString(m_path)).fileName());
    if (!outcome.has_view_data) description += tr(" (saved without attention matrices: views stay empty)");
    Q_EMIT runReopened(outcome.data, description);
}

nlohmann::json SessionBrowser::summary() const {
    nlohmann::json j{{"path", m_path}, {"ok", m_is_session_ok && m_failed.empty()}, {"run_ids", m_saved_ids}};
    if (!m_error.empty()) j["error"] = m_error;
    if (!m_last_save_error.empty()) j["save_error"] = m_last_save_error;
    j["unsaved_comparisons"] = unsavedRuns();
    return j;
}

}  // namespace attnlab
