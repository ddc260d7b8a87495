// Session store on the SQLite C API. See session_store.h for the contracts.
#include "core/session/session_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <utility>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "session blobs are stored little-endian as in memory");

namespace attnlab {

namespace {

using Json = nlohmann::json;

constexpr int kHeaderBytes = 100;
constexpr char kSqliteMagic[] = "SQLite format 3";  // 16 bytes with its NUL
constexpr int kZlibLevel = 1;                       // captures are large; speed over ratio

enum class BlobCodec : int { Raw = 0, Zlib = 1 };

// ---- version 1 schema --------------------------------------------------------------------------
// runs.output_count / metric_count / blob_count record how many rows the run owns in each table, so a
// reader (verify(), the crash tests) can tell a complete run from a partial one without trusting
// transactions alone.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE models(
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    architecture TEXT NOT NULL DEFAULT '',
    content_hash TEXT NOT NULL DEFAULT '',
    added_unix_ms INTEGER NOT NULL,
    UNIQUE(path, content_hash));
CREATE TABLE runs(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL DEFAULT '',
    model_id INTEGER REFERENCES models(id),
    spec_json TEXT NOT NULL,
    strategy TEXT NOT NULL,
    status TEXT NOT NULL,
    started_unix_ms INTEGER NOT NULL,
    ended_unix_ms INTEGER NOT NULL,
    device TEXT NOT NULL,
    versions_json TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    output_count INTEGER NOT NULL,
    metric_count INTEGER NOT NULL,
    blob_count INTEGER NOT NULL,
    saved_unix_ms INTEGER NOT NULL);
CREATE INDEX runs_by_model ON runs(model_id);
CREATE TABLE outputs(
    run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    prompt_ids BLOB NOT NULL,
    output_ids BLOB NOT NULL,
    output_text TEXT NOT NULL);
CREATE TABLE metrics(
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value REAL,
    PRIMARY KEY(run_id, name)) WITHOUT ROWID;
CREATE TABLE blobs(
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    header_json TEXT NOT NULL,
    codec INTEGER NOT NULL,
    raw_bytes INTEGER NOT NULL,
    crc32 INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY(run_id, name));
CREATE TABLE tags(
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY(run_id, tag)) WITHOUT ROWID;
CREATE INDEX tags_by_tag ON tags(tag);
CREATE TABLE artifacts(
    id INTEGER PRIMARY KEY,
    run_id INTEGER REFERENCES runs(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    format TEXT NOT NULL,
    created_unix_ms INTEGER NOT NULL);
CREATE INDEX artifacts_by_run ON artifacts(run_id);
)sql";

const char* const kRequiredTables[] = {"models", "runs", "outputs", "metrics", "blobs", "tags", "artifacts"};

// ---- migrations ---------------------------------------------------------------------------------
// Version 0 (pre-release) had one table:
//   runs(id INTEGER PRIMARY KEY, spec TEXT NOT NULL, strategy TEXT NOT NULL, status TEXT NOT NULL,
//        started TEXT, ended TEXT, device TEXT, output_text TEXT, metrics_json TEXT, note TEXT)
// with ISO 8601 timestamps and the metrics as one JSON object. Each migration takes a file from
// `from_version` to from_version + 1 inside the caller's transaction; the caller sets user_version.
constexpr const char* kIsoToUnixMs = "coalesce(CAST(round((julianday(%s) - 2440587.5) * 86400000.0) AS INTEGER), 0)";

std::string isoToMsSql(const char* column) {
    char buffer[256];
    std::snprintf(buffer, sizeof(buffer), kIsoToUnixMs, column);
    return buffer;
}

int execSql(sqlite3* db, const std::string& sql) { return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr); }

std::string describeSqlite(sqlite3* db, int rc);

Status migrate0To1(sqlite3* db) {
    const std::string now = std::to_string(nowUnixMs());
    const std::string sql = std::string("ALTER TABLE runs RENAME TO runs_v0;") + kSchemaV1 +
                            "INSERT INTO runs(id, name, model_id, spec_json, strategy, status, started_unix_ms,"
                            " ended_unix_ms, device, versions_json, note, output_count, metric_count, blob_count,"
                            " saved_unix_ms)"
                            " SELECT id, '', NULL, spec, strategy, status, " +
                            isoToMsSql("started") + ", " + isoToMsSql("ended") +
                            ", coalesce(device, ''), '{}', coalesce(note, ''), 1, 0, 0, " + now +
                            " FROM runs_v0;"
                            "INSERT INTO outputs(run_id, prompt_ids, output_ids, output_text)"
                            " SELECT id, x'', x'', coalesce(output_text, '') FROM runs_v0;"
                            "INSERT OR REPLACE INTO metrics(run_id, name, value)"
                            " SELECT r.id, j.key, CASE WHEN j.type IN ('integer', 'real') THEN j.value END"
                            " FROM runs_v0 r, json_each(coalesce(nullif(r.metrics_json, ''), '{}')) j;"
                            "UPDATE runs SET metric_count = (SELECT count(*) FROM metrics WHERE run_id = runs.id);"
                            "DROP TABLE runs_v0;";
    int rc = execSql(db, sql);
    if (rc != SQLITE_OK) return Status::fail(describeSqlite(db, rc));
    return Status::ok();
}

struct Migration {
    int from_version;
    const char* description;
    Status (*apply)(sqlite3* db);
};

const Migration kMigrations[] = {
    {0, "metrics JSON column to a metrics table, ISO timestamps to unix ms, new tables", migrate0To1},
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSessionSchemaVersion,
              "every schema version below the current one needs a migration");

// ---- small helpers ------------------------------------------------------------------------------

std::string describeSqlite(sqlite3* db, int rc) {
    int extended = db != nullptr ? sqlite3_extended_errcode(db) : rc;
    if (extended == SQLITE_OK) extended = rc;
    const int primary = extended & 0xff;
    const int system_errno = db != nullptr ? sqlite3_system_errno(db) : 0;
    std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (primary == SQLITE_FULL || system_errno == ENOSPC || system_errno == EDQUOT) {
        return "the disk is full: no space left for the session file or its write-ahead log (" + detail + ")";
    }
    switch (primary) {
        case SQLITE_READONLY: return "the session file or its folder is read-only (" + detail + ")";
        case SQLITE_IOERR:
            return "an I/O error occurred while accessing the file (" + detail + ", SQLite code " +
                   std::to_string(extended) +
                   (system_errno != 0 ? std::string(", ") + std::strerror(system_errno) : "") + ")";
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return "the session is locked by another process that is writing to it; try again (" + detail + ")";
        case SQLITE_CORRUPT: return "the session file is damaged (" + detail + ")";
        case SQLITE_NOTADB: return "the file is not an SQLite database (" + detail + ")";
        case SQLITE_CANTOPEN:
            return "the file cannot be opened (" + detail +
                   (system_errno != 0 ? std::string(": ") + std::strerror(system_errno) : "") + ")";
        case SQLITE_PERM: return "permission denied (" + detail + ")";
        case SQLITE_NOMEM: return "out of memory (" + detail + ")";
        case SQLITE_TOOBIG: return "a value is larger than SQLite allows (" + detail + ")";
        default: return detail;
    }
}

const uint8_t kEmptyBytes[1] = {0};

// A prepared statement; finalized on destruction.
class Statement {
public:
    Statement(sqlite3* db, const std::string& sql) : m_db(db) {
        m_rc = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &m_stmt, nullptr);
    }
    ~Statement() { sqlite3_finalize(m_stmt); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    bool isPrepared() const { return m_rc == SQLITE_OK && m_stmt != nullptr; }
    int prepareCode() const { return m_rc; }

    void bindInt(int index, int64_t value) { sqlite3_bind_int64(m_stmt, index, value); }
    void bindDouble(int index, double value) {
        // SQLite stores NaN as NULL; loadRun maps NULL back to NaN.
        if (std::isnan(value)) {
            sqlite3_bind_null(m_stmt, index);
        } else {
            sqlite3_bind_double(m_stmt, index, value);
        }
    }
    void bindNull(int index) { sqlite3_bind_null(m_stmt, index); }
    void bindText(int index, const std::string& text) {
        sqlite3_bind_text64(m_stmt, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    }
    // The bytes must outlive step(). A zero-length blob needs a non-null pointer or SQLite stores NULL.
    void bindBlob(int index, const void* data, size_t bytes) {
        sqlite3_bind_blob64(m_stmt, index, bytes != 0 ? data : kEmptyBytes, bytes, SQLITE_STATIC);
    }
    int step() { return sqlite3_step(m_stmt); }
    void reset() {
        sqlite3_reset(m_stmt);
        sqlite3_clear_bindings(m_stmt);
    }

    bool isNull(int column) const { return sqlite3_column_type(m_stmt, column) == SQLITE_NULL; }
    int64_t columnInt(int column) const { return sqlite3_column_int64(m_stmt, column); }
    double columnDouble(int column) const {
        return isNull(column) ? std::nan("") : sqlite3_column_double(m_stmt, column);
    }
    std::string columnText(int column) const {
        const unsigned char* text = sqlite3_column_text(m_stmt, column);
        const int bytes = sqlite3_column_bytes(m_stmt, column);
        return text != nullptr ? std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(bytes))
                               : std::string();
    }
    std::vector<uint8_t> columnBlob(int column) const {
        const auto* data = static_cast<const uint8_t*>(sqlite3_column_blob(m_stmt, column));
        const int bytes = sqlite3_column_bytes(m_stmt, column);
        return data != nullptr ? std::vector<uint8_t>(data, data + bytes) : std::vector<uint8_t>();
    }
    int64_t columnBytes(int column) const { return sqlite3_column_bytes(m_stmt, column); }
    const void* columnBlobPointer(int column) const { return sqlite3_column_blob(m_stmt, column); }

private:
    sqlite3* m_db = nullptr;
    sqlite3_stmt* m_stmt = nullptr;
    int m_rc = SQLITE_OK;
};

// Rolls the transaction back unless commit() succeeded.
class Transaction {
public:
    explicit Transaction(sqlite3* db) : m_db(db) {}
    ~Transaction() {
        if (m_is_open && !sqlite3_get_autocommit(m_db)) execSql(m_db, "ROLLBACK");
    }
    int begin(const char* sql) {
        const int rc = execSql(m_db, sql);
        m_is_open = rc == SQLITE_OK;
        return rc;
    }
    int commit() {
        const int rc = execSql(m_db, "COMMIT");
        if (rc == SQLITE_OK) m_is_open = false;
        return rc;
    }

private:
    sqlite3* m_db;
    bool m_is_open = false;
};

bool fileExists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

int64_t fileSize(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

std::string directoryOf(const std::string& path) {
    const size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

void syncDirectory(const std::string& path) {
    const int fd = ::open(directoryOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

// file: URI for sqlite3_open_v2 with SQLITE_OPEN_URI; '%', '?', '#' and non-printables escaped.
std::string fileUri(const std::string& path, const std::string& query) {
    std::string uri = "file:";
    if (!path.empty() && path[0] == '/' && path.size() > 1 && path[1] == '/') uri += "//";  // keep "//x" a path
    static const char kHex[] = "0123456789ABCDEF";
    for (unsigned char c : path) {
        if (c == '%' || c == '?' || c == '#' || c <= 0x20 || c >= 0x7f) {
            uri += '%';
            uri += kHex[c >> 4];
            uri += kHex[c & 15];
        } else {
            uri += static_cast<char>(c);
        }
    }
    if (!query.empty()) uri += "?" + query;
    return uri;
}

uint32_t readBigEndian(const unsigned char* bytes, int count) {
    uint32_t value = 0;
    for (int i = 0; i < count; ++i) value = (value << 8) | bytes[i];
    return value;
}

std::string hex32(uint32_t value) {
    char buffer[16];
    std::snprintf(buffer, sizeof(buffer), "0x%08X", value);
    return buffer;
}

constexpr const char* kUntouched = " The file was not modified.";

// Checks the 100-byte database header ourselves, before SQLite sees the file.
Status checkHeader(const std::string& path, int64_t size_bytes, bool has_nonempty_wal) {
    if (size_bytes == 0) {
        return Status::fail(path + ": the file is empty (0 bytes); it is not an attnlab session." + kUntouched);
    }
    unsigned char header[kHeaderBytes] = {};
    FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) return Status::fail(path + ": cannot read the file: " + std::strerror(errno));
    const size_t got = std::fread(header, 1, kHeaderBytes, file);
    std::fclose(file);
    bool is_all_zero = true;
    for (size_t i = 0; i < got; ++i) is_all_zero = is_all_zero && header[i] == 0;
    if (got >= 16 && std::memcmp(header, kSqliteMagic, 16) != 0) {
        if (is_all_zero) {
            return Status::fail(path +
                                ": the file starts with zero bytes; it is not an SQLite database (zeroed or "
                                "damaged?), so it is not an attnlab session." +
                                kUntouched);
        }
        return Status::fail(path +
                            ": not an SQLite database (no 'SQLite format 3' header), so not an attnlab "
                            "session." +
                            kUntouched);
    }
    if (got < static_cast<size_t>(kHeaderBytes)) {
        return Status::fail(path + ": the file is too short (" + std::to_string(size_bytes) +
                            " bytes) to be an SQLite database; it looks truncated." + kUntouched);
    }
    uint32_t page_bytes = readBigEndian(header + 16, 2);
    if (page_bytes == 1) page_bytes = 65536;
    if (page_bytes < 512 || page_bytes > 65536 || (page_bytes & (page_bytes - 1)) != 0) {
        return Status::fail(path + ": the SQLite header is damaged (page size " + std::to_string(page_bytes) + ")." +
                            kUntouched);
    }
    // The in-header page count is valid when the change counter matches "version-valid-for". Pages that
    // only a write-ahead log holds do not count, so skip the check when a non-empty -wal exists.
    const uint32_t change_counter = readBigEndian(header + 24, 4);
    const uint32_t valid_for = readBigEndian(header + 92, 4);
    const uint64_t page_count = readBigEndian(header + 28, 4);
    if (!has_nonempty_wal && change_counter == valid_for && page_count > 0) {
        const uint64_t expected_bytes = page_count * page_bytes;
        if (expected_bytes > static_cast<uint64_t>(size_bytes)) {
            return Status::fail(path + ": the file is truncated: its header says " + std::to_string(page_count) +
                                " pages of " + std::to_string(page_bytes) + " bytes (" +
                                std::to_string(expected_bytes) + " bytes) but the file has " +
                                std::to_string(size_bytes) + " bytes." + kUntouched);
        }
    }
    if (static_cast<uint64_t>(size_bytes) % page_bytes != 0 && !has_nonempty_wal) {
        return Status::fail(path + ": the file is truncated or damaged: " + std::to_string(size_bytes) +
                            " bytes is not a whole number of " + std::to_string(page_bytes) + "-byte pages." +
                            kUntouched);
    }
    return Status::ok();
}

Result<int64_t> queryInt(sqlite3* db, const std::string& sql) {
    Statement stmt(db, sql);
    if (!stmt.isPrepared()) return Status::fail(describeSqlite(db, stmt.prepareCode()));
    const int rc = stmt.step();
    if (rc != SQLITE_ROW) return Status::fail(describeSqlite(db, rc));
    return stmt.columnInt(0);
}

// Rows of a PRAGMA returning text ("ok" for checks that pass); at most `limit` rows.
Result<std::vector<std::string>> queryTexts(sqlite3* db, const std::string& sql, size_t limit) {
    Statement stmt(db, sql);
    if (!stmt.isPrepared()) return Status::fail(describeSqlite(db, stmt.prepareCode()));
    std::vector<std::string> rows;
    int rc = SQLITE_OK;
    while ((rc = stmt.step()) == SQLITE_ROW) {
        if (rows.size() < limit) rows.push_back(stmt.columnText(0));
    }
    if (rc != SQLITE_DONE) return Status::fail(describeSqlite(db, rc));
    return rows;
}

std::string joinStrings(const std::vector<std::string>& parts, const std::string& separator) {
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) out += (i ? separator : "") + parts[i];
    return out;
}

Result<sqlite3*> openConnection(const std::string& path, const std::string& query, int flags,
                                const SessionOpenOptions& options) {
    sqlite3* db = nullptr;
    const std::string uri = fileUri(path, query);
    const int rc = sqlite3_open_v2(uri.c_str(), &db, flags | SQLITE_OPEN_URI,
                                   options.vfs_name.empty() ? nullptr : options.vfs_name.c_str());
    if (rc != SQLITE_OK) {
        const std::string message = describeSqlite(db, rc);
        sqlite3_close_v2(db);
        return Status::fail(message);
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, options.busy_timeout_ms);
    return db;
}

struct ConnectionCloser {
    sqlite3* db;
    ~ConnectionCloser() { sqlite3_close_v2(db); }
};

// Read-only validation. `is_immutable` opens with ?immutable=1, which creates no side files; it is used
// only when no -wal/-shm exists (nobody has the file open in WAL mode). Returns the schema version.
Result<int> validateReadOnly(const std::string& path, const SessionOpenOptions& options, bool is_immutable) {
    Result<sqlite3*> opened =
        openConnection(path, is_immutable ? "mode=ro&immutable=1" : "mode=ro", SQLITE_OPEN_READONLY, options);
    if (!opened) return Status::fail(path + ": cannot open the session file: " + opened.error());
    ConnectionCloser closer{*opened};
    sqlite3* db = *opened;

    auto refuse = [&](const std::string& what) { return Status::fail(path + ": " + what + kUntouched); };
    Result<int64_t> application_id = queryInt(db, "PRAGMA application_id");
    if (!application_id) return refuse("cannot read it as an SQLite database: " + application_id.error() + ".");
    Result<int64_t> version = queryInt(db, "PRAGMA user_version");
    if (!version) return refuse("cannot read its schema version: " + version.error() + ".");
    Result<std::vector<std::string>> tables =
        queryTexts(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", 8);
    if (!tables) return refuse("cannot read its list of tables: " + tables.error() + ".");

    if (static_cast<uint32_t>(*application_id) != static_cast<uint32_t>(kSessionApplicationId)) {
        std::string what = "not an attnlab session (SQLite application_id is " +
                           hex32(static_cast<uint32_t>(*application_id)) + ", attnlab sessions have " +
                           hex32(kSessionApplicationId) + ")";
        if (!tables->empty())
            what += "; it is an SQLite database of another program, with tables " + joinStrings(*tables, ", ");
        return refuse(what + ".");
    }
    if (*version > kSessionSchemaVersion) {
        return refuse("it was written by a newer attnlab (session schema version " + std::to_string(*version) +
                      "; this build reads versions up to " + std::to_string(kSessionSchemaVersion) +
                      "). Open it with a newer attnlab.");
    }
    if (*version < 0) return refuse("its schema version " + std::to_string(*version) + " is invalid.");
    if (options.check_integrity) {
        Result<std::vector<std::string>> check = queryTexts(db, "PRAGMA quick_check", 5);
        if (!check) return refuse("the integrity check failed: " + check.error() + ".");
        if (check->size() != 1 || (*check)[0] != "ok") {
            return refuse("the file is damaged (integrity check: " + joinStrings(*check, "; ") +
                          "). Restore it from a backup.");
        }
    }
    return static_cast<int>(*version);
}

// Copies `from` to a new file `to` (O_EXCL) and fsyncs it.
Status copyFileExclusive(const std::string& from, const std::string& to) {
    const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) return Status::fail("cannot read " + from + ": " + std::strerror(errno));
    const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        const int err = errno;
        ::close(in);
        return Status::fail("cannot create " + to + ": " + std::strerror(err));
    }
    std::vector<char> buffer(1 << 20);
    Status status = Status::ok();
    while (status.isOk()) {
        const ssize_t got = ::read(in, buffer.data(), buffer.size());
        if (got == 0) break;
        if (got < 0) {
            if (errno == EINTR) continue;
            status = Status::fail("cannot read " + from + ": " + std::strerror(errno));
            break;
        }
        for (ssize_t done = 0; done < got;) {
            const ssize_t wrote = ::write(out, buffer.data() + done, static_cast<size_t>(got - done));
            if (wrote < 0) {
                if (errno == EINTR) continue;
                status = Status::fail("cannot write " + to + ": " +
                                      (errno == ENOSPC ? std::string("the disk is full") : std::strerror(errno)));
                break;
            }
            done += wrote;
        }
    }
    if (status.isOk() && ::fsync(out) != 0) status = Status::fail("cannot write " + to + ": " + std::strerror(errno));
    ::close(out);
    ::close(in);
    if (!status.isOk()) {
        ::unlink(to.c_str());
    } else {
        syncDirectory(to);
    }
    return status;
}

// Takes the file from `from_version` to the current schema: backup, then one transaction.
Status migrate(sqlite3* db, const std::string& path, int from_version, std::string* backup_path) {
    // Fold a write-ahead log into the main file so the byte copy below is the whole database.
    Result<std::vector<std::string>> mode = queryTexts(db, "PRAGMA journal_mode", 1);
    if (mode && !mode->empty() && (*mode)[0] == "wal") {
        const int rc = execSql(db, "PRAGMA wal_checkpoint(TRUNCATE)");
        if (rc != SQLITE_OK) {
            return Status::fail(path + ": cannot prepare the migration: " + describeSqlite(db, rc));
        }
    }
    Transaction transaction(db);
    int rc = transaction.begin("BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) return Status::fail(path + ": cannot start the migration: " + describeSqlite(db, rc));
    Result<int64_t> version = queryInt(db, "PRAGMA user_version");
    if (!version) return Status::fail(path + ": cannot read the schema version: " + version.error());
    if (*version == kSessionSchemaVersion) return Status::ok();  // another process migrated it meanwhile
    if (*version != from_version) {
        return Status::fail(path + ": the schema version changed while opening (" + std::to_string(from_version) +
                            " -> " + std::to_string(*version) + "); open it again");
    }

    // The write lock is held, so the main file cannot change under the copy.
    const std::string base = path + ".v" + std::to_string(from_version) + ".bak";
    std::string backup = base;
    for (int attempt = 1; fileExists(backup); ++attempt) backup = base + "." + std::to_string(attempt);
    Status copied = copyFileExclusive(path, backup);
    if (!copied.isOk()) {
        return Status::fail(path + ": not migrated from schema version " + std::to_string(from_version) +
                            ", because the backup copy failed: " + copied.error() + "." + kUntouched);
    }
    *backup_path = backup;

    for (int v = from_version; v < kSessionSchemaVersion; ++v) {
        Status applied = kMigrations[v].apply(db);
        if (!applied.isOk()) {
            return Status::fail(path + ": migration of the session from schema version " + std::to_string(v) + " to " +
                                std::to_string(v + 1) + " (" + kMigrations[v].description +
                                ") failed: " + applied.error() + ". The file was left at version " +
                                std::to_string(from_version) + "; a copy is at " + backup + ".");
        }
    }
    rc = execSql(db, "PRAGMA user_version = " + std::to_string(kSessionSchemaVersion));
    if (rc == SQLITE_OK) {
        Result<std::vector<std::string>> fk_problems = queryTexts(db, "PRAGMA foreign_key_check", 3);
        if (!fk_problems) return Status::fail(path + ": migration check failed: " + fk_problems.error());
        if (!fk_problems->empty()) {
            return Status::fail(path + ": migration produced dangling references in table " +
                                joinStrings(*fk_problems, ", ") + "; the file was left at version " +
                                std::to_string(from_version) + ".");
        }
        rc = transaction.commit();
    }
    if (rc != SQLITE_OK) {
        return Status::fail(path + ": the migrated session could not be written: " + describeSqlite(db, rc) +
                            ". The file was left at version " + std::to_string(from_version) + "; a copy is at " +
                            backup + ".");
    }
    return Status::ok();
}

// Builds a fresh session under a temporary name and links it into place without overwriting.
// Returns false if `path` appeared meanwhile (another process created it).
Result<bool> createSessionFile(const std::string& path, const SessionOpenOptions& options) {
    std::random_device random;
    const std::string temp = path + ".creating-" + std::to_string(::getpid()) + "-" + std::to_string(random());
    auto removeTemp = [&]() {
        ::unlink(temp.c_str());
        ::unlink((temp + "-journal").c_str());
    };
    {
        Result<sqlite3*> opened = openConnection(temp, "", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, options);
        if (!opened) {
            removeTemp();
            return Status::fail(path + ": cannot create the session file in " + directoryOf(path) + ": " +
                                opened.error());
        }
        ConnectionCloser closer{*opened};
        sqlite3* db = *opened;
        const std::string sql = "PRAGMA application_id = " + std::to_string(kSessionApplicationId) + "; BEGIN; " +
                                kSchemaV1 + "PRAGMA user_version = " + std::to_string(kSessionSchemaVersion) +
                                "; COMMIT;";
        const int rc = execSql(db, sql);
        if (rc != SQLITE_OK) {
            const std::string message = describeSqlite(db, rc);
            execSql(db, "ROLLBACK");
            sqlite3_close_v2(db);
            closer.db = nullptr;
            removeTemp();
            return Status::fail(path + ": cannot create the session file: " + message);
        }
    }
    bool is_created = false;
    if (::link(temp.c_str(), path.c_str()) == 0) {
        is_created = true;
    } else if (errno != EEXIST) {
        // File systems without hard links: rename without replacing.
        if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) {
            is_created = true;
        } else if (errno != EEXIST) {
            const int err = errno;
            removeTemp();
            return Status::fail(path + ": cannot create the session file: " + std::strerror(err));
        }
    }
    removeTemp();
    if (is_created) syncDirectory(path);
    return is_created;
}

Result<std::vector<int32_t>> idsFromBlob(const std::vector<uint8_t>& bytes) {
    if (bytes.size() % sizeof(int32_t) != 0) return Result<std::vector<int32_t>>::fail("token id blob damaged");
    std::vector<int32_t> ids(bytes.size() / sizeof(int32_t));
    if (!ids.empty()) std::memcpy(ids.data(), bytes.data(), bytes.size());
    return ids;
}

uint32_t checksum(const uint8_t* data, size_t bytes) {
    return static_cast<uint32_t>(crc32_z(crc32_z(0L, Z_NULL, 0), bytes ? data : kEmptyBytes, bytes));
}

std::string blobHeaderJson(const BlobRecord& blob) {
    Json header;
    header["dtype"] = blob.dtype;
    header["shape"] = blob.shape;
    return header.dump();
}

// A blob ready to insert: compressed when that saves space.
struct PackedBlob {
    std::string header_json;
    BlobCodec codec = BlobCodec::Raw;
    uint32_t crc32 = 0;
    std::vector<uint8_t> compressed;  // empty for Raw (the record's bytes are bound directly)
};

Status packBlob(const BlobRecord& blob, PackedBlob* packed) {
    packed->header_json = blobHeaderJson(blob);
    packed->crc32 = checksum(blob.bytes.data(), blob.bytes.size());
    if (blob.bytes.size() < 64) return Status::ok();
    uLongf bound = compressBound(static_cast<uLong>(blob.bytes.size()));
    packed->compressed.resize(bound);
    const int rc = compress2(packed->compressed.data(), &bound, blob.bytes.data(),
                             static_cast<uLong>(blob.bytes.size()), kZlibLevel);
    if (rc != Z_OK)
        return Status::fail("cannot compress blob '" + blob.name + "' (zlib error " + std::to_string(rc) + ")");
    if (bound < blob.bytes.size()) {
        packed->compressed.resize(bound);
        packed->codec = BlobCodec::Zlib;
    } else {
        packed->compressed.clear();
        packed->compressed.shrink_to_fit();
    }
    return Status::ok();
}

Status unpackBlob(int64_t run_id, const std::string& name, int64_t codec, int64_t raw_bytes, uint32_t crc,
                  const void* data, int64_t stored_bytes, std::vector<uint8_t>* out) {
    const std::string where = "blob '" + name + "' of run " + std::to_string(run_id);
    if (raw_bytes < 0) return Status::fail(where + " is damaged (negative size)");
    // zlib cannot expand data by more than about 1032:1; a larger claim is damage, not a reason to allocate.
    if (codec == static_cast<int>(BlobCodec::Zlib) && raw_bytes / 1100 > stored_bytes + 1024) {
        return Status::fail(where + " is damaged (its size does not match its compressed data)");
    }
    if (codec == static_cast<int>(BlobCodec::Raw) && stored_bytes != raw_bytes) {
        return Status::fail(where + " is damaged (size mismatch)");
    }
    if (codec != static_cast<int>(BlobCodec::Raw) && codec != static_cast<int>(BlobCodec::Zlib)) {
        return Status::fail(where + " uses codec " + std::to_string(codec) + ", unknown to this attnlab");
    }
    out->assign(static_cast<size_t>(raw_bytes), 0);
    if (codec == static_cast<int>(BlobCodec::Raw)) {
        if (raw_bytes > 0) std::memcpy(out->data(), data, static_cast<size_t>(raw_bytes));
    } else {
        uLongf got = static_cast<uLongf>(raw_bytes);
        const int rc = uncompress(out->data(), &got, static_cast<const Bytef*>(data), static_cast<uLong>(stored_bytes));
        if (rc != Z_OK || got != static_cast<uLongf>(raw_bytes)) {
            return Status::fail(where + " is damaged (cannot decompress it, zlib error " + std::to_string(rc) + ")");
        }
    }
    if (checksum(out->data(), out->size()) != crc) return Status::fail(where + " is damaged (checksum mismatch)");
    return Status::ok();
}

Status parseBlobHeader(int64_t run_id, const std::string& name, const std::string& text, BlobRecord* blob) {
    Json header = Json::parse(text, nullptr, false);
    if (header.is_discarded() || !header.is_object() || !header.contains("dtype") || !header["dtype"].is_string() ||
        !header.contains("shape") || !header["shape"].is_array()) {
        return Status::fail("the header of blob '" + name + "' of run " + std::to_string(run_id) + " is damaged");
    }
    blob->dtype = header["dtype"].get<std::string>();
    blob->shape.clear();
    for (const Json& dim : header["shape"]) {
        if (!dim.is_number_integer()) {
            return Status::fail("the shape of blob '" + name + "' of run " + std::to_string(run_id) + " is damaged");
        }
        blob->shape.push_back(dim.get<int64_t>());
    }
    return Status::ok();
}

Status validateRecord(const RunRecord& run) {
    std::set<std::string> names;
    for (const BlobRecord& blob : run.blobs) {
        if (blob.name.empty()) return Status::fail("a blob has an empty name");
        if (!names.insert(blob.name).second) return Status::fail("two blobs are named '" + blob.name + "'");
        if (blob.dtype.empty()) return Status::fail("blob '" + blob.name + "' has no dtype");
        for (char c : blob.dtype) {
            if (c <= ' ' || c > '~' || c == '"' || c == '\\') {
                return Status::fail("blob '" + blob.name + "' has a dtype that is not a plain ASCII word");
            }
        }
        int64_t numel = 1;
        bool is_overflow = false;
        for (int64_t dim : blob.shape) {
            if (dim < 0) return Status::fail("blob '" + blob.name + "' has a negative dimension");
            is_overflow = is_overflow || __builtin_mul_overflow(numel, dim, &numel);
        }
        const size_t element_bytes = blobDtypeSize(blob.dtype);
        if (element_bytes != 0) {
            if (is_overflow || static_cast<uint64_t>(numel) * element_bytes != blob.bytes.size()) {
                return Status::fail("blob '" + blob.name + "' has " + std::to_string(blob.bytes.size()) +
                                    " bytes, which does not match its dtype " + blob.dtype + " and shape");
            }
        }
    }
    for (const auto& metric : run.metrics) {
        if (metric.first.empty()) return Status::fail("a metric has an empty name");
    }
    for (const std::string& tag : run.tags) {
        if (tag.empty()) return Status::fail("a tag is empty");
    }
    return Status::ok();
}

}  // namespace

// ---- public helpers ------------------------------------------------------------------------------

std::string isoUtcFromUnixMs(int64_t unix_ms) {
    if (unix_ms == 0) return {};
    int64_t seconds = unix_ms / 1000;
    int64_t millis = unix_ms % 1000;
    if (millis < 0) {
        millis += 1000;
        seconds -= 1;
    }
    const time_t time = static_cast<time_t>(seconds);
    struct tm parts;
    if (gmtime_r(&time, &parts) == nullptr) return {};
    char buffer[64];
    std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1,
                  parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, static_cast<int>(millis));
    return buffer;
}

int64_t nowUnixMs() {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

size_t blobDtypeSize(const std::string& dtype) {
    static const std::pair<const char*, size_t> kSizes[] = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
        {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1},
    };
    for (const auto& entry : kSizes) {
        if (dtype == entry.first) return entry.second;
    }
    return 0;
}

// ---- open / create ---------------------------------------------------------------------------------

Result<SessionStore> SessionStore::create(const std::string& path, SessionOpenOptions options) {
    if (options.read_only) return Result<SessionStore>::fail(path + ": cannot create a session read-only");
    if (fileExists(path)) {
        return Result<SessionStore>::fail(path + ": already exists; open it instead of creating a new session");
    }
    Result<bool> created = createSessionFile(path, options);
    if (!created) return created.status();
    if (!*created) {
        return Result<SessionStore>::fail(path + ": already exists (created by another process just now)");
    }
    return openValidated(path, options);
}

Result<SessionStore> SessionStore::open(const std::string& path, const SessionOpenOptions& options) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        const int err = errno;
        if (err == ENOENT && options.create_if_missing && !options.read_only) {
            Result<bool> created = createSessionFile(path, options);
            if (!created) return created.status();
        } else if (err == ENOENT) {
            return Result<SessionStore>::fail(path + ": no such session file");
        } else {
            return Result<SessionStore>::fail(path + ": cannot access the session file: " + std::strerror(err));
        }
    }
    return openValidated(path, options);
}

Result<SessionStore> SessionStore::openValidated(const std::string& path, const SessionOpenOptions& options) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        return Result<SessionStore>::fail(path + ": cannot access the session file: " + std::strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) return Result<SessionStore>::fail(path + ": is a folder, not a session file");
    if (!S_ISREG(st.st_mode)) return Result<SessionStore>::fail(path + ": is not a regular file");

    const std::string wal_path = path + "-wal";
    const std::string shm_path = path + "-shm";
    const bool had_side_files = fileExists(wal_path) || fileExists(shm_path);
    Status header = checkHeader(path, static_cast<int64_t>(st.st_size), fileSize(wal_path) > 0);
    if (!header.isOk()) return header;

    Result<int> version = validateReadOnly(path, options, !had_side_files);
    // A writer that started during an immutable check may have changed pages under it: check again
    // through the write-ahead log, which now exists.
    if (!had_side_files && (fileExists(wal_path) || fileExists(shm_path))) {
        version = validateReadOnly(path, options, false);
    }
    if (!version) return version.status();

    SessionStore store;
    store.m_path = path;
    if (options.read_only) {
        if (*version < kSessionSchemaVersion) {
            return Result<SessionStore>::fail(
                path + ": uses session schema version " + std::to_string(*version) + " and must be migrated to " +
                std::to_string(kSessionSchemaVersion) +
                " before it can be read; open it once for writing (a backup copy is written first)");
        }
        Result<sqlite3*> opened = openConnection(path, "mode=ro", SQLITE_OPEN_READONLY, options);
        if (!opened) return Result<SessionStore>::fail(path + ": cannot open the session file: " + opened.error());
        store.m_db = *opened;
        store.m_is_read_only = true;
        execSql(store.m_db, "PRAGMA foreign_keys = ON");
    } else {
        Result<sqlite3*> opened = openConnection(path, "", SQLITE_OPEN_READWRITE, options);
        if (!opened) return Result<SessionStore>::fail(path + ": cannot open the session file: " + opened.error());
        store.m_db = *opened;
        store.m_is_read_only = sqlite3_db_readonly(store.m_db, "main") == 1;
        if (*version < kSessionSchemaVersion) {
            if (store.m_is_read_only) {
                return Result<SessionStore>::fail(path + ": uses the older session schema version " +
                                                  std::to_string(*version) +
                                                  " and cannot be migrated because the file is read-only");
            }
            Status migrated = migrate(store.m_db, path, *version, &store.m_migration_backup_path);
            if (!migrated.isOk()) return migrated;
            if (!store.m_migration_backup_path.empty()) store.m_migrated_from_version = *version;
        }
        if (!store.m_is_read_only) {
            Result<std::vector<std::string>> mode = queryTexts(store.m_db, "PRAGMA journal_mode = WAL", 1);
            if (!mode) return Result<SessionStore>::fail(path + ": cannot switch to WAL mode: " + mode.error());
            const int rc = execSql(store.m_db, "PRAGMA synchronous = FULL");
            if (rc != SQLITE_OK) return Result<SessionStore>::fail(path + ": " + describeSqlite(store.m_db, rc));
        }
        const int rc = execSql(store.m_db, "PRAGMA foreign_keys = ON");
        if (rc != SQLITE_OK) return Result<SessionStore>::fail(path + ": " + describeSqlite(store.m_db, rc));
    }

    Result<std::vector<std::string>> tables =
        queryTexts(store.m_db, "SELECT name FROM sqlite_master WHERE type = 'table'", 1000);
    if (!tables) return Result<SessionStore>::fail(path + ": cannot read the schema: " + tables.error());
    const std::set<std::string> present(tables->begin(), tables->end());
    for (const char* table : kRequiredTables) {
        if (!present.count(table)) {
            return Result<SessionStore>::fail(path + ": the session is missing its '" + std::string(table) +
                                              "' table; the file is damaged");
        }
    }
    return store;
}

SessionStore::SessionStore(SessionStore&& other) noexcept { *this = std::move(other); }

SessionStore& SessionStore::operator=(SessionStore&& other) noexcept {
    if (this != &other) {
        sqlite3_close_v2(m_db);
        m_db = std::exchange(other.m_db, nullptr);
        m_path = std::move(other.m_path);
        m_migration_backup_path = std::move(other.m_migration_backup_path);
        m_migrated_from_version = other.m_migrated_from_version;
        m_is_read_only = other.m_is_read_only;
    }
    return *this;
}

SessionStore::~SessionStore() { sqlite3_close_v2(m_db); }

Status SessionStore::failStatus(const std::string& what) const {
    return Status::fail(m_path + ": " + what + ": " + describeSqlite(m_db, SQLITE_ERROR));
}

Status SessionStore::requireWritable(const std::string& what) const {
    if (m_db == nullptr) return Status::fail("session is closed");
    if (m_is_read_only) return Status::fail(m_path + ": " + what + ": the session is open read-only");
    return Status::ok();
}

Status SessionStore::requireRun(int64_t run_id, const std::string& what) {
    Statement stmt(m_db, "SELECT 1 FROM runs WHERE id = ?");
    if (!stmt.isPrepared()) return failStatus(what);
    stmt.bindInt(1, run_id);
    const int rc = stmt.step();
    if (rc == SQLITE_ROW) return Status::ok();
    if (rc == SQLITE_DONE) return Status::fail(m_path + ": " + what + ": there is no run " + std::to_string(run_id));
    return failStatus(what);
}

// ---- models -----------------------------------------------------------------------------------------

namespace {

// Inside the caller's transaction (or autocommit).
Result<int64_t> findOrAddModel(sqlite3* db, const ModelRecord& model) {
    Statement find(db, "SELECT id FROM models WHERE path = ? AND content_hash = ?");
    if (!find.isPrepared()) return Status::fail(describeSqlite(db, find.prepareCode()));
    find.bindText(1, model.path);
    find.bindText(2, model.content_hash);
    int rc = find.step();
    if (rc == SQLITE_ROW) return find.columnInt(0);
    if (rc != SQLITE_DONE) return Status::fail(describeSqlite(db, rc));
    Statement add(db, "INSERT INTO models(path, architecture, content_hash, added_unix_ms) VALUES(?, ?, ?, ?)");
    if (!add.isPrepared()) return Status::fail(describeSqlite(db, add.prepareCode()));
    add.bindText(1, model.path);
    add.bindText(2, model.architecture);
    add.bindText(3, model.content_hash);
    add.bindInt(4, nowUnixMs());
    rc = add.step();
    if (rc != SQLITE_DONE) return Status::fail(describeSqlite(db, rc));
    return static_cast<int64_t>(sqlite3_last_insert_rowid(db));
}

}  // namespace

Result<int64_t> SessionStore::addModel(const ModelRecord& model) {
    if (Status writable = requireWritable("cannot add the model"); !writable.isOk()) return writable;
    if (model.path.empty()) return Result<int64_t>::fail(m_path + ": cannot add a model without a path");
    Result<int64_t> id = findOrAddModel(m_db, model);
    if (!id) return Result<int64_t>::fail(m_path + ": cannot add model " + model.path + ": " + id.error());
    return id;
}

Result<std::vector<ModelRecord>> SessionStore::listModels() {
    Statement stmt(m_db, "SELECT id, path, architecture, content_hash FROM models ORDER BY id");
    if (!stmt.isPrepared()) return failStatus("cannot list models");
    std::vector<ModelRecord> models;
    int rc = SQLITE_OK;
    while ((rc = stmt.step()) == SQLITE_ROW) {
        models.push_back({stmt.columnInt(0), stmt.columnText(1), stmt.columnText(2), stmt.columnText(3)});
    }
    if (rc != SQLITE_DONE) return failStatus("cannot list models");
    return models;
}

// ---- runs -------------------------------------------------------------------------------------------

Result<int64_t> SessionStore::saveRun(const RunRecord& run) {
    const std::string what = "could not save the run (it is still held in memory)";
    if (Status writable = requireWritable(what); !writable.isOk()) return writable;
    if (Status valid = validateRecord(run); !valid.isOk()) {
        return Result<int64_t>::fail(m_path + ": could not save the run: " + valid.error());
    }
    // Compress before taking the write lock: other processes wait on it.
    std::vector<PackedBlob> packed(run.blobs.size());
    const int64_t max_value_bytes = sqlite3_limit(m_db, SQLITE_LIMIT_LENGTH, -1);
    for (size_t i = 0; i < run.blobs.size(); ++i) {
        if (Status status = packBlob(run.blobs[i], &packed[i]); !status.isOk()) {
            return Result<int64_t>::fail(m_path + ": " + what + ": " + status.error());
        }
        const size_t stored =
            packed[i].codec == BlobCodec::Raw ? run.blobs[i].bytes.size() : packed[i].compressed.size();
        if (stored > static_cast<size_t>(max_value_bytes)) {
            return Result<int64_t>::fail(m_path + ": " + what + ": blob '" + run.blobs[i].name + "' needs " +
                                         std::to_string(stored) + " bytes; one blob may hold at most " +
                                         std::to_string(max_value_bytes) + " bytes, so split it");
        }
    }
    std::vector<std::string> tags(run.tags.begin(), run.tags.end());
    std::sort(tags.begin(), tags.end());
    tags.erase(std::unique(tags.begin(), tags.end()), tags.end());

    auto failed = [&](int rc) { return Result<int64_t>::fail(m_path + ": " + what + ": " + describeSqlite(m_db, rc)); };
    Transaction transaction(m_db);
    int rc = transaction.begin("BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) return failed(rc);

    std::optional<int64_t> model_id;
    if (run.model.id > 0) {
        Statement find(m_db, "SELECT 1 FROM models WHERE id = ?");
        if (!find.isPrepared()) return failed(find.prepareCode());
        find.bindInt(1, run.model.id);
        rc = find.step();
        if (rc == SQLITE_DONE) {
            return Result<int64_t>::fail(m_path + ": " + what + ": there is no model " + std::to_string(run.model.id));
        }
        if (rc != SQLITE_ROW) return failed(rc);
        model_id = run.model.id;
    } else if (!run.model.path.empty()) {
        Result<int64_t> id = findOrAddModel(m_db, run.model);
        if (!id) return Result<int64_t>::fail(m_path + ": " + what + ": " + id.error());
        model_id = *id;
    }

    Statement insert_run(m_db,
                         "INSERT INTO runs(name, model_id, spec_json, strategy, status, started_unix_ms, ended_unix_ms,"
                         " device, versions_json, note, output_count, metric_count, blob_count, saved_unix_ms)"
                         " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)");
    if (!insert_run.isPrepared()) return failed(insert_run.prepareCode());
    insert_run.bindText(1, run.name);
    if (model_id) {
        insert_run.bindInt(2, *model_id);
    } else {
        insert_run.bindNull(2);
    }
    insert_run.bindText(3, run.spec_json);
    insert_run.bindText(4, run.strategy);
    insert_run.bindText(5, run.status);
    insert_run.bindInt(6, run.started_unix_ms);
    insert_run.bindInt(7, run.ended_unix_ms);
    insert_run.bindText(8, run.device);
    insert_run.bindText(9, run.versions_json);
    insert_run.bindText(10, run.note);
    insert_run.bindInt(11, static_cast<int64_t>(run.metrics.size()));
    insert_run.bindInt(12, static_cast<int64_t>(run.blobs.size()));
    insert_run.bindInt(13, nowUnixMs());
    rc = insert_run.step();
    if (rc != SQLITE_DONE) return failed(rc);
    const int64_t run_id = sqlite3_last_insert_rowid(m_db);

    Statement insert_output(m_db,
                            "INSERT INTO outputs(run_id, prompt_ids, output_ids, output_text) VALUES(?, ?, ?, ?)");
    if (!insert_output.isPrepared()) return failed(insert_output.prepareCode());
    insert_output.bindInt(1, run_id);
    insert_output.bindBlob(2, run.prompt_ids.data(), run.prompt_ids.size() * sizeof(int32_t));
    insert_output.bindBlob(3, run.output_ids.data(), run.output_ids.size() * sizeof(int32_t));
    insert_output.bindText(4, run.output_text);
    rc = insert_output.step();
    if (rc != SQLITE_DONE) return failed(rc);

    Statement insert_metric(m_db, "INSERT INTO metrics(run_id, name, value) VALUES(?, ?, ?)");
    if (!insert_metric.isPrepared()) return failed(insert_metric.prepareCode());
    for (const auto& metric : run.metrics) {
        insert_metric.reset();
        insert_metric.bindInt(1, run_id);
        insert_metric.bindText(2, metric.first);
        insert_metric.bindDouble(3, metric.second);
        rc = insert_metric.step();
        if (rc != SQLITE_DONE) return failed(rc);
    }

    Statement insert_blob(m_db,
                          "INSERT INTO blobs(run_id, name, ordinal, header_json, codec, raw_bytes, crc32, data)"
                          " VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
    if (!insert_blob.isPrepared()) return failed(insert_blob.prepareCode());
    for (size_t i = 0; i < run.blobs.size(); ++i) {
        const BlobRecord& blob = run.blobs[i];
        insert_blob.reset();
        insert_blob.bindInt(1, run_id);
        insert_blob.bindText(2, blob.name);
        insert_blob.bindInt(3, static_cast<int64_t>(i));
        insert_blob.bindText(4, packed[i].header_json);
        insert_blob.bindInt(5, static_cast<int64_t>(packed[i].codec));
        insert_blob.bindInt(6, static_cast<int64_t>(blob.bytes.size()));
        insert_blob.bindInt(7, packed[i].crc32);
        if (packed[i].codec == BlobCodec::Raw) {
            insert_blob.bindBlob(8, blob.bytes.data(), blob.bytes.size());
        } else {
            insert_blob.bindBlob(8, packed[i].compressed.data(), packed[i].compressed.size());
        }
        rc = insert_blob.step();
        if (rc != SQLITE_DONE) return failed(rc);
    }

    Statement insert_tag(m_db, "INSERT INTO tags(run_id, tag) VALUES(?, ?)");
    if (!insert_tag.isPrepared()) return failed(insert_tag.prepareCode());
    for (const std::string& tag : tags) {
        insert_tag.reset();
        insert_tag.bindInt(1, run_id);
        insert_tag.bindText(2, tag);
        rc = insert_tag.step();
        if (rc != SQLITE_DONE) return failed(rc);
    }

    rc = transaction.commit();
    if (rc != SQLITE_OK) return failed(rc);
    return run_id;
}

namespace {

Status loadMetrics(sqlite3* db, int64_t run_id, std::map<std::string, double>* metrics) {
    Statement stmt(db, "SELECT name, value FROM metrics WHERE run_id = ?");
    if (!stmt.isPrepared()) return Status::fail(describeSqlite(db, stmt.prepareCode()));
    stmt.bindInt(1, run_id);
    int rc = SQLITE_OK;
    while ((rc = stmt.step()) == SQLITE_ROW) (*metrics)[stmt.columnText(0)] = stmt.columnDouble(1);
    if (rc != SQLITE_DONE) return Status::fail(describeSqlite(db, rc));
    return Status::ok();
}

Status loadTags(sqlite3* db, int64_t run_id, std::vector<std::string>* tags) {
    Statement stmt(db, "SELECT tag FROM tags WHERE run_id = ? ORDER BY tag");
    if (!stmt.isPrepared()) return Status::fail(describeSqlite(db, stmt.prepareCode()));
    stmt.bindInt(1, run_id);
    int rc = SQLITE_OK;
    while ((rc = stmt.step()) == SQLITE_ROW) tags->push_back(stmt.columnText(0));
    if (rc != SQLITE_DONE) return Status::fail(describeSqlite(db, rc));
    return Status::ok();
}

// Loads one blob row at the statement's current position: name, header_json, codec, raw_bytes, crc32, data.
Status readBlobRow(sqlite3* db, const Statement& stmt, int64_t run_id, bool include_bytes, BlobRecord* blob) {
    (void)db;
    blob->name = stmt.columnText(0);
    if (Status header = parseBlobHeader(run_id, blob->name, stmt.columnText(1), blob); !header.isOk()) return header;
    if (!include_bytes) return Status::ok();
    return unpackBlob(run_id, blob->name, stmt.columnInt(2), stmt.columnInt(3),
                      static_cast<uint32_t>(stmt.columnInt(4)), stmt.columnBlobPointer(5), stmt.columnBytes(5),
                      &blob->bytes);
}

}  // namespace

Result<RunRecord> SessionStore::loadRun(int64_t run_id, bool include_blob_bytes) {
    const std::string what = "cannot load run " + std::to_string(run_id);
    auto failed = [&](const std::string& why) { return Result<RunRecord>::fail(m_path + ": " + what + ": " + why); };
    // One read transaction: a concurrent writer or deleter cannot show us half a run.
    Transaction transaction(m_db);
    int rc = transaction.begin("BEGIN");
    if (rc != SQLITE_OK) return failed(describeSqlite(m_db, rc));

    Statement stmt(
        m_db,
        "SELECT r.name, r.spec_json, r.strategy, r.status, r.started_unix_ms, r.ended_unix_ms, r.device,"
        " r.versions_json, r.note, r.output_count, r.metric_count, r.blob_count, m.id, m.path,"
        " m.architecture, m.content_hash FROM runs r LEFT JOIN models m ON m.id = r.model_id WHERE r.id = ?");
    if (!stmt.isPrepared()) return failed(describeSqlite(m_db, stmt.prepareCode()));
    stmt.bindInt(1, run_id);
    rc = stmt.step();
    if (rc == SQLITE_DONE) return failed("there is no such run");
    if (rc != SQLITE_ROW) return failed(describeSqlite(m_db, rc));
    RunRecord run;
    run.id = run_id;
    run.name = stmt.columnText(0);
    run.spec_json = stmt.columnText(1);
    run.strategy = stmt.columnText(2);
    run.status = stmt.columnText(3);
    run.started_unix_ms = stmt.columnInt(4);
    run.ended_unix_ms = stmt.columnInt(5);
    run.device = stmt.columnText(6);
    run.versions_json = stmt.columnText(7);
    run.note = stmt.columnText(8);
    const int64_t output_count = stmt.columnInt(9);
    const int64_t metric_count = stmt.columnInt(10);
    const int64_t blob_count = stmt.columnInt(11);
    if (!stmt.isNull(12)) {
        run.model = {stmt.columnInt(12), stmt.columnText(13), stmt.columnText(14), stmt.columnText(15)};
    }

    Statement outputs(m_db, "SELECT prompt_ids, output_ids, output_text FROM outputs WHERE run_id = ?");
    if (!outputs.isPrepared()) return failed(describeSqlite(m_db, outputs.prepareCode()));
    outputs.bindInt(1, run_id);
    int64_t outputs_found = 0;
    while ((rc = outputs.step()) == SQLITE_ROW) {
        ++outputs_found;
        Result<std::vector<int32_t>> prompt = idsFromBlob(outputs.columnBlob(0));
        Result<std::vector<int32_t>> output = idsFromBlob(outputs.columnBlob(1));
        if (!prompt || !output) return failed("its token ids are damaged");
        run.prompt_ids = std::move(*prompt);
        run.output_ids = std::move(*output);
        run.output_text = outputs.columnText(2);
    }
    if (rc != SQLITE_DONE) return failed(describeSqlite(m_db, rc));

    if (Status status = loadMetrics(m_db, run_id, &run.metrics); !status.isOk()) return failed(status.error());
    if (Status status = loadTags(m_db, run_id, &run.tags); !status.isOk()) return failed(status.error());

    Statement blobs(m_db, include_blob_bytes
                              ? "SELECT name, header_json, codec, raw_bytes, crc32, data FROM blobs WHERE run_id = ?"
                                " ORDER BY ordinal"
                              : "SELECT name, header_json FROM blobs WHERE run_id = ? ORDER BY ordinal");
    if (!blobs.isPrepared()) return failed(describeSqlite(m_db, blobs.prepareCode()));
    blobs.bindInt(1, run_id);
    while ((rc = blobs.step()) == SQLITE_ROW) {
        BlobRecord blob;
        if (Status status = readBlobRow(m_db, blobs, run_id, include_blob_bytes, &blob); !status.isOk()) {
            return failed(status.error());
        }
        run.blobs.push_back(std::move(blob));
    }
    if (rc != SQLITE_DONE) return failed(describeSqlite(m_db, rc));

    if (outputs_found != output_count || static_cast<int64_t>(run.metrics.size()) != metric_count ||
        static_cast<int64_t>(run.blobs.size()) != blob_count) {
        return failed("the run is incomplete (outputs " + std::to_string(outputs_found) + "/" +
                      std::to_string(output_count) + ", metrics " + std::to_string(run.metrics.size()) + "/" +
                      std::to_string(metric_count) + ", blobs " + std::to_string(run.blobs.size()) + "/" +
                      std::to_string(blob_count) + ")");
    }
    transaction.commit();
    return run;
}

Result<BlobRecord> SessionStore::loadBlob(int64_t run_id, const std::string& name) {
    Statement stmt(m_db,
                   "SELECT name, header_json, codec, raw_bytes, crc32, data FROM blobs WHERE run_id = ? AND name = ?");
    if (!stmt.isPrepared()) return failStatus("cannot load blob '" + name + "'");
    stmt.bindInt(1, run_id);
    stmt.bindText(2, name);
    const int rc = stmt.step();
    if (rc == SQLITE_DONE) {
        return Result<BlobRecord>::fail(m_path + ": run " + std::to_string(run_id) + " has no blob '" + name + "'");
    }
    if (rc != SQLITE_ROW) return failStatus("cannot load blob '" + name + "'");
    BlobRecord blob;
    if (Status status = readBlobRow(m_db, stmt, run_id, true, &blob); !status.isOk()) {
        return Result<BlobRecord>::fail(m_path + ": " + status.error());
    }
    return blob;
}

Result<std::vector<int64_t>> SessionStore::runIds() {
    Statement stmt(m_db, "SELECT id FROM runs ORDER BY id");
    if (!stmt.isPrepared()) return failStatus("cannot list runs");
    std::vector<int64_t> ids;
    int rc = SQLITE_OK;
    while ((rc = stmt.step()) == SQLITE_ROW) ids.push_back(stmt.columnInt(0));
    if (rc != SQLITE_DONE) return failStatus("cannot list runs");
    return ids;
}

Result<std::vector<RunSummary>> SessionStore::listRuns(const RunFilter& filter) {
    std::string sql =
        "SELECT r.id, r.name, r.strategy, r.status, r.started_unix_ms, r.ended_unix_ms, r.device, r.note,"
        " r.blob_count, m.id, m.path, m.architecture, m.content_hash FROM runs r LEFT JOIN models m ON m.id = "
        "r.model_id"
        " WHERE 1";
    if (filter.status) sql += " AND r.status = ?1";
    if (!filter.strategy_contains.empty()) sql += " AND instr(r.strategy, ?2) > 0";
    if (filter.tag) sql += " AND EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.id AND t.tag = ?3)";
    if (filter.model_id) sql += " AND r.model_id = ?4";
    if (!filter.model_path_contains.empty()) sql += " AND instr(m.path, ?5) > 0";
    sql += " ORDER BY r.id";

    Transaction transaction(m_db);
    int rc = transaction.begin("BEGIN");
    if (rc != SQLITE_OK) return failStatus("cannot list runs");
    Statement stmt(m_db, sql);
    if (!stmt.isPrepared()) return failStatus("cannot list runs");
    if (filter.status) stmt.bindText(1, *filter.status);
    if (!filter.strategy_contains.empty()) stmt.bindText(2, filter.strategy_contains);
    if (filter.tag) stmt.bindText(3, *filter.tag);
    if (filter.model_id) stmt.bindInt(4, *filter.model_id);
    if (!filter.model_path_contains.empty()) stmt.bindText(5, filter.model_path_contains);
    std::vector<RunSummary> runs;
    while ((rc = stmt.step()) == SQLITE_ROW) {
        RunSummary run;
        run.id = stmt.columnInt(0);
        run.name = stmt.columnText(1);
        run.strategy = stmt.columnText(2);
        run.status = stmt.columnText(3);
        run.started_unix_ms = stmt.columnInt(4);
        run.ended_unix_ms = stmt.columnInt(5);
        run.device = stmt.columnText(6);
        run.note = stmt.columnText(7);
        run.blob_count = stmt.columnInt(8);
        if (!stmt.isNull(9))
            run.model = {stmt.columnInt(9), stmt.columnText(10), stmt.columnText(11), stmt.columnText(12)};
        runs.push_back(std::move(run));
    }
    if (rc != SQLITE_DONE) return failStatus("cannot list runs");
    for (RunSummary& run : runs) {
        Status metrics = loadMetrics(m_db, run.id, &run.metrics);
        Status tags = metrics.isOk() ? loadTags(m_db, run.id, &run.tags) : metrics;
        if (!tags.isOk()) return Result<std::vector<RunSummary>>::fail(m_path + ": cannot list runs: " + tags.error());
    }
    transaction.commit();
    return runs;
}

// ---- edits ------------------------------------------------------------------------------------------

namespace {

// Runs one UPDATE/DELETE with (text?, id) bindings; returns rows changed or -1 with the error in sqlite.
int runEdit(sqlite3* db, const char* sql, const std::string* text, int64_t run_id) {
    Statement stmt(db, sql);
    if (!stmt.isPrepared()) return -1;
    int index = 1;
    if (text != nullptr) stmt.bindText(index++, *text);
    stmt.bindInt(index, run_id);
    if (stmt.step() != SQLITE_DONE) return -1;
    return sqlite3_changes(db);
}

}  // namespace

Status SessionStore::renameRun(int64_t run_id, const std::string& name) {
    const std::string what = "cannot rename run " + std::to_string(run_id);
    if (Status writable = requireWritable(what); !writable.isOk()) return writable;
    const int changed = runEdit(m_db, "UPDATE runs SET name = ? WHERE id = ?", &name, run_id);
    if (changed < 0) return failStatus(what);
    if (changed == 0) return Status::fail(m_path + ": " + what + ": there is no such run");
    return Status::ok();
}

Status SessionStore::setNote(int64_t run_id, const std::string& note) {
    const std::string what = "cannot set the note of run " + std::to_string(run_id);
    if (Status writable = requireWritable(what); !writable.isOk()) return writable;
    const int changed = runEdit(m_db, "UPDATE runs SET note = ? WHERE id = ?", &note, run_id);
    if (changed < 0) return failStatus(what);
    if (changed == 0) return Status::fail(m_path + ": " + what + ": there is no such run");
    return Status::ok();
}

Status SessionStore::tagRun(int64_t run_id, const std::string& tag) {
    const std::string what = "cannot tag run " + std::to_string(run_id);
    if (Status writable = requireWritable(what); !writable.isOk()) return writable;
    if (tag.empty()) return Status::fail(m_path + ": " + what + ": the tag is empty");
    if (Status exists = requireRun(run_id, what); !exists.isOk()) return exists;
    if (runEdit(m_db, "INSERT OR IGNORE INTO tags(tag, run_id) VALUES(?, ?)", &tag, run_id) < 0)
        return failStatus(what);
    return Status::ok();
}

Status SessionStore::untagRun(int64_t run_id, const std::string& tag) {
    const std::string what = "cannot untag run " + std::to_string(run_id);
    if (Status writable = requireWritable(what); !writable.isOk()) return writable;
    if (Status exists = requireRun(run_id, what); !exists.isOk()) return exists;
    if (runEdit(m_db, "DELETE FROM tags WHERE tag = ? AND run_id = ?", &tag, run_id) < 0) return failStatus(what);
    return Status::ok();
}

Status SessionStore::deleteRun(int64_t run_id) {
    const std::string what = "cannot delete run " + std::to_string(run_id);
    if (Status writable = requireWritable(what); !writable.isOk()) return writable;
    const int changed = runEdit(m_db, "DELETE FROM runs WHERE id = ?", nullptr, run_id);
    if (changed < 0) return failStatus(what);
    if (changed == 0) return Status::fail(m_path + ": " + what + ": there is no such run");
    return Status::ok();
}

// ---- artifacts --------------------------------------------------------------------------------------

Result<int64_t> SessionStore::addArtifact(const ArtifactRecord& artifact) {
    const std::string what = "cannot record the exported file " + artifact.path;
    if (Status writable = requireWritable(what); !writable.isOk()) return writable;
    Statement stmt(m_db, "INSERT INTO artifacts(run_id, path, format, created_unix_ms) VALUES(?, ?, ?, ?)");
    if (!stmt.isPrepared()) return failStatus(what);
    if (artifact.run_id > 0) {
        stmt.bindInt(1, artifact.run_id);
    } else {
        stmt.bindNull(1);
    }
    stmt.bindText(2, artifact.path);
    stmt.bindText(3, artifact.format);
    stmt.bindInt(4, artifact.created_unix_ms != 0 ? artifact.created_unix_ms : nowUnixMs());
    const int rc = stmt.step();
    if (rc != SQLITE_DONE) {
        if ((sqlite3_extended_errcode(m_db) & 0xff) == SQLITE_CONSTRAINT) {
            return Result<int64_t>::fail(m_path + ": " + what + ": there is no run " + std::to_string(artifact.run_id));
        }
        return failStatus(what);
    }
    return static_cast<int64_t>(sqlite3_last_insert_rowid(m_db));
}

Result<std::vector<ArtifactRecord>> SessionStore::listArtifacts(std::optional<int64_t> run_id) {
    std::string sql = "SELECT id, coalesce(run_id, 0), path, format, created_unix_ms FROM artifacts";
    if (run_id) sql += *run_id > 0 ? " WHERE run_id = ?" : " WHERE run_id IS NULL";
    sql += " ORDER BY id";
    Statement stmt(m_db, sql);
    if (!stmt.isPrepared()) return failStatus("cannot list exported files");
    if (run_id && *run_id > 0) stmt.bindInt(1, *run_id);
    std::vector<ArtifactRecord> artifacts;
    int rc = SQLITE_OK;
    while ((rc = stmt.step()) == SQLITE_ROW) {
        artifacts.push_back(
            {stmt.columnInt(0), stmt.columnInt(1), stmt.columnText(2), stmt.columnText(3), stmt.columnInt(4)});
    }
    if (rc != SQLITE_DONE) return failStatus("cannot list exported files");
    return artifacts;
}

// ---- maintenance ------------------------------------------------------------------------------------

Status SessionStore::vacuum() {
    if (Status writable = requireWritable("cannot compact the session"); !writable.isOk()) return writable;
    int rc = execSql(m_db, "VACUUM");
    if (rc != SQLITE_OK)
        return failStatus("cannot compact the session (VACUUM needs free space about the file's size)");
    rc = execSql(m_db, "PRAGMA wal_checkpoint(TRUNCATE)");
    if (rc != SQLITE_OK) return failStatus("cannot checkpoint the session after compacting it");
    return Status::ok();
}

Status SessionStore::verify(bool check_blob_checksums) {
    Result<std::vector<std::string>> integrity = queryTexts(m_db, "PRAGMA integrity_check", 10);
    if (!integrity) return Status::fail(m_path + ": the integrity check failed: " + integrity.error());
    if (integrity->size() != 1 || (*integrity)[0] != "ok") {
        return Status::fail(m_path + ": the file is damaged (integrity check: " + joinStrings(*integrity, "; ") + ")");
    }
    Result<std::vector<std::string>> foreign = queryTexts(m_db, "PRAGMA foreign_key_check", 10);
    if (!foreign) return Status::fail(m_path + ": the foreign key check failed: " + foreign.error());
    if (!foreign->empty()) {
        return Status::fail(m_path + ": dangling references in table(s) " + joinStrings(*foreign, ", "));
    }
    Transaction transaction(m_db);
    if (transaction.begin("BEGIN") != SQLITE_OK) return failStatus("cannot verify the session");
    Statement counts(m_db,
                     "SELECT r.id, r.output_count, (SELECT count(*) FROM outputs o WHERE o.run_id = r.id),"
                     " r.metric_count, (SELECT count(*) FROM metrics t WHERE t.run_id = r.id),"
                     " r.blob_count, (SELECT count(*) FROM blobs b WHERE b.run_id = r.id) FROM runs r ORDER BY r.id");
    if (!counts.isPrepared()) return failStatus("cannot verify the session");
    int rc = SQLITE_OK;
    while ((rc = counts.step()) == SQLITE_ROW) {
        if (counts.columnInt(1) != counts.columnInt(2) || counts.columnInt(3) != counts.columnInt(4) ||
            counts.columnInt(5) != counts.columnInt(6)) {
            return Status::fail(m_path + ": run " + std::to_string(counts.columnInt(0)) + " is incomplete (outputs " +
                                std::to_string(counts.columnInt(2)) + "/" + std::to_string(counts.columnInt(1)) +
                                ", metrics " + std::to_string(counts.columnInt(4)) + "/" +
                                std::to_string(counts.columnInt(3)) + ", blobs " + std::to_string(counts.columnInt(6)) +
                                "/" + std::to_string(counts.columnInt(5)) + ")");
        }
    }
    if (rc != SQLITE_DONE) return failStatus("cannot verify the session");
    if (check_blob_checksums) {
        Statement blobs(m_db, "SELECT name, header_json, codec, raw_bytes, crc32, data, run_id FROM blobs");
        if (!blobs.isPrepared()) return failStatus("cannot verify the session");
        while ((rc = blobs.step()) == SQLITE_ROW) {
            BlobRecord blob;
            if (Status status = readBlobRow(m_db, blobs, blobs.columnInt(6), true, &blob); !status.isOk()) {
                return Status::fail(m_path + ": " + status.error());
            }
        }
        if (rc != SQLITE_DONE) return failStatus("cannot verify the session");
    }
    transaction.commit();
    return Status::ok();
}

}  // namespace attnlab
