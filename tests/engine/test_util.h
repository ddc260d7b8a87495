// Helpers shared by the engine tests: fixture locations and temporary directories.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

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
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
    const std::string& path() const { return m_path; }

private:
    std::string m_path;
};

}  // namespace attnlab::test
