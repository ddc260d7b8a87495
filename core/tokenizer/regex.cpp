#include "core/tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace attnlab {

namespace {

// Oniguruma's Unicode \s is PCRE2's \s plus U+0085; rewrite \s and \S accordingly.
std::string patchWhitespaceClasses(const std::string& pattern) {
    std::string out;
    out.reserve(pattern.size() + 16);
    bool in_class = false;
    for (size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '\\' && i + 1 < pattern.size()) {
            const char next = pattern[i + 1];
            if (next == 's') {
                out += in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
            } else if (next == 'S' && !in_class) {
                out += "[^\\s\\x{85}]";
            } else {
                out.push_back(c);
                out.push_back(next);
            }
            ++i;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = true;
            out.push_back(c);
            // A ']' right after '[' or '[^' is a literal member of the class.
            if (i + 1 < pattern.size() && pattern[i + 1] == '^') out.push_back(pattern[++i]);
            if (i + 1 < pattern.size() && pattern[i + 1] == ']') out.push_back(pattern[++i]);
            continue;
        }
        if (in_class && c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {
            const size_t close = pattern.find(":]", i + 2);
            if (close != std::string::npos) {
                out.append(pattern, i, close + 2 - i);
                i = close + 1;
                continue;
            }
        }
        if (in_class && c == ']') in_class = false;
        out.push_back(c);
    }
    return out;
}

struct MatchScratch {
    pcre2_match_data* match_data = nullptr;
    pcre2_match_context* context = nullptr;
    pcre2_jit_stack* jit_stack = nullptr;
    MatchScratch() {
        match_data = pcre2_match_data_create(4, nullptr);
        context = pcre2_match_context_create(nullptr);
        jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
        if (context && jit_stack) pcre2_jit_stack_assign(context, nullptr, jit_stack);
    }
    ~MatchScratch() {
        pcre2_jit_stack_free(jit_stack);
        pcre2_match_context_free(context);
        pcre2_match_data_free(match_data);
    }
};

MatchScratch& scratch() {
    thread_local MatchScratch s;
    return s;
}

}  // namespace

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(m_code)); }

Result<std::shared_ptr<const Regex>> Regex::compile(const std::string& pattern) {
    const std::string patched = patchWhitespaceClasses(pattern);
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(patched.data()), patched.size(),
                                     PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
    if (!code) {
        PCRE2_UCHAR buffer[256];
        pcre2_get_error_message(error_code, buffer, sizeof(buffer));
        return Result<std::shared_ptr<const Regex>>::fail("regex '" + pattern + "' does not compile: " +
                                                          reinterpret_cast<const char*>(buffer));
    }
    std::shared_ptr<Regex> regex(new Regex());
    regex->m_pattern = pattern;
    regex->m_code = code;
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional: without JIT pcre2_match interprets
    return std::shared_ptr<const Regex>(regex);
}

std::vector<std::pair<size_t, size_t>> Regex::findAll(std::string_view text) const {
    std::vector<std::pair<size_t, size_t>> matches;
    auto* code = static_cast<pcre2_code*>(m_code);
    MatchScratch& s = scratch();
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t offset = 0;
    while (offset <= text.size()) {
        uint32_t options = PCRE2_NO_UTF_CHECK;
        int rc = pcre2_match(code, subject, text.size(), offset, options, s.match_data, s.context);
        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
            // JIT stack exhausted on a pathological input: the interpreter keeps its frames on the heap.
            rc = pcre2_match(code, subject, text.size(), offset, options | PCRE2_NO_JIT, s.match_data, nullptr);
        }
        if (rc < 0) break;
        const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(s.match_data);
        const size_t begin = ovector[0];
        const size_t end = ovector[1];
        matches.emplace_back(begin, end);
        if (end > begin) {
            offset = end;
        } else {
            // Empty match: step over one character, as Oniguruma's iterator does.
            if (end >= text.size()) break;
            offset = end + 1;
            while (offset < text.size() && (static_cast<uint8_t>(text[offset]) & 0xC0) == 0x80) ++offset;
        }
    }
    return matches;
}

}  // namespace attnlab
