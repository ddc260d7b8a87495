// Session store: one SQLite file per session holding models, runs, outputs, metrics, trace and capture
// blobs, notes, tags and exported artifacts (Qt-free, torch-free; links -lsqlite3 -lz).
//
// Guarantees
// - A run save is one transaction: after a crash (kill -9, power loss with synchronous=FULL) a run is
//   either entirely present or absent, and every run whose saveRun returned an id is present.
// - Files are validated read-only before anything writes to them: a file that is not SQLite, not an
//   attnlab session (PRAGMA application_id), from a newer attnlab (PRAGMA user_version), truncated or
//   damaged (quick_check) is refused with a message naming the file, and is never modified (no -wal,
//   -shm or -journal file is created beside it).
// - A file of an older schema version is migrated on open, after a byte copy of it is written beside it
//   (`<file>.v<N>.bak`); the migration is one transaction.
// - Disk full, read-only file, I/O error: saveRun returns a failing Result whose message says so; the
//   file stays consistent (the transaction rolls back) and the store stays usable. saveRun never
//   consumes its RunRecord: the caller still holds the run in memory and must tell the user and offer
//   to save again (or export it) rather than drop it.
//
// Threads and processes: a SessionStore is a single SQLite connection; use one per thread (it may be
// moved between threads, not used from two at once). Several processes and threads may open the same
// file: WAL mode gives one writer and any number of readers at once; a writer waits up to
// SessionOpenOptions::busy_timeout_ms for another writer's transaction before failing with "busy".
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/util/result.h"

struct sqlite3;

namespace attnlab {

// PRAGMA application_id of every attnlab session file: 'ATLB'.
constexpr int32_t kSessionApplicationId = 0x41544C42;
// PRAGMA user_version written by this build. Version 0 was the pre-release layout (runs with metrics as
// a JSON column and ISO 8601 timestamps); migrations live in session_store.cpp.
constexpr int kSessionSchemaVersion = 1;

struct ModelRecord {
    int64_t id = 0;            // 0 = not stored yet
    std::string path;          // checkpoint directory as the user gave it
    std::string architecture;  // e.g. "LlamaForCausalLM"
    std::string content_hash;  // e.g. "sha256:..." of the weights; empty if unknown
};

// An array or opaque byte string kept with a run: traces, attention captures, masks, per-head scores.
// Known dtypes ("F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", the safetensors
// names) are checked: bytes.size() == product(shape) * element size, little-endian, C order. Any other
// dtype string (e.g. "json", "bytes") is stored as opaque bytes and not exported as .npy.
struct BlobRecord {
    std::string name;  // unique within the run, e.g. "attn_l0_h3" or "trace/snapkv"
    std::string dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
};

struct RunRecord {
    int64_t id = 0;               // set by loadRun/listRuns; ignored by saveRun
    std::string name;             // user-facing label (renameRun); may be empty
    std::string spec_json;        // the full run spec as JSON text (stored verbatim)
    std::string strategy;         // strategy spec string, e.g. "snapkv:budget=1024,window=32"
    std::string status;           // e.g. "ok", "failed", "cancelled"
    int64_t started_unix_ms = 0;  // 0 = unknown
    int64_t ended_unix_ms = 0;    // 0 = unknown / not ended
    std::string device;           // e.g. "cpu", "cuda:0 (NVIDIA H200)"
    std::string versions_json;    // attnlab, LibTorch, plugin versions as JSON text (stored verbatim)
    // saveRun: a model with id > 0 must exist in the session; otherwise a non-empty path is looked up by
    // (path, content_hash) and added if missing; an empty path stores no model. loadRun fills it in.
    ModelRecord model;
    std::vector<int32_t> prompt_ids;
    std::vector<int32_t> output_ids;
    std::string output_text;
    // NaN round-trips (stored as NULL), so do +-inf; -0.0 reads back as 0.0 (SQLite stores integral
    // REALs as integers).
    std::map<std::string, double> metrics;
    std::vector<BlobRecord> blobs;  // loadRun returns them in the order saved
    std::vector<std::string> tags;  // a set: loadRun returns them sorted, without duplicates
    std::string note;
};

// One row of listRuns: everything except outputs and blob bytes.
struct RunSummary {
    int64_t id = 0;
    std::string name;
    std::string strategy;
    std::string status;
    int64_t started_unix_ms = 0;
    int64_t ended_unix_ms = 0;
    std::string device;
    ModelRecord model;
    std::map<std::string, double> metrics;
    std::vector<std::string> tags;
    std::string note;
    int64_t blob_count = 0;
};

// Every set field must match; an empty filter lists all runs, ordered by id.
struct RunFilter {
    std::optional<std::string> status;  // exact
    std::string strategy_contains;      // substring of the strategy spec (case-sensitive)
    std::optional<std::string> tag;     // has this tag
    std::optional<int64_t> model_id;
    std::string model_path_contains;  // substring of the model path
};

struct ArtifactRecord {
    int64_t id = 0;
    int64_t run_id = 0;  // 0 = an export of several runs / the whole session
    std::string path;
    std::string format;           // "jsonl", "csv", "npy", "png", ...
    int64_t created_unix_ms = 0;  // 0 on add = now
};

struct SessionOpenOptions {
    bool create_if_missing = false;
    // Never writes to the session: no migration (an older file is refused with a message), no saves.
    // Like any SQLite reader of a WAL file it may leave empty -wal/-shm files beside a valid session.
    // A file on a read-only medium opened without this flag is also read-only (isReadOnly()).
    bool read_only = false;
    bool check_integrity = true;  // PRAGMA quick_check before the file is opened for writing
    int busy_timeout_ms = 5000;
    std::string vfs_name;  // SQLite VFS to use; empty = default. Tests register fault-injecting shims.
};

class SessionStore {
public:
    // Creates a new session file; fails if `path` exists. The file appears atomically (it is built under
    // a temporary name and linked into place), so a crash never leaves a half-created session (at most
    // a stray `<path>.creating-*` file).
    static Result<SessionStore> create(const std::string& path, SessionOpenOptions options = {});
    // Opens an existing session (or creates it with options.create_if_missing): validates, migrates an
    // older schema after writing `<path>.v<N>.bak`, switches to WAL and foreign keys.
    static Result<SessionStore> open(const std::string& path, const SessionOpenOptions& options = {});

    SessionStore(SessionStore&& other) noexcept;
    SessionStore& operator=(SessionStore&& other) noexcept;
    SessionStore(const SessionStore&) = delete;
    SessionStore& operator=(const SessionStore&) = delete;
    ~SessionStore();

    const std::string& path() const { return m_path; }
    bool isReadOnly() const { return m_is_read_only; }
    // The backup written when open() migrated the file; empty if no migration happened.
    const std::string& migrationBackupPath() const { return m_migration_backup_path; }
    int migratedFromVersion() const { return m_migrated_from_version; }  // -1 if not migrated

    // Returns the id of the existing model with the same (path, content_hash), or adds it.
    Result<int64_t> addModel(const ModelRecord& model);
    Result<std::vector<ModelRecord>> listModels();

    // Atomic: all rows of the run or none. Returns the new run id (ids are never reused).
    Result<int64_t> saveRun(const RunRecord& run);
    Result<std::vector<RunSummary>> listRuns(const RunFilter& filter = {});
    // Exactly what was saved (blob bytes identical, same metrics), plus id/model id. With
    // include_blob_bytes false, blobs carry name/dtype/shape only (use loadBlob for the bytes).
    Result<RunRecord> loadRun(int64_t run_id, bool include_blob_bytes = true);
    Result<BlobRecord> loadBlob(int64_t run_id, const std::string& name);
    Result<std::vector<int64_t>> runIds();

    Status renameRun(int64_t run_id, const std::string& name);
    Status tagRun(int64_t run_id, const std::string& tag);    // no-op if already tagged
    Status untagRun(int64_t run_id, const std::string& tag);  // no-op if not tagged
    Status setNote(int64_t run_id, const std::string& note);
    Status deleteRun(int64_t run_id);  // removes its outputs, metrics, blobs, tags, artifact records

    Result<int64_t> addArtifact(const ArtifactRecord& artifact);
    // run_id nullopt: all artifacts; 0: the session-wide ones; > 0: that run's.
    Result<std::vector<ArtifactRecord>> listArtifacts(std::optional<int64_t> run_id = std::nullopt);

    // Rewrites the file compactly (needs free space of about the file's size) and truncates the WAL.
    Status vacuum();
    // Full PRAGMA integrity_check, foreign_key_check, every run complete (outputs, metric and blob rows
    // match the counts recorded with the run) and, if asked, every blob's checksum.
    Status verify(bool check_blob_checksums = true);

private:
    SessionStore() = default;
    static Result<SessionStore> openValidated(const std::string& path, const SessionOpenOptions& options);
    Status failStatus(const std::string& what) const;
    Status requireWritable(const std::string& what) const;
    Status requireRun(int64_t run_id, const std::string& what);

    sqlite3* m_db = nullptr;
    std::string m_path;
    std::string m_migration_backup_path;
    int m_migrated_from_version = -1;
    bool m_is_read_only = false;
};

// "2024-05-01T12:34:56.789Z"; empty for 0.
std::string isoUtcFromUnixMs(int64_t unix_ms);
int64_t nowUnixMs();
// Element size of a known blob dtype name, 0 for others.
size_t blobDtypeSize(const std::string& dtype);

}  // namespace attnlab
