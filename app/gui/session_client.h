// The app's door to its session file. One SessionStore lives on a thread of its own (a store is one
// SQLite connection, used from one thread), so saving a run with its attention matrices or reading a
// big session never blocks the window, and a long engine run never delays a save or a reopen.
// Answers arrive as value snapshots through signals, on the GUI thread.
#pragma once

#include <QObject>
#include <memory>
#include <string>
#include <vector>

#include "core/session/run_record.h"
#include "views/view_data.h"

namespace attnlab {

class EngineThread;

struct SessionListing {
    bool is_ok = false;
    std::string path;
    std::string error;  // one line naming the file and the problem
    std::vector<SessionEntry> entries;
    std::string migration_note;  // "migrated from schema version N (backup: FILE)"
};

struct SaveOutcome {
    bool is_ok = false;
    std::string path;
    std::string error;
    std::vector<int64_t> run_ids;
};

struct ReopenOutcome {
    bool is_ok = false;
    int64_t run_id = 0;
    std::string error;
    std::shared_ptr<const ComparisonData> data;
    std::string input;  // task spec or prompt, for the window's status line
    bool has_view_data = false;
};

class SessionClient : public QObject {
    Q_OBJECT

public:
    explicit SessionClient(QObject* parent = nullptr);
    ~SessionClient() override;  // lets queued saves finish, then closes the store

    // Opens (creating it when missing) the session file; answers with sessionListed. A file that
    // cannot be opened (damaged, foreign, newer) is reported and left untouched; saves then fail
    // with that reason until another file is opened.
    void open(const std::string& path, bool create_if_missing = true);
    void refresh();
    // Saves one comparison's records (never dropped, even when several are queued); answers with saved.
    void save(std::shared_ptr<const std::vector<RunRecord>> records);
    void reopen(int64_t run_id);

Q_SIGNALS:
    void sessionListed(const attnlab::SessionListing& listing);
    void saved(const attnlab::SaveOutcome& outcome);
    void reopened(const attnlab::ReopenOutcome& outcome);

private:
    struct State;
    std::unique_ptr<State> m_state;
    EngineThread* m_thread = nullptr;
};

// The snapshot the views draw, from a saved comparison (no engine, no tokenizer needed).
std::shared_ptr<ComparisonData> comparisonDataFromSaved(const SavedComparison& saved);

// $XDG_DATA_HOME/attnlab/sessions/default.attnlab (Qt's generic data location).
std::string defaultSessionPath();

}  // namespace attnlab
