// Helpers shared by the engine tests: fixture locations and temporary directories.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
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
        std::string pattern = (std::filesystem::temp_directory_path() / "attnlab-test-XXXXXX").string();
        std::vector<char> buf(pattern.begin(), pattern.end());
        buf.push_back('\0');
        m_path = mkdtemp(buf.data());
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
