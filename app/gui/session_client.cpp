#include "app/gui/session_client.h"

#include <QDir>
#include <QMetaObject>
#include <QStandardPaths>
#include <filesystem>
#include <map>

#include "app/gui/engine_thread.h"
#include "core/strategy/calibration.h"

namespace attnlab {

namespace {

std::string firstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

struct SessionClient::State {
    std::string path;
    std::string open_error;  // why `store` is empty
    std::unique_ptr<SessionStore> store;
    // Runs saved from this window that store their own attention matrices, by fingerprint: a later
    // comparison on the same prompt (a Live re-run) points at them instead of storing them again.
    std::map<uint64_t, int64_t> capture_owners;
    std::map<std::string, std::string> model_hashes;  // checkpoint dir -> "fnv1a64:..." ("" if unreadable)

    // The model's content hash, computed here once per checkpoint rather than on the engine thread.
    const std::string& modelHash(const std::string& dir) {
        auto it = model_hashes.find(dir);
        if (it != model_hashes.end()) return it->second;
        auto hash = modelContentHash(dir);
        return model_hashes[dir] = hash ? "fnv1a64:" + *hash : std::string();
    }

    SessionListing list() {
        SessionListing listing;
        listing.path = path;
        if (!store) {
            listing.error = open_error;
            return listing;
        }
        auto entries = listSessionEntries(*store);
        if (!entries) {
            listing.error = firstLine(entries.error());
            return listing;
        }
        listing.is_ok = true;
        listing.entries = std::move(*entries);
        if (store->migratedFromVersion() >= 0)
            listing.migration_note = "migrated from session schema version " +
                                     std::to_string(store->migratedFromVersion()) + " (backup: " +
                                     store->migrationBackupPath() + ")";
        return listing;
    }
};

SessionClient::SessionClient(QObject* parent) : QObject(parent), m_state(std::make_unique<State>()) {
    m_thread = new EngineThread(this);
    m_thread->setObjectName(QStringLiteral("attnlab-session"));
    m_thread->start();
}

SessionClient::~SessionClient() {
    State* state = m_state.get();
    m_thread->submit("", [state] { state->store.reset(); });
    m_thread->stop();
    m_thread->wait();
}

void SessionClient::open(const std::string& path, bool create_if_missing) {
    State* state = m_state.get();
    m_thread->submit("", [this, state, path, create_if_missing] {
        state->store.reset();
        state->capture_owners.clear();
        state->path = path;
        state->open_error.clear();
        try {
            std::error_code ec;
            const std::filesystem::path parent = std::filesystem::path(path).parent_path();
            if (!parent.empty() && create_if_missing) std::filesystem::create_directories(parent, ec);
            SessionOpenOptions options;
            options.create_if_missing = create_if_missing;
            auto store = SessionStore::open(path, options);
            if (store) {
                state->store = std::make_unique<SessionStore>(std::move(*store));
            } else {
                state->open_error = firstLine(store.error());
            }
        } catch (const std::exception& e) {
            state->open_error = path + ": " + firstLine(e.what());
        }
        SessionListing listing = state->list();
        QMetaObject::invokeMethod(this, [this, listing] { Q_EMIT sessionListed(listing); }, Qt::QueuedConnection);
    });
}

void SessionClient::refresh() {
    State* state = m_state.get();
    m_thread->submit("list", [this, state] {
        SessionListing listing;
        try {
            listing = state->list();
        } catch (const std::exception& e) {
            listing.path = state->path;
            listing.error = firstLine(e.what());
        }
        QMetaObject::invokeMethod(this, [this, listing] { Q_EMIT sessionListed(listing); }, Qt::QueuedConnection);
    });
}

void SessionClient::save(std::shared_ptr<const std::vector<RunRecord>> records) {
    State* state = m_state.get();
    m_thread->submit("", [this, state, records] {
        SaveOutcome outcome;
        outcome.path = state->path;
        try {
            if (!records || records->empty()) {
                outcome.error = "nothing to save";
            } else if (!state->store) {
                outcome.error = state->path.empty() ? "no session file is open" : state->open_error;
            } else {
                for (const RunRecord& original : *records) {
                    const uint64_t fingerprint = captureFingerprint(original);
                    RunRecord shared;
                    const RunRecord* to_save = &original;
                    bool is_capture_shared = false;
                    auto owner = fingerprint ? state->capture_owners.find(fingerprint) : state->capture_owners.end();
                    if (owner != state->capture_owners.end()) {
                        // Same fingerprint: compare the bytes before trusting it.
                        auto stored = state->store->loadRun(owner->second, true);
                        if (stored && sameStoredCaptures(original, *stored)) {
                            shared = original;
                            shareCapturesWithRun(shared, owner->second);
                            to_save = &shared;
                            is_capture_shared = true;
                        }
                    }
                    if (!to_save->model.path.empty() && to_save->model.content_hash.empty()) {
                        const std::string& hash = state->modelHash(to_save->model.path);
                        if (!hash.empty()) {
                            if (to_save == &original) shared = original;
                            shared.model.content_hash = hash;
                            to_save = &shared;
                        }
                    }
                    const RunRecord& run = *to_save;
                    auto id = state->store->saveRun(run);
                    if (!id) {
                        outcome.error = "run '" + run.strategy + "': " + firstLine(id.error());
                        if (!outcome.run_ids.empty())
                            outcome.error += " (" + std::to_string(outcome.run_ids.size()) + " of " +
                                             std::to_string(records->size()) + " columns saved)";
                        break;
                    }
                    outcome.run_ids.push_back(*id);
                    if (fingerprint && !is_capture_shared) state->capture_owners[fingerprint] = *id;
                }
                outcome.is_ok = outcome.error.empty();
            }
        } catch (const std::exception& e) {  // e.g. bad_alloc: the results on screen stay
            outcome.error = firstLine(e.what());
        }
        QMetaObject::invokeMethod(this, [this, outcome] { Q_EMIT saved(outcome); }, Qt::QueuedConnection);
        if (state->store) {
            SessionListing listing;
            try {
                listing = state->list();
            } catch (const std::exception& e) {
                listing.path = state->path;
                listing.error = firstLine(e.what());
            }
            QMetaObject::invokeMethod(this, [this, listing] { Q_EMIT sessionListed(listing); }, Qt::QueuedConnection);
        }
    });
}

void SessionClient::reopen(int64_t run_id) {
    State* state = m_state.get();
    m_thread->submit("reopen", [this, state, run_id] {
        ReopenOutcome outcome;
        outcome.run_id = run_id;
        try {
            if (!state->store) {
                outcome.error = state->path.empty() ? "no session file is open" : state->open_error;
            } else {
                auto saved = loadSavedComparison(*state->store, run_id);
                if (!saved) {
                    outcome.error = state->path + ": " + firstLine(saved.error());
                } else {
                    outcome.is_ok = true;
                    outcome.data = comparisonDataFromSaved(*saved);
                    outcome.input = saved->task_spec.empty() ? saved->prompt : saved->task_spec;
                    outcome.has_view_data = !saved->columns.empty() && saved->columns.front().has_view_data;
                }
            }
        } catch (const std::exception& e) {
            outcome.error = firstLine(e.what());
        }
        QMetaObject::invokeMethod(this, [this, outcome] { Q_EMIT reopened(outcome); }, Qt::QueuedConnection);
    });
}

std::shared_ptr<ComparisonData> comparisonDataFromSaved(const SavedComparison& saved) {
    auto data = std::make_shared<ComparisonData>();
    data->model_name = saved.model_name;
    data->layers = saved.layers;
    data->heads = saved.heads;
    data->kv_heads = saved.kv_heads;
    data->task_spec = saved.task_spec;
    data->answer = saved.answer;
    if (!saved.columns.empty()) {
        data->prompt_tokens = saved.columns.front().view.prompt_tokens;
        data->reference_tokens = saved.columns.front().view.reference_tokens;
    }
    for (const SavedColumn& c : saved.columns) {
        RunData d;
        d.spec = c.spec;
        d.output_text = c.output_text;
        d.output_tokens = c.view.output_tokens;
        d.stop_reason = c.stop_reason;
        d.metrics = c.metrics;
        d.kv_bytes = c.kv_bytes;
        d.kv_peak_bytes = c.kv_peak_bytes;
        d.prefill_ms = c.prefill_ms;
        d.decode_ms_per_token = c.decode_ms_per_token;
        d.decode_tokens = c.decode_tokens;
        d.captures = c.view.captures;
        d.trace = c.trace;
        d.kl_per_token = c.kl_per_token;
        data->runs.push_back(std::move(d));
    }
    return data;
}

std::string defaultSessionPath() {
    QString base = QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation);
    if (base.isEmpty()) base = QDir::homePath() + QStringLiteral("/.local/share");
    return (base + QStringLiteral("/attnlab/sessions/default.attnlab")).toStdString();
}

}  // namespace attnlab
