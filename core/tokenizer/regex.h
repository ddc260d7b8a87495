// PCRE2 (UTF + UCP, JIT when available) standing in for the Oniguruma regexes Hugging Face tokenizers
// use. The one semantic gap that matters for tokenizer patterns is patched when compiling: Oniguruma's
// Unicode \s also matches U+0085 (NEL), PCRE2's does not.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/util/result.h"

namespace attnlab {

class Regex {
public:
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    static Result<std::shared_ptr<const Regex>> compile(const std::string& pattern);

    // Non-overlapping matches, left to right, as byte ranges [begin, end). text must be valid UTF-8.
    // Thread-safe.
    std::vector<std::pair<size_t, size_t>> findAll(std::string_view text) const;

    const std::string& pattern() const { return m_pattern; }

private:
    Regex() = default;

    std::string m_pattern;
    void* m_code = nullptr;  // pcre2_code_8*, kept out of the header
};

}  // namespace attnlab
