// Crash safety and concurrency of the session store, with a real second process: the session_writer
// helper (ATTNLAB_SESSION_WRITER_PATH) saves runs in a loop and is killed with SIGKILL at random points.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/session/session_store.h"
#include "tests/session/session_test_util.h"

#ifndef ATTNLAB_SESSION_WRITER_PATH
#error "define ATTNLAB_SESSION_WRITER_PATH as the path of the session_writer helper program"
#endif

namespace attnlab {
namespace {

constexpr size_t kWriterBlobBytes = 16384;

struct WriterProcess {
    pid_t pid = -1;
    int stdout_fd = -1;
};

WriterProcess startWriter(const std::string& path, int64_t count, uint64_t seed) {
    const std::string count_text = std::to_string(count);
    const std::string seed_text = std::to_string(seed);
    const std::string blob_text = std::to_string(kWriterBlobBytes);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return {};
    const pid_t pid = ::fork();
    if (pid == 0) {
        // Only async-signal-safe calls between fork and exec (the test runner may have threads).
        ::dup2(fds[1], STDOUT_FILENO);
        ::execl(ATTNLAB_SESSION_WRITER_PATH, "session_writer", path.c_str(), count_text.c_str(), seed_text.c_str(),
                blob_text.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(fds[1]);
    if (pid < 0) {
        ::close(fds[0]);
        return {};
    }
    return {pid, fds[0]};
}

// Reads the writer's stdout to EOF (the writer has exited or been killed) and reaps it.
std::string finishWriter(const WriterProcess& writer, int* wait_status) {
    std::string out;
    char buffer[4096];
    for (;;) {
        const ssize_t got = ::read(writer.stdout_fd, buffer, sizeof(buffer));
        if (got > 0) {
            out.append(buffer, static_cast<size_t>(got));
        } else if (got == 0 || errno != EINTR) {
            break;
        }
    }
    ::close(writer.stdout_fd);
    ::waitpid(writer.pid, wait_status, 0);
    return out;
}

// The ids of complete "saved <id>\n" lines (a line cut by the kill does not count).
std::vector<int64_t> savedIds(const std::string& output) {
    std::vector<int64_t> ids;
    size_t start = 0;
    for (size_t end; (end = output.find('\n', start)) != std::string::npos; start = end + 1) {
        const std::string line = output.substr(start, end - start);
        if (line.rfind("saved ", 0) == 0) ids.push_back(std::stoll(line.substr(6)));
    }
    return ids;
}

// Loads run `id` and checks it is exactly the run makeTestRun built for the (seed, seq) in its spec.
void expectCompleteRun(SessionStore& store, int64_t id) {
    Result<RunRecord> loaded = store.loadRun(id);
    ASSERT_TRUE(loaded.isOk()) << loaded.error();
    uint64_t seed = 0;
    int64_t seq = 0;
    ASSERT_TRUE(test::specSeedSeq(loaded->spec_json, &seed, &seq)) << loaded->spec_json;
    EXPECT_EQ(test::runDifference(test::makeTestRun(seed, seq, kWriterBlobBytes), *loaded), "") << "run " << id;
}

struct KillStats {
    int trials = 0;
    int trials_without_file = 0;
    int64_t saved_lines = 0;
    int64_t runs_checked = 0;
};

// Kills a writer `trials` times; every `trials_per_file` trials start a new session file, the others
// reopen the file the last killed writer left behind (with its -wal and -shm).
void runKillTrials(int trials, int trials_per_file, uint64_t base_seed, KillStats* stats) {
    test::TempDir dir;
    std::mt19937 rng(static_cast<uint32_t>(base_seed));
    std::string path;
    std::set<int64_t> committed;
    std::set<int64_t> checked;
    for (int trial = 0; trial < trials; ++trial) {
        SCOPED_TRACE("trial " + std::to_string(trial));
        if (trial % trials_per_file == 0) {
            path = dir.file("crash-" + std::to_string(trial) + ".session");
            committed.clear();
            checked.clear();
        }
        const WriterProcess writer = startWriter(path, 1000000, base_seed * 100000 + static_cast<uint64_t>(trial));
        ASSERT_GT(writer.pid, 0);
        // Mostly while runs are being saved; sometimes while the file is being created or opened.
        const int delay_us = rng() % 5 == 0 ? static_cast<int>(rng() % 5000) : static_cast<int>(rng() % 120000);
        ::usleep(static_cast<useconds_t>(delay_us));
        ::kill(writer.pid, SIGKILL);
        int wait_status = 0;
        const std::string output = finishWriter(writer, &wait_status);
        ASSERT_TRUE(WIFSIGNALED(wait_status) || (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0))
            << "the writer failed on its own: status " << wait_status;
        const std::vector<int64_t> saved = savedIds(output);
        committed.insert(saved.begin(), saved.end());
        stats->saved_lines += static_cast<int64_t>(saved.size());
        ++stats->trials;

        if (!test::pathExists(path)) {
            // Killed before the session file was linked into place: nothing may have been reported saved.
            ASSERT_TRUE(committed.empty());
            ++stats->trials_without_file;
            continue;
        }
        Result<SessionStore> store = SessionStore::open(path);
        ASSERT_TRUE(store.isOk()) << store.error();
        Status verified = store->verify(true);  // integrity_check == ok, every run complete, checksums
        ASSERT_TRUE(verified.isOk()) << verified.error();
        Result<std::vector<int64_t>> ids = store->runIds();
        ASSERT_TRUE(ids.isOk()) << ids.error();
        const std::set<int64_t> present(ids->begin(), ids->end());
        for (int64_t id : committed) ASSERT_TRUE(present.count(id)) << "run " << id << " was saved but is missing";
        // Runs committed just before the kill but not yet reported are allowed; they must be whole too.
        for (int64_t id : present) {
            if (checked.insert(id).second) {
                expectCompleteRun(*store, id);
                ++stats->runs_checked;
            }
        }
    }
}

TEST(SessionCrash, KillWriterAtRandomPointsFast) {
    KillStats stats;
    runKillTrials(5, 5, 11, &stats);
    std::cout << "[ stats    ] " << stats.trials << " kills, " << stats.saved_lines << " saves reported, "
              << stats.runs_checked << " runs checked\n";
}

TEST(SessionCrash, KillWriterAtRandomPointsSlow) {
    KillStats stats;
    runKillTrials(200, 20, 12, &stats);
    std::cout << "[ stats    ] " << stats.trials << " kills (" << stats.trials_without_file
              << " before the file existed), " << stats.saved_lines << " saves reported, " << stats.runs_checked
              << " runs checked\n";
    EXPECT_GT(stats.saved_lines, 0);
}

// A reader (the GUI) keeps the session open and polls while another process (the CLI) saves runs.
TEST(SessionConcurrency, ReaderWhileWriterProcessSaves) {
    test::TempDir dir;
    const std::string path = dir.file("shared.session");
    {
        Result<SessionStore> store = SessionStore::create(path);
        ASSERT_TRUE(store.isOk()) << store.error();
        ASSERT_TRUE(store->saveRun(test::makeTestRun(500, 0, kWriterBlobBytes)).isOk());
    }
    Result<SessionStore> reader = SessionStore::open(path);
    ASSERT_TRUE(reader.isOk()) << reader.error();
    const WriterProcess writer = startWriter(path, 40, 501);
    ASSERT_GT(writer.pid, 0);
    std::set<int64_t> seen;
    int polls_with_new_runs = 0;
    int wait_status = 0;
    for (int poll = 0;; ++poll) {
        Result<std::vector<RunSummary>> runs = reader->listRuns();
        ASSERT_TRUE(runs.isOk()) << runs.error();
        bool has_new = false;
        for (const RunSummary& run : *runs) {
            if (seen.insert(run.id).second) {
                has_new = true;
                expectCompleteRun(*reader, run.id);
            }
        }
        polls_with_new_runs += has_new ? 1 : 0;
        if (poll % 10 == 5) {
            SessionOpenOptions read_only;
            read_only.read_only = true;
            Result<SessionStore> second = SessionStore::open(path, read_only);
            ASSERT_TRUE(second.isOk()) << second.error();
            ASSERT_TRUE(second->listRuns().isOk());
        }
        if (::waitpid(writer.pid, &wait_status, WNOHANG) == writer.pid) break;
        ::usleep(2000);
    }
    std::string output;
    char buffer[4096];
    for (ssize_t got; (got = ::read(writer.stdout_fd, buffer, sizeof(buffer))) > 0;) output.append(buffer, got);
    ::close(writer.stdout_fd);
    ASSERT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) << "writer status " << wait_status;
    const std::vector<int64_t> saved = savedIds(output);
    EXPECT_EQ(saved.size(), 40u);
    Result<std::vector<int64_t>> ids = reader->runIds();
    ASSERT_TRUE(ids.isOk());
    EXPECT_EQ(ids->size(), 41u);
    for (int64_t id : saved) {
        if (seen.insert(id).second) expectCompleteRun(*reader, id);
    }
    EXPECT_GT(polls_with_new_runs, 1) << "the reader never saw runs arrive while the writer ran";
    EXPECT_TRUE(reader->verify().isOk());
}

// Two CLI processes saving into one session at once: the busy timeout serialises them, nothing is lost.
TEST(SessionConcurrency, TwoWriterProcesses) {
    test::TempDir dir;
    const std::string path = dir.file("two.session");
    ASSERT_TRUE(SessionStore::create(path).isOk());
    const WriterProcess first = startWriter(path, 20, 601);
    const WriterProcess second = startWriter(path, 20, 602);
    int first_status = 0;
    int second_status = 0;
    const std::vector<int64_t> first_ids = savedIds(finishWriter(first, &first_status));
    const std::vector<int64_t> second_ids = savedIds(finishWriter(second, &second_status));
    EXPECT_TRUE(WIFEXITED(first_status) && WEXITSTATUS(first_status) == 0);
    EXPECT_TRUE(WIFEXITED(second_status) && WEXITSTATUS(second_status) == 0);
    EXPECT_EQ(first_ids.size() + second_ids.size(), 40u);
    Result<SessionStore> store = SessionStore::open(path);
    ASSERT_TRUE(store.isOk()) << store.error();
    Result<std::vector<int64_t>> ids = store->runIds();
    ASSERT_TRUE(ids.isOk()) << ids.error();
    EXPECT_EQ(ids->size(), 40u);
    for (int64_t id : *ids) expectCompleteRun(*store, id);
}

// The same with two connections in one process, one per thread (the documented threading contract).
TEST(SessionConcurrency, ReaderAndWriterThreads) {
    test::TempDir dir;
    const std::string path = dir.file("threads.session");
    ASSERT_TRUE(SessionStore::create(path).isOk());
    std::atomic<bool> is_writing{true};
    std::atomic<int> writer_failures{0};
    std::atomic<int> reader_failures{0};
    std::atomic<int> reads{0};
    std::thread writer([&] {
        Result<SessionStore> store = SessionStore::open(path);
        if (!store.isOk()) {
            ++writer_failures;
        } else {
            for (int seq = 0; seq < 25; ++seq) {
                if (!store->saveRun(test::makeTestRun(700, seq, kWriterBlobBytes)).isOk()) ++writer_failures;
            }
        }
        is_writing = false;
    });
    std::thread reader([&] {
        Result<SessionStore> store = SessionStore::open(path);
        if (!store.isOk()) {
            ++reader_failures;
            return;
        }
        while (is_writing) {
            Result<std::vector<RunSummary>> runs = store->listRuns();
            if (!runs.isOk()) ++reader_failures;
            for (const RunSummary& run : runs.isOk() ? *runs : std::vector<RunSummary>()) {
                Result<RunRecord> loaded = store->loadRun(run.id);
                uint64_t seed = 0;
                int64_t seq = 0;
                if (!loaded.isOk() || !test::specSeedSeq(loaded->spec_json, &seed, &seq) ||
                    !test::runDifference(test::makeTestRun(seed, seq, kWriterBlobBytes), *loaded).empty()) {
                    ++reader_failures;
                }
            }
            ++reads;
        }
    });
    writer.join();
    reader.join();
    EXPECT_EQ(writer_failures, 0);
    EXPECT_EQ(reader_failures, 0);
    EXPECT_GT(reads, 0);
    Result<SessionStore> store = SessionStore::open(path);
    ASSERT_TRUE(store.isOk());
    EXPECT_EQ(store->runIds()->size(), 25u);
}

}  // namespace
}  // namespace attnlab
