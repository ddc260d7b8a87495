// Session dock: the current session file, every finished run saved to it automatically, and a list
// of its comparisons (time, model, input, strategies, metrics) that reopens one without recomputing.
// A session that cannot be opened or saved to is shown here in red; the results on screen stay, and
// "Save again" retries the runs that were not saved (kept in memory until then).
#pragma once

#include <QWidget>
#include <deque>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <vector>

#include "app/gui/session_client.h"

class QLabel;
class QPushButton;
class QTreeWidget;

namespace attnlab {

class SessionBrowser : public QWidget {
    Q_OBJECT

public:
    explicit SessionBrowser(QWidget* parent = nullptr);

    // create_if_missing false: a missing file is an error (--open-run must not create one).
    void openSession(const std::string& path, bool create_if_missing = true);
    // Autosave of one finished comparison.
    void saveRun(std::shared_ptr<const std::vector<RunRecord>> records);
    void reopenRun(int64_t run_id);

    const std::string& path() const { return m_path; }
    bool isSessionOk() const { return m_is_session_ok; }
    int unsavedRuns() const { return static_cast<int>(m_in_flight.size() + m_failed.size()); }
    // For --quit-when-done: path, ok, error, saved run ids, unsaved comparisons.
    nlohmann::json summary() const;

Q_SIGNALS:
    void sessionListed(bool is_ok, const QString& error);
    void saveFinished(bool is_ok, const QString& message);
    void runReopened(std::shared_ptr<const attnlab::ComparisonData> data, const QString& description);
    void reopenFailed(const QString& error);

private:
    void onListed(const SessionListing& listing);
    void onSaved(const SaveOutcome& outcome);
    void onReopened(const ReopenOutcome& outcome);
    void showError(const QString& error);
    void retrySave();
    void chooseFile();
    void reopenSelected();

    SessionClient* m_client = nullptr;
    QLabel* m_path_label = nullptr;
    QLabel* m_status = nullptr;
    QTreeWidget* m_list = nullptr;
    QPushButton* m_reopen = nullptr;
    QPushButton* m_retry = nullptr;
    std::string m_path;
    bool m_is_session_ok = false;
    std::string m_error;
    std::string m_last_save_error;
    std::vector<int64_t> m_saved_ids;
    // Comparisons not saved yet, oldest first: queued on the session thread (answered in order), and
    // failed ones, kept in memory until "Save again" succeeds.
    std::deque<std::shared_ptr<const std::vector<RunRecord>>> m_in_flight;
    std::vector<std::shared_ptr<const std::vector<RunRecord>>> m_failed;
};

}  // namespace attnlab
