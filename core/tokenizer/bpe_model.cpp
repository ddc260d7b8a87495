#include "core/tokenizer/bpe_model.h"

#include <algorithm>
#include <cstdio>
#include <queue>

#include "core/tokenizer/unicode.h"

namespace attnlab {

namespace {

constexpr size_t kMaxCachedWordBytes = 256;
constexpr size_t kMaxCacheEntries = 200000;

struct Symbol {
    int32_t id = 0;
    int32_t prev = -1;
    int32_t next = -1;
    uint32_t byte_length = 0;  // 0 marks a symbol merged into its left neighbour
};

struct QueuedMerge {
    int32_t rank = 0;
    int32_t pos = 0;
    int32_t new_id = 0;
};

// std::priority_queue pops the "largest": make that the lowest rank, then the leftmost position.
struct QueuedMergeLater {
    bool operator()(const QueuedMerge& a, const QueuedMerge& b) const {
        if (a.rank != b.rank) return a.rank > b.rank;
        return a.pos > b.pos;
    }
};

}  // namespace

Result<std::unique_ptr<BpeModel>> BpeModel::create(BpeConfig config) {
    using R = Result<std::unique_ptr<BpeModel>>;
    std::unique_ptr<BpeModel> model(new BpeModel());
    int32_t max_id = -1;
    model->m_tokens.reserve(config.vocab.size());
    for (auto& [token, id] : config.vocab) {
        if (id < 0) return R::fail("model vocab gives token '" + token + "' the negative id " + std::to_string(id));
        max_id = std::max(max_id, id);
        model->m_tokens.push_back(std::move(token));
    }
    model->m_id_to_token.assign(static_cast<size_t>(max_id + 1), nullptr);
    model->m_vocab.reserve(model->m_tokens.size() * 2);
    for (size_t i = 0; i < model->m_tokens.size(); ++i) {
        const int32_t id = config.vocab[i].second;
        model->m_vocab[model->m_tokens[i]] = id;
        if (!model->m_id_to_token[id]) model->m_id_to_token[id] = &model->m_tokens[i];
    }

    const size_t prefix_length = config.continuing_subword_prefix.size();
    model->m_merges.reserve(config.merges.size() * 2);
    for (size_t rank = 0; rank < config.merges.size(); ++rank) {
        const auto& [a, b] = config.merges[rank];
        const auto a_id = model->tokenToId(a);
        const auto b_id = model->tokenToId(b);
        if (!a_id || !b_id) {
            return R::fail("model merge " + std::to_string(rank) + " ('" + a + "', '" + b + "') names '" +
                           (a_id ? b : a) + "', which is not in the vocab");
        }
        if (b.size() < prefix_length) {
            return R::fail("model merge " + std::to_string(rank) + " lacks the continuing_subword_prefix");
        }
        const std::string merged = a + b.substr(prefix_length);
        const auto new_id = model->tokenToId(merged);
        if (!new_id) {
            return R::fail("model merge " + std::to_string(rank) + " ('" + a + "', '" + b + "') makes '" + merged +
                           "', which is not in the vocab");
        }
        // Later duplicates win, as when tokenizers collects the merges into a HashMap.
        model->m_merges[pairKey(*a_id, *b_id)] = MergeTarget{static_cast<int32_t>(rank), *new_id};
    }

    model->m_byte_ids.fill(-1);
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof(name), "<0x%02X>", b);
        if (auto id = model->tokenToId(name)) model->m_byte_ids[b] = *id;
    }
    if (config.unk_token) {
        model->m_unk_id = model->tokenToId(*config.unk_token);
        if (!model->m_unk_id) return R::fail("model unk_token '" + *config.unk_token + "' is not in the vocab");
    }
    model->m_continuing_subword_prefix = std::move(config.continuing_subword_prefix);
    model->m_end_of_word_suffix = std::move(config.end_of_word_suffix);
    model->m_fuse_unk = config.fuse_unk;
    model->m_byte_fallback = config.byte_fallback;
    model->m_ignore_merges = config.ignore_merges;
    return model;
}

std::optional<int32_t> BpeModel::tokenToId(std::string_view token) const {
    const auto it = m_vocab.find(token);
    if (it == m_vocab.end()) return std::nullopt;
    return it->second;
}

const std::string* BpeModel::idToToken(int32_t id) const {
    if (id < 0 || id >= static_cast<int32_t>(m_id_to_token.size())) return nullptr;
    return m_id_to_token[id];
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    if (m_ignore_merges) {
        if (auto id = tokenToId(word)) {
            out.push_back(*id);
            return;
        }
    }
    const bool cacheable = word.size() <= kMaxCachedWordBytes;
    if (cacheable) {
        std::lock_guard<std::mutex> lock(m_cache_mutex);
        const auto it = m_cache.find(std::string(word));
        if (it != m_cache.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    const size_t first = out.size();
    mergeWord(word, out);
    if (cacheable) {
        std::lock_guard<std::mutex> lock(m_cache_mutex);
        if (m_cache.size() >= kMaxCacheEntries) m_cache.clear();
        m_cache.emplace(std::string(word), std::vector<int32_t>(out.begin() + first, out.end()));
    }
}

void BpeModel::mergeWord(std::string_view word, std::vector<int32_t>& out) const {
    // Initial symbols: one per character, as tokenizers' BPE::merge_word builds them.
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    auto addSymbol = [&symbols](int32_t id, size_t byte_length) {
        Symbol s;
        s.id = id;
        s.byte_length = static_cast<uint32_t>(byte_length);
        s.prev = static_cast<int32_t>(symbols.size()) - 1;
        s.next = -1;
        if (!symbols.empty()) symbols.back().next = static_cast<int32_t>(symbols.size());
        symbols.push_back(s);
    };
    // tokenizers holds back an unknown run so consecutive unknowns can fuse into one unk token.
    bool has_pending_unk = false;
    size_t pending_unk_length = 0;
    std::string piece;
    for (size_t pos = 0; pos < word.size();) {
        size_t invalid_length = 0;
        const size_t valid_length = unicode::sequenceLength(word, pos, &invalid_length);
        const size_t char_length = valid_length > 0 ? valid_length : invalid_length;
        const bool is_first = pos == 0;
        const bool is_last = pos + char_length >= word.size();
        piece.clear();
        if (!is_first) piece += m_continuing_subword_prefix;
        piece.append(word.substr(pos, char_length));
        if (is_last) piece += m_end_of_word_suffix;
        pos += char_length;

        if (auto id = tokenToId(piece)) {
            if (has_pending_unk) {
                addSymbol(*m_unk_id, pending_unk_length);
                has_pending_unk = false;
            }
            addSymbol(*id, char_length);
            continue;
        }
        if (m_byte_fallback) {
            bool all_present = true;
            for (char c : piece) all_present = all_present && m_byte_ids[static_cast<uint8_t>(c)] >= 0;
            if (all_present) {
                for (char c : piece) addSymbol(m_byte_ids[static_cast<uint8_t>(c)], 1);
                continue;
            }
        }
        if (m_unk_id) {
            if (has_pending_unk && m_fuse_unk) {
                pending_unk_length += char_length;
            } else {
                if (has_pending_unk) addSymbol(*m_unk_id, pending_unk_length);
                has_pending_unk = true;
                pending_unk_length = char_length;
            }
        }
        // Without unk and byte fallback an unknown character is dropped, as in tokenizers.
    }
    if (has_pending_unk) addSymbol(*m_unk_id, pending_unk_length);

    std::priority_queue<QueuedMerge, std::vector<QueuedMerge>, QueuedMergeLater> queue;
    auto findMerge = [this](int32_t a, int32_t b) -> const MergeTarget* {
        const auto it = m_merges.find(pairKey(a, b));
        return it == m_merges.end() ? nullptr : &it->second;
    };
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
        if (const MergeTarget* m = findMerge(symbols[i].id, symbols[i + 1].id)) {
            queue.push(QueuedMerge{m->rank, static_cast<int32_t>(i), m->new_id});
        }
    }
    while (!queue.empty()) {
        const QueuedMerge top = queue.top();
        queue.pop();
        Symbol& current = symbols[top.pos];
        if (current.byte_length == 0 || current.next < 0) continue;
        const int32_t next_pos = current.next;
        const Symbol right = symbols[next_pos];
        const MergeTarget* still = findMerge(current.id, right.id);
        if (!still || still->new_id != top.new_id) continue;  // a stale entry

        current.id = top.new_id;
        current.byte_length += right.byte_length;
        current.next = right.next;
        symbols[next_pos].byte_length = 0;
        if (right.next >= 0) symbols[right.next].prev = top.pos;

        if (current.prev >= 0) {
            if (const MergeTarget* m = findMerge(symbols[current.prev].id, current.id)) {
                queue.push(QueuedMerge{m->rank, current.prev, m->new_id});
            }
        }
        if (current.next >= 0) {
            if (const MergeTarget* m = findMerge(current.id, symbols[current.next].id)) {
                queue.push(QueuedMerge{m->rank, top.pos, m->new_id});
            }
        }
    }
    for (const Symbol& s : symbols) {
        if (s.byte_length != 0) out.push_back(s.id);
    }
}

}  // namespace attnlab
