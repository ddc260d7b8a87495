// Session store: round trips, filters, edits, migrations, refused files, disk full.
#include "core/session/session_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <random>
#include <string>
#include <vector>

#include "tests/session/fault_vfs.h"
#include "tests/session/session_test_util.h"

namespace attnlab {
namespace {

using test::TempDir;

// One-off query on a separate plain connection (read-write: only for files the test owns).
int64_t rawInt(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    int64_t value = -999;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
        value = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
}

std::string rawText(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    std::string value = "<none>";
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
        value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
}

void rawExec(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr), SQLITE_OK);
    char* error = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    EXPECT_EQ(rc, SQLITE_OK) << (error ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
}

bool hasSideFiles(const std::string& path) {
    return test::pathExists(path + "-wal") || test::pathExists(path + "-shm") || test::pathExists(path + "-journal");
}

SessionStore createStore(const std::string& path, SessionOpenOptions options = {}) {
    Result<SessionStore> store = SessionStore::create(path, options);
    EXPECT_TRUE(store.isOk()) << store.error();
    return std::move(store.value());
}

// ---- basic API ----------------------------------------------------------------------------------

TEST(SessionStore, SaveLoadRoundTripIsExact) {
    TempDir dir;
    const std::string path = dir.file("a.session");
    SessionStore store = createStore(path);
    std::vector<int64_t> ids;
    for (int seq = 0; seq < 12; ++seq) {
        Result<int64_t> id = store.saveRun(test::makeTestRun(7, seq));
        ASSERT_TRUE(id.isOk()) << id.error();
        if (!ids.empty()) {
            EXPECT_GT(*id, ids.back());
        }
        ids.push_back(*id);
    }
    for (size_t i = 0; i < ids.size(); ++i) {
        Result<RunRecord> loaded = store.loadRun(ids[i]);
        ASSERT_TRUE(loaded.isOk()) << loaded.error();
        EXPECT_EQ(loaded->id, ids[i]);
        EXPECT_EQ(test::runDifference(test::makeTestRun(7, static_cast<int64_t>(i)), *loaded), "");
    }
    EXPECT_TRUE(store.verify().isOk()) << store.verify().error();
    EXPECT_EQ(rawInt(path, "PRAGMA application_id"), kSessionApplicationId);
    EXPECT_EQ(rawInt(path, "PRAGMA user_version"), kSessionSchemaVersion);
    EXPECT_EQ(rawText(path, "PRAGMA journal_mode"), "wal");
    Result<RunRecord> missing = store.loadRun(9999);
    ASSERT_FALSE(missing.isOk());
    EXPECT_NE(missing.error().find("9999"), std::string::npos);
}

TEST(SessionStore, SpecialValuesRoundTrip) {
    TempDir dir;
    SessionStore store = createStore(dir.file("s.session"));
    RunRecord run;
    run.spec_json = "not json at all";
    run.metrics = {{"nan", std::nan("")}, {"inf", INFINITY}, {"-inf", -INFINITY},
                   {"tiny", 4.9e-324},    {"neg0", -0.0},    {"big", 1.7976931348623157e308}};
    run.blobs.push_back({"empty", "F32", {0, 4}, {}});
    run.blobs.push_back({"scalar", "I64", {}, std::vector<uint8_t>(8, 0xAB)});
    run.blobs.push_back({"opaque", "bytes", {3}, {0, 0, 0}});
    run.blobs.push_back({"zeros", "U8", {100000}, std::vector<uint8_t>(100000, 0)});
    run.tags = {"b", "a", "b"};
    run.output_text = std::string("nul\0inside", 10);
    Result<int64_t> id = store.saveRun(run);
    ASSERT_TRUE(id.isOk()) << id.error();
    Result<RunRecord> loaded = store.loadRun(*id);
    ASSERT_TRUE(loaded.isOk()) << loaded.error();
    EXPECT_EQ(test::runDifference(run, *loaded), "");
    EXPECT_EQ(loaded->tags, (std::vector<std::string>{"a", "b"}));

    Result<RunRecord> headers = store.loadRun(*id, false);
    ASSERT_TRUE(headers.isOk());
    ASSERT_EQ(headers->blobs.size(), 4u);
    EXPECT_TRUE(headers->blobs[3].bytes.empty());
    EXPECT_EQ(headers->blobs[3].shape, (std::vector<int64_t>{100000}));
    Result<BlobRecord> blob = store.loadBlob(*id, "zeros");
    ASSERT_TRUE(blob.isOk()) << blob.error();
    EXPECT_EQ(blob->bytes, run.blobs[3].bytes);
    EXPECT_FALSE(store.loadBlob(*id, "nope").isOk());
}

TEST(SessionStore, RejectsInvalidRecordsAndSavesNothing) {
    TempDir dir;
    SessionStore store = createStore(dir.file("v.session"));
    RunRecord twice;
    twice.blobs = {{"x", "U8", {1}, {1}}, {"x", "U8", {1}, {2}}};
    Result<int64_t> id = store.saveRun(twice);
    ASSERT_FALSE(id.isOk());
    EXPECT_NE(id.error().find("two blobs are named 'x'"), std::string::npos) << id.error();
    RunRecord wrong_size;
    wrong_size.blobs = {{"y", "F32", {2, 3}, std::vector<uint8_t>(23)}};
    id = store.saveRun(wrong_size);
    ASSERT_FALSE(id.isOk());
    EXPECT_NE(id.error().find("does not match"), std::string::npos) << id.error();
    RunRecord unknown_model;
    unknown_model.model.id = 42;
    EXPECT_FALSE(store.saveRun(unknown_model).isOk());
    EXPECT_TRUE(store.runIds()->empty());
}

TEST(SessionStore, CreateAndOpenErrors) {
    TempDir dir;
    const std::string path = dir.file("c.session");
    EXPECT_FALSE(SessionStore::open(path).isOk());
    EXPECT_NE(SessionStore::open(path).error().find("no such session file"), std::string::npos);
    EXPECT_FALSE(test::pathExists(path));
    { SessionStore store = createStore(path); }
    Result<SessionStore> again = SessionStore::create(path);
    ASSERT_FALSE(again.isOk());
    EXPECT_NE(again.error().find("already exists"), std::string::npos);
    SessionOpenOptions create_if_missing;
    create_if_missing.create_if_missing = true;
    EXPECT_TRUE(SessionStore::open(dir.file("new.session"), create_if_missing).isOk());
    EXPECT_TRUE(SessionStore::open(path, create_if_missing).isOk());
    // No temporary files are left behind by creation.
    int entries = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
        (void)entry;
        ++entries;
    }
    EXPECT_EQ(entries, 2);
}

TEST(SessionStore, ListRunsFilters) {
    TempDir dir;
    SessionStore store = createStore(dir.file("f.session"));
    Result<int64_t> model = store.addModel({0, "/models/a", "LlamaForCausalLM", "sha256:aa"});
    ASSERT_TRUE(model.isOk());
    EXPECT_EQ(*store.addModel({0, "/models/a", "LlamaForCausalLM", "sha256:aa"}), *model);
    RunRecord a;
    a.strategy = "snapkv:budget=1024";
    a.status = "ok";
    a.model.id = *model;
    a.tags = {"paper"};
    a.metrics = {{"ttft_ms", 1.5}};
    RunRecord b;
    b.strategy = "full";
    b.status = "failed";
    b.model = {0, "/models/b", "Qwen2ForCausalLM", ""};
    RunRecord c;
    c.strategy = "snapkv:budget=64";
    c.status = "ok";
    const int64_t id_a = *store.saveRun(a);
    const int64_t id_b = *store.saveRun(b);
    const int64_t id_c = *store.saveRun(c);
    auto ids = [&](const RunFilter& filter) {
        std::vector<int64_t> out;
        Result<std::vector<RunSummary>> runs = store.listRuns(filter);
        for (const RunSummary& run : runs.value()) out.push_back(run.id);
        return out;
    };
    EXPECT_EQ(ids({}), (std::vector<int64_t>{id_a, id_b, id_c}));
    RunFilter by_status;
    by_status.status = "ok";
    EXPECT_EQ(ids(by_status), (std::vector<int64_t>{id_a, id_c}));
    RunFilter by_strategy;
    by_strategy.strategy_contains = "snapkv";
    EXPECT_EQ(ids(by_strategy), (std::vector<int64_t>{id_a, id_c}));
    RunFilter by_tag;
    by_tag.tag = "paper";
    EXPECT_EQ(ids(by_tag), (std::vector<int64_t>{id_a}));
    RunFilter by_model;
    by_model.model_id = *model;
    EXPECT_EQ(ids(by_model), (std::vector<int64_t>{id_a}));
    RunFilter by_path;
    by_path.model_path_contains = "/models/b";
    EXPECT_EQ(ids(by_path), (std::vector<int64_t>{id_b}));
    RunFilter combined;
    combined.status = "ok";
    combined.strategy_contains = "64";
    EXPECT_EQ(ids(combined), (std::vector<int64_t>{id_c}));

    Result<std::vector<RunSummary>> listed = store.listRuns();
    const std::vector<RunSummary>& all = listed.value();
    EXPECT_EQ(all[0].metrics.at("ttft_ms"), 1.5);
    EXPECT_EQ(all[0].tags, (std::vector<std::string>{"paper"}));
    EXPECT_EQ(all[0].model.path, "/models/a");
    EXPECT_EQ(all[1].model.architecture, "Qwen2ForCausalLM");
    EXPECT_EQ(store.listModels()->size(), 2u);
}

TEST(SessionStore, RenameTagNoteDeleteAndArtifacts) {
    TempDir dir;
    const std::string path = dir.file("e.session");
    SessionStore store = createStore(path);
    const int64_t first = *store.saveRun(test::makeTestRun(3, 0));
    const int64_t second = *store.saveRun(test::makeTestRun(3, 1));
    ASSERT_TRUE(store.renameRun(first, "renamed").isOk());
    ASSERT_TRUE(store.tagRun(first, "zeta").isOk());
    ASSERT_TRUE(store.tagRun(first, "zeta").isOk());
    ASSERT_TRUE(store.setNote(first, "a note").isOk());
    Result<RunRecord> loaded = store.loadRun(first);
    EXPECT_EQ(loaded->name, "renamed");
    EXPECT_EQ(loaded->note, "a note");
    EXPECT_EQ(std::count(loaded->tags.begin(), loaded->tags.end(), "zeta"), 1);
    ASSERT_TRUE(store.untagRun(first, "zeta").isOk());
    loaded = store.loadRun(first);
    EXPECT_EQ(std::count(loaded->tags.begin(), loaded->tags.end(), "zeta"), 0);

    EXPECT_FALSE(store.renameRun(777, "x").isOk());
    EXPECT_NE(store.tagRun(777, "x").error().find("no run 777"), std::string::npos) << store.tagRun(777, "x").error();
    EXPECT_FALSE(store.setNote(777, "x").isOk());
    EXPECT_FALSE(store.deleteRun(777).isOk());

    ASSERT_TRUE(store.addArtifact({0, first, "/out/run-1.jsonl", "jsonl", 0}).isOk());
    ASSERT_TRUE(store.addArtifact({0, 0, "/out/session.csv", "csv", 0}).isOk());
    EXPECT_FALSE(store.addArtifact({0, 777, "/out/x", "npy", 0}).isOk());
    EXPECT_EQ(store.listArtifacts()->size(), 2u);
    EXPECT_EQ(store.listArtifacts(first)->size(), 1u);
    EXPECT_EQ(store.listArtifacts(0)->size(), 1u);

    ASSERT_TRUE(store.deleteRun(first).isOk());
    EXPECT_FALSE(store.loadRun(first).isOk());
    EXPECT_TRUE(store.loadRun(second).isOk());
    for (const char* table : {"outputs", "metrics", "blobs", "tags", "artifacts"}) {
        EXPECT_EQ(
            rawInt(path, std::string("SELECT count(*) FROM ") + table + " WHERE run_id = " + std::to_string(first)), 0)
            << table;
    }
    const int64_t third = *store.saveRun(test::makeTestRun(3, 2));
    EXPECT_GT(third, second);  // ids are never reused
    EXPECT_TRUE(store.verify().isOk());
}

TEST(SessionStore, VacuumShrinksAndKeepsRuns) {
    TempDir dir;
    const std::string path = dir.file("vac.session");
    SessionStore store = createStore(path);
    std::vector<int64_t> ids;
    for (int seq = 0; seq < 16; ++seq) ids.push_back(*store.saveRun(test::makeTestRun(5, seq, 60000)));
    for (size_t i = 0; i < ids.size(); i += 2) ASSERT_TRUE(store.deleteRun(ids[i]).isOk());
    const uintmax_t size_before = std::filesystem::file_size(path) + std::filesystem::file_size(path + "-wal");
    ASSERT_TRUE(store.vacuum().isOk()) << store.vacuum().error();
    EXPECT_LT(std::filesystem::file_size(path), size_before);
    EXPECT_EQ(std::filesystem::file_size(path + "-wal"), 0u);
    for (size_t i = 1; i < ids.size(); i += 2) {
        EXPECT_EQ(test::runDifference(test::makeTestRun(5, static_cast<int64_t>(i), 60000), *store.loadRun(ids[i])),
                  "");
    }
    EXPECT_TRUE(store.verify().isOk());
}

TEST(SessionStore, VerifyAndLoadDetectTampering) {
    TempDir dir;
    const std::string path = dir.file("t.session");
    int64_t id = 0;
    {
        SessionStore store = createStore(path);
        RunRecord run = test::makeTestRun(1, 0);
        run.metrics = {{"a", 1.0}, {"b", 2.0}};
        run.blobs = {{"blob", "U8", {5000}, std::vector<uint8_t>(5000, 3)}};
        id = *store.saveRun(run);
    }
    rawExec(path, "DELETE FROM metrics WHERE name = 'a'");
    {
        Result<SessionStore> store = SessionStore::open(path);
        ASSERT_TRUE(store.isOk()) << store.error();
        Status verified = store->verify();
        ASSERT_FALSE(verified.isOk());
        EXPECT_NE(verified.error().find("incomplete"), std::string::npos) << verified.error();
        Result<RunRecord> loaded = store->loadRun(id);
        ASSERT_FALSE(loaded.isOk());
        EXPECT_NE(loaded.error().find("incomplete"), std::string::npos) << loaded.error();
    }
    rawExec(path, "INSERT INTO metrics VALUES(" + std::to_string(id) +
                      ", 'a', 1.0);"
                      "UPDATE blobs SET crc32 = crc32 + 1");
    Result<SessionStore> store = SessionStore::open(path);
    ASSERT_TRUE(store.isOk()) << store.error();
    Result<RunRecord> loaded = store->loadRun(id);
    ASSERT_FALSE(loaded.isOk());
    EXPECT_NE(loaded.error().find("checksum mismatch"), std::string::npos) << loaded.error();
    EXPECT_FALSE(store->verify().isOk());
    EXPECT_TRUE(store->verify(false).isOk());

    // A damaged size must be reported, not allocated.
    store = Result<SessionStore>::fail("closed");
    rawExec(path, "UPDATE blobs SET crc32 = crc32 - 1, raw_bytes = 1000000000000");
    store = SessionStore::open(path);
    ASSERT_TRUE(store.isOk()) << store.error();
    loaded = store->loadRun(id);
    ASSERT_FALSE(loaded.isOk());
    EXPECT_NE(loaded.error().find("damaged"), std::string::npos) << loaded.error();
}

TEST(SessionStore, ReadOnlyOpenReadsButNeverWrites) {
    TempDir dir;
    const std::string path = dir.file("ro.session");
    int64_t id = 0;
    {
        SessionStore store = createStore(path);
        id = *store.saveRun(test::makeTestRun(2, 0));
    }
    ASSERT_FALSE(hasSideFiles(path));
    const std::string before = test::fileHash(path);
    SessionOpenOptions options;
    options.read_only = true;
    Result<SessionStore> store = SessionStore::open(path, options);
    ASSERT_TRUE(store.isOk()) << store.error();
    EXPECT_TRUE(store->isReadOnly());
    EXPECT_EQ(test::runDifference(test::makeTestRun(2, 0), *store->loadRun(id)), "");
    EXPECT_EQ(store->listRuns()->size(), 1u);
    Result<int64_t> saved = store->saveRun(test::makeTestRun(2, 1));
    ASSERT_FALSE(saved.isOk());
    EXPECT_NE(saved.error().find("read-only"), std::string::npos) << saved.error();
    EXPECT_FALSE(store->renameRun(id, "x").isOk());
    EXPECT_FALSE(store->vacuum().isOk());
    store = Result<SessionStore>::fail("closed");
    EXPECT_EQ(test::fileHash(path), before);
}

// ---- migrations -----------------------------------------------------------------------------------

// Builds a file of every earlier schema version, as that version's attnlab wrote it. Version 0 is the
// layout described in session_store.cpp.
void writeVersion0(const std::string& path, const std::string& second_metrics_json = "{\"ttft_ms\": 2.0}") {
    rawExec(path, "PRAGMA application_id = " + std::to_string(kSessionApplicationId) +
                      ";"
                      "CREATE TABLE runs(id INTEGER PRIMARY KEY, spec TEXT NOT NULL, strategy TEXT NOT NULL,"
                      " status TEXT NOT NULL, started TEXT, ended TEXT, device TEXT, output_text TEXT,"
                      " metrics_json TEXT, note TEXT);"
                      "INSERT INTO runs VALUES(1, '{\"prompt\":\"hi\"}', 'snapkv:budget=64', 'ok',"
                      " '2024-05-01T12:34:56.789Z', '2024-05-01T12:34:57.000Z', 'cpu', 'hello, world',"
                      " '{\"ttft_ms\": 12.5, \"accuracy\": 1, \"label\": \"x\"}', 'first');"
                      "INSERT INTO runs VALUES(3, '{}', 'full', 'failed', NULL, NULL, NULL, NULL, '" +
                      second_metrics_json +
                      "', NULL);"
                      "PRAGMA user_version = 0;");
}

void writeVersion(int version, const std::string& path) {
    switch (version) {
        case 0: writeVersion0(path); return;
        default: FAIL() << "no fixture for session schema version " << version << "; add one with its migration";
    }
}

// What a file of `version` holds after migration to the current schema.
void expectMigratedContent(int version, SessionStore& store) {
    ASSERT_EQ(version, 0);
    Result<RunRecord> first = store.loadRun(1);
    ASSERT_TRUE(first.isOk()) << first.error();
    EXPECT_EQ(first->spec_json, "{\"prompt\":\"hi\"}");
    EXPECT_EQ(first->strategy, "snapkv:budget=64");
    EXPECT_EQ(first->status, "ok");
    EXPECT_EQ(first->started_unix_ms, 1714566896789LL);
    EXPECT_EQ(first->ended_unix_ms, 1714566897000LL);
    EXPECT_EQ(first->device, "cpu");
    EXPECT_EQ(first->output_text, "hello, world");
    EXPECT_EQ(first->note, "first");
    ASSERT_EQ(first->metrics.size(), 3u);
    EXPECT_EQ(first->metrics.at("ttft_ms"), 12.5);
    EXPECT_EQ(first->metrics.at("accuracy"), 1.0);
    EXPECT_TRUE(std::isnan(first->metrics.at("label")));
    Result<RunRecord> second = store.loadRun(3);
    ASSERT_TRUE(second.isOk()) << second.error();
    EXPECT_EQ(second->started_unix_ms, 0);
    EXPECT_EQ(second->device, "");
    EXPECT_EQ(second->metrics.at("ttft_ms"), 2.0);
    // New runs continue after the old ids.
    Result<int64_t> next = store.saveRun(test::makeTestRun(1, 1));
    ASSERT_TRUE(next.isOk()) << next.error();
    EXPECT_GT(*next, 3);
}

TEST(SessionMigration, OpensAFileOfEveryEarlierVersion) {
    for (int version = 0; version < kSessionSchemaVersion; ++version) {
        SCOPED_TRACE("schema version " + std::to_string(version));
        TempDir dir;
        const std::string path = dir.file("old.session");
        writeVersion(version, path);
        ASSERT_FALSE(HasFatalFailure());
        const std::string original = test::fileHash(path);
        {
            Result<SessionStore> store = SessionStore::open(path);
            ASSERT_TRUE(store.isOk()) << store.error();
            const std::string backup = path + ".v" + std::to_string(version) + ".bak";
            EXPECT_EQ(store->migrationBackupPath(), backup);
            EXPECT_EQ(store->migratedFromVersion(), version);
            EXPECT_EQ(test::fileHash(backup), original);
            EXPECT_TRUE(store->verify().isOk()) << store->verify().error();
            expectMigratedContent(version, *store);
        }
        EXPECT_EQ(rawInt(path, "PRAGMA user_version"), kSessionSchemaVersion);
        EXPECT_EQ(rawText(path, "PRAGMA journal_mode"), "wal");
        Result<SessionStore> again = SessionStore::open(path);
        ASSERT_TRUE(again.isOk()) << again.error();
        EXPECT_EQ(again->migrationBackupPath(), "");
        EXPECT_EQ(again->migratedFromVersion(), -1);
    }
}

TEST(SessionMigration, FailedMigrationLeavesTheFileAtItsVersion) {
    TempDir dir;
    const std::string path = dir.file("bad.session");
    writeVersion0(path, "{not json");
    Result<SessionStore> store = SessionStore::open(path);
    ASSERT_FALSE(store.isOk());
    EXPECT_NE(store.error().find("migration"), std::string::npos) << store.error();
    EXPECT_NE(store.error().find(path + ".v0.bak"), std::string::npos) << store.error();
    EXPECT_EQ(rawInt(path, "PRAGMA user_version"), 0);
    EXPECT_EQ(rawInt(path, "SELECT count(*) FROM runs"), 2);
    EXPECT_EQ(rawInt(path, "SELECT count(*) FROM sqlite_master WHERE name = 'metrics'"), 0);
}

TEST(SessionMigration, ReadOnlyOpenOfAnOlderFileIsRefused) {
    TempDir dir;
    const std::string path = dir.file("old.session");
    writeVersion0(path);
    const std::string before = test::fileHash(path);
    SessionOpenOptions options;
    options.read_only = true;
    Result<SessionStore> store = SessionStore::open(path, options);
    ASSERT_FALSE(store.isOk());
    EXPECT_NE(store.error().find("must be migrated"), std::string::npos) << store.error();
    EXPECT_EQ(test::fileHash(path), before);
    EXPECT_FALSE(hasSideFiles(path));
    EXPECT_FALSE(test::pathExists(path + ".v0.bak"));
}

// ---- refused files ----------------------------------------------------------------------------------

// Opens `path` every way a client might; each must fail naming the file and `expected`, and leave the
// file's bytes unchanged with no -wal/-shm/-journal beside it.
void expectRefusedUntouched(const std::string& path, const std::string& expected) {
    const std::string before = test::fileHash(path);
    SessionOpenOptions plain;
    SessionOpenOptions read_only;
    read_only.read_only = true;
    SessionOpenOptions create;
    create.create_if_missing = true;
    SessionOpenOptions unchecked;
    unchecked.check_integrity = false;
    for (const SessionOpenOptions& options : {plain, read_only, create, unchecked}) {
        Result<SessionStore> store = SessionStore::open(path, options);
        ASSERT_FALSE(store.isOk()) << "opened " << path;
        EXPECT_NE(store.error().find(path), std::string::npos) << store.error();
        if (&options != &unchecked) {
            EXPECT_NE(store.error().find(expected), std::string::npos) << store.error();
        }
    }
    EXPECT_FALSE(SessionStore::create(path).isOk());
    EXPECT_EQ(test::fileHash(path), before);
    EXPECT_FALSE(hasSideFiles(path));
}

std::string validSessionBytes(const TempDir& dir, int runs = 6) {
    const std::string path = dir.file("valid-source.session");
    {
        SessionStore store = createStore(path);
        for (int seq = 0; seq < runs; ++seq) store.saveRun(test::makeTestRun(9, seq, 8000));
    }
    std::string bytes = test::readFileBytes(path);
    std::filesystem::remove(path);
    return bytes;
}

TEST(SessionCorruptFiles, EmptyShortZeroedAndRandomFiles) {
    TempDir dir;
    const std::string empty = dir.file("empty.session");
    test::writeFileBytes(empty, "");
    expectRefusedUntouched(empty, "empty");

    const std::string short_file = dir.file("short.session");
    test::writeFileBytes(short_file, std::string("SQLite format 3\0\x10\x00", 18));
    expectRefusedUntouched(short_file, "too short");

    const std::string zeroed = dir.file("zeroed.session");
    test::writeFileBytes(zeroed, std::string(8192, '\0'));
    expectRefusedUntouched(zeroed, "zero bytes");

    std::mt19937 rng(1234);
    std::string noise(16384, '\0');
    for (char& c : noise) c = static_cast<char>(rng());
    const std::string random = dir.file("random.session");
    test::writeFileBytes(random, noise);
    expectRefusedUntouched(random, "not an SQLite database");

    // Noise behind a valid SQLite header: SQLite itself has to find it out.
    std::string disguised = validSessionBytes(dir).substr(0, 100) + noise;
    disguised.resize(4096 * 4);
    const std::string fake = dir.file("disguised.session");
    test::writeFileBytes(fake, disguised);
    const std::string before = test::fileHash(fake);
    Result<SessionStore> store = SessionStore::open(fake);
    ASSERT_FALSE(store.isOk());
    EXPECT_NE(store.error().find(fake), std::string::npos);
    EXPECT_EQ(test::fileHash(fake), before);
    EXPECT_FALSE(hasSideFiles(fake));

    const std::string text = dir.file("notes.txt");
    test::writeFileBytes(text, "hello, this is a text file and not a session\n");
    expectRefusedUntouched(text, "not an SQLite database");
}

TEST(SessionCorruptFiles, TruncatedSessions) {
    TempDir dir;
    const std::string bytes = validSessionBytes(dir);
    ASSERT_GT(bytes.size(), 8 * 4096u);
    const std::string half = dir.file("half.session");
    test::writeFileBytes(half, bytes.substr(0, bytes.size() / 2));
    expectRefusedUntouched(half, "truncated");
    const std::string mid_page = dir.file("midpage.session");
    test::writeFileBytes(mid_page, bytes.substr(0, 4096 * 3 + 1000));
    expectRefusedUntouched(mid_page, "truncated");
    const std::string header_only = dir.file("header.session");
    test::writeFileBytes(header_only, bytes.substr(0, 100));
    expectRefusedUntouched(header_only, "truncated");
}

TEST(SessionCorruptFiles, DamagedPageFailsTheIntegrityCheck) {
    TempDir dir;
    std::string bytes = validSessionBytes(dir, 12);
    const size_t pages = bytes.size() / 4096;
    ASSERT_GT(pages, 6u);
    // Scribble over the b-tree headers of the pages after the schema, keeping the file header intact.
    for (size_t page = 2; page < pages; ++page) {
        for (size_t i = 0; i < 16; ++i) bytes[page * 4096 + i] = static_cast<char>(0x5A ^ i);
    }
    const std::string path = dir.file("damaged.session");
    test::writeFileBytes(path, bytes);
    const std::string before = test::fileHash(path);
    for (bool read_only : {false, true}) {
        SessionOpenOptions options;
        options.read_only = read_only;
        Result<SessionStore> store = SessionStore::open(path, options);
        ASSERT_FALSE(store.isOk());
        EXPECT_NE(store.error().find(path), std::string::npos);
        EXPECT_NE(store.error().find("damaged"), std::string::npos) << store.error();
        EXPECT_NE(store.error().find("not modified"), std::string::npos) << store.error();
    }
    EXPECT_EQ(test::fileHash(path), before);
    EXPECT_FALSE(hasSideFiles(path));
}

TEST(SessionCorruptFiles, ForeignAndNewerDatabases) {
    TempDir dir;
    const std::string foreign = dir.file("places.sqlite");
    rawExec(foreign,
            "CREATE TABLE moz_places(id INTEGER PRIMARY KEY, url TEXT); INSERT INTO moz_places VALUES(1, 'x');");
    expectRefusedUntouched(foreign, "not an attnlab session");
    EXPECT_NE(SessionStore::open(foreign).error().find("moz_places"), std::string::npos);

    const std::string foreign_wal = dir.file("foreign-wal.sqlite");
    rawExec(foreign_wal, "PRAGMA journal_mode = WAL; CREATE TABLE t(x); INSERT INTO t VALUES(1);");
    expectRefusedUntouched(foreign_wal, "not an attnlab session");

    // An empty SQLite database of someone else (user_version 0, no application id).
    const std::string blank = dir.file("blank.db");
    rawExec(blank, "PRAGMA page_size = 4096; VACUUM;");
    expectRefusedUntouched(blank, "not an attnlab session");

    const std::string newer = dir.file("newer.session");
    { SessionStore store = createStore(newer); }
    rawExec(newer,
            "PRAGMA journal_mode = DELETE; PRAGMA user_version = " + std::to_string(kSessionSchemaVersion + 1) + ";");
    expectRefusedUntouched(newer, "newer attnlab");
}

TEST(SessionCorruptFiles, FoldersAreRefused) {
    TempDir dir;
    Result<SessionStore> store = SessionStore::open(dir.path());
    ASSERT_FALSE(store.isOk());
    EXPECT_NE(store.error().find("folder"), std::string::npos) << store.error();
}

TEST(SessionCorruptFiles, RandomByteFlipsNeverCrash) {
    TempDir dir;
    const std::string bytes = validSessionBytes(dir);
    std::mt19937 rng(99);
    int refused = 0;
    for (int trial = 0; trial < 40; ++trial) {
        std::string damaged = bytes;
        const int flips = 1 + static_cast<int>(rng() % 20);
        for (int i = 0; i < flips; ++i) damaged[rng() % damaged.size()] ^= static_cast<char>(1 + rng() % 255);
        const std::string path = dir.file("flip" + std::to_string(trial) + ".session");
        test::writeFileBytes(path, damaged);
        const std::string before = test::fileHash(path);
        Result<SessionStore> store = SessionStore::open(path);
        if (!store.isOk()) {
            ++refused;
            EXPECT_NE(store.error().find(path), std::string::npos);
            EXPECT_EQ(test::fileHash(path), before) << store.error();
            EXPECT_FALSE(hasSideFiles(path)) << store.error();
            continue;
        }
        // Damage the quick check cannot see (inside blob data, unused space) must still not crash loads.
        store->verify();
        Result<std::vector<int64_t>> ids = store->runIds();
        if (ids.isOk()) {
            for (int64_t id : *ids) store->loadRun(id);
        }
    }
    EXPECT_GT(refused, 0);
}

// ---- disk full -------------------------------------------------------------------------------------

RunRecord bigRun(int64_t seq) {
    RunRecord run = test::makeTestRun(77, seq, 1000);
    std::mt19937 rng(static_cast<uint32_t>(seq));
    BlobRecord noise{"noise", "U8", {300000}, std::vector<uint8_t>(300000)};
    for (uint8_t& b : noise.bytes) b = static_cast<uint8_t>(rng());
    run.blobs.push_back(std::move(noise));
    return run;
}

TEST(SessionDiskFull, SaveFailsCleanlyAndTheStoreStaysUsable) {
    test::FaultVfs::install();
    TempDir dir;
    const std::string path = dir.file("full.session");
    SessionOpenOptions options;
    options.vfs_name = test::FaultVfs::kName;
    SessionStore store = createStore(path, options);
    std::vector<std::pair<int64_t, RunRecord>> saved;
    for (int seq = 0; seq < 3; ++seq) {
        RunRecord run = test::makeTestRun(77, seq);
        saved.emplace_back(*store.saveRun(run), run);
    }
    int64_t seq = 100;
    for (int64_t budget : {0, 100, 1000, 4096, 4200, 20000, 65536, 150000, 290000}) {
        SCOPED_TRACE("budget " + std::to_string(budget));
        const RunRecord run = bigRun(seq++);
        test::FaultVfs::arm(budget, SQLITE_FULL);
        Result<int64_t> id = store.saveRun(run);
        test::FaultVfs::disarm();
        ASSERT_FALSE(id.isOk());
        EXPECT_GT(test::FaultVfs::failures(), 0);
        EXPECT_NE(id.error().find("disk is full"), std::string::npos) << id.error();
        EXPECT_NE(id.error().find(path), std::string::npos) << id.error();
        EXPECT_NE(id.error().find("still held in memory"), std::string::npos) << id.error();
        // Nothing of the failed run is visible; earlier runs are intact.
        EXPECT_EQ(store.runIds()->size(), saved.size());
        EXPECT_TRUE(store.verify().isOk()) << store.verify().error();
        // The caller still has the record and can save it once space is back.
        Result<int64_t> retried = store.saveRun(run);
        ASSERT_TRUE(retried.isOk()) << retried.error();
        saved.emplace_back(*retried, run);
    }
    for (const auto& entry : saved) {
        Result<RunRecord> loaded = store.loadRun(entry.first);
        ASSERT_TRUE(loaded.isOk()) << loaded.error();
        EXPECT_EQ(test::runDifference(entry.second, *loaded), "") << "run " << entry.first;
    }
    store = createStore(dir.file("other.session"));  // closes the faulty connection
    Result<SessionStore> reopened = SessionStore::open(path);
    ASSERT_TRUE(reopened.isOk()) << reopened.error();
    EXPECT_TRUE(reopened->verify().isOk()) << reopened->verify().error();
    EXPECT_EQ(reopened->runIds()->size(), saved.size());
}

TEST(SessionDiskFull, IoErrorsAndEditsAreReported) {
    test::FaultVfs::install();
    TempDir dir;
    const std::string path = dir.file("io.session");
    SessionOpenOptions options;
    options.vfs_name = test::FaultVfs::kName;
    SessionStore store = createStore(path, options);
    const int64_t id = *store.saveRun(test::makeTestRun(1, 0));
    test::FaultVfs::arm(0, SQLITE_IOERR_WRITE);
    Result<int64_t> failed = store.saveRun(bigRun(1));
    Status renamed = store.renameRun(id, "new name");
    test::FaultVfs::disarm();
    ASSERT_FALSE(failed.isOk());
    EXPECT_NE(failed.error().find("I/O error"), std::string::npos) << failed.error();
    ASSERT_FALSE(renamed.isOk());
    EXPECT_EQ(store.loadRun(id)->name, test::makeTestRun(1, 0).name);
    EXPECT_TRUE(store.saveRun(bigRun(1)).isOk());
    EXPECT_TRUE(store.verify().isOk());
}

TEST(SessionDiskFull, CreateOnAFullDiskLeavesNothingBehind) {
    test::FaultVfs::install();
    TempDir dir;
    SessionOpenOptions options;
    options.vfs_name = test::FaultVfs::kName;
    test::FaultVfs::arm(0, SQLITE_FULL);
    Result<SessionStore> store = SessionStore::create(dir.file("new.session"), options);
    test::FaultVfs::disarm();
    ASSERT_FALSE(store.isOk());
    EXPECT_NE(store.error().find("disk is full"), std::string::npos) << store.error();
    EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

}  // namespace
}  // namespace attnlab
