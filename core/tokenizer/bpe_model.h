// The BPE model of Hugging Face tokenizers (models/bpe): one pre-token in, ids out. Merges are
// applied lowest rank first, leftmost on ties, exactly as tokenizers' Word::merge_all does.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/util/result.h"

namespace attnlab {

struct BpeConfig {
    std::vector<std::pair<std::string, int32_t>> vocab;
    std::vector<std::pair<std::string, std::string>> merges;  // in rank order
    std::optional<std::string> unk_token;
    std::string continuing_subword_prefix;
    std::string end_of_word_suffix;
    bool fuse_unk = false;
    bool byte_fallback = false;
    bool ignore_merges = false;
};

class BpeModel {
public:
    // Fails (message without a file name) when a merge names a token missing from the vocab.
    static Result<std::unique_ptr<BpeModel>> create(BpeConfig config);

    // Appends the ids of one pre-token. Thread-safe (the per-word cache is locked).
    void tokenize(std::string_view word, std::vector<int32_t>& out) const;

    std::optional<int32_t> tokenToId(std::string_view token) const;
    // nullptr for ids outside the vocab.
    const std::string* idToToken(int32_t id) const;
    int32_t idLimit() const { return static_cast<int32_t>(m_id_to_token.size()); }  // max id + 1
    bool hasByteFallback() const { return m_byte_fallback; }

private:
    BpeModel() = default;
    void mergeWord(std::string_view word, std::vector<int32_t>& out) const;

    struct MergeTarget {
        int32_t rank = 0;
        int32_t new_id = 0;
    };
    static uint64_t pairKey(int32_t a, int32_t b) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
    }

    std::vector<std::string> m_tokens;                      // every vocab entry; never resized after create()
    std::vector<const std::string*> m_id_to_token;          // nullptr for ids the vocab skips
    std::unordered_map<std::string_view, int32_t> m_vocab;  // views into m_tokens
    std::unordered_map<uint64_t, MergeTarget> m_merges;
    std::array<int32_t, 256> m_byte_ids{};                   // <0xNN> tokens for byte_fallback, -1 if absent
    std::optional<int32_t> m_unk_id;
    std::string m_continuing_subword_prefix;
    std::string m_end_of_word_suffix;
    bool m_fuse_unk = false;
    bool m_byte_fallback = false;
    bool m_ignore_merges = false;

    mutable std::mutex m_cache_mutex;
    mutable std::unordered_map<std::string, std::vector<int32_t>> m_cache;
};

}  // namespace attnlab
