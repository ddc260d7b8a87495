// Test-only helper for the crash and concurrency tests: opens (or creates) a session and saves test runs
// in a loop, printing "saved <id>" to stdout (flushed) after each saveRun returns.
//   session_writer SESSION_FILE COUNT SEED [MAX_BLOB_BYTES]
// Exit status: 0 after COUNT saves, 2 if the session cannot be opened, 3 if a save fails.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/session/session_store.h"
#include "tests/session/session_test_util.h"

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s SESSION_FILE COUNT SEED [MAX_BLOB_BYTES]\n", argv[0]);
        return 1;
    }
    const std::string path = argv[1];
    const long long count = std::atoll(argv[2]);
    const unsigned long long seed = std::strtoull(argv[3], nullptr, 10);
    const size_t max_blob_bytes = argc > 4 ? static_cast<size_t>(std::atoll(argv[4])) : 16384;

    attnlab::SessionOpenOptions options;
    options.create_if_missing = true;
    attnlab::Result<attnlab::SessionStore> store = attnlab::SessionStore::open(path, options);
    if (!store) {
        std::fprintf(stderr, "error: %s\n", store.error().c_str());
        return 2;
    }
    for (long long seq = 0; seq < count; ++seq) {
        attnlab::Result<int64_t> id = store->saveRun(attnlab::test::makeTestRun(seed, seq, max_blob_bytes));
        if (!id) {
            std::fprintf(stderr, "error: %s\n", id.error().c_str());
            return 3;
        }
        std::printf("saved %lld\n", static_cast<long long>(*id));
        std::fflush(stdout);
    }
    return 0;
}
