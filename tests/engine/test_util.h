// Helpers shared by the engine tests: fixture locations and temporary directories.
#pragma once

#include "tests/remove_tree.h"
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace attnlab::test {

inline std::string sourceDir() { return ATTNLAB_SOURCE_DIR; }
inline std::string parityDir() { return sourceDir() + "/tests/fixtures/parity"; }
inline const std::vector<std::string>& parityFamilies() {
    static const std::vector<std::string> families{"llama3", "llama_linear", "qwen2", "mistral", "gpt2"};
    return families;
}

inline std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline nlohmann::json readJson(const std::string& path) { return nlohmann::json::parse(readFile(path)); }

// A fresh directory under the system temp folder, removed when the object dies.
class TempDir {
public:
    TempDir() {
        // TMPDIR may name a folder that does not exist (seen on the GPU machine): fall back to /tmp.
        std::error_code ec;
        std::vector<std::string> bases{std::filesystem::temp_directory_path(ec).string(), "/tmp", "."};
        for (const std::string& base : bases) {
            if (base.empty()) continue;
            std::string pattern = base + "/attnlab-test-XXXXXX";
            std::vector<char> buf(pattern.begin(), pattern.end());
            buf.push_back('\0');
            if (mkdtemp(buf.data())) {
                m_path = buf.data();
                return;
            }
        }
        throw std::runtime_error("cannot create a temporary directory");
    }
    ~TempDir() { removeTree(m_path); }
    const std::string& path() const { return m_path; }

private:
    std::string m_path;
};

struct CliRun {
    int exit_code = -1;
    std::string out;
    std::string err;
};

#ifdef ATTNLAB_CLI_PATH
// Runs attnlab-cli with args, capturing stdout and stderr. posix_spawn rather than system(): no
// shell, and no fork of a process that may hold GPU state.
inline CliRun runCli(const std::vector<std::string>& args) {
    TempDir tmp;
    const std::string out_path = tmp.path() + "/out", err_path = tmp.path() + "/err";
    std::vector<std::string> argv_s{ATTNLAB_CLI_PATH};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CliRun r;
    pid_t pid = 0;
    if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) == 0) {
        int status = 0;
        waitpid(pid, &status, 0);
        r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    r.out = readFile(out_path);
    r.err = readFile(err_path);
    return r;
}
#endif

inline int lineCount(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace attnlab::test
