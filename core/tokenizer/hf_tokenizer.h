// Tokenizer for Hugging Face tokenizer.json files with a BPE model. The encode pipeline follows
// tokenizers' TokenizerImpl::encode: split on added tokens (raw text, then normalized text),
// pre-tokenize, BPE per pre-token, post-process when add_special_tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tokenizer/bpe_model.h"
#include "core/tokenizer/hf_pipeline.h"
#include "core/tokenizer/tokenizer.h"

namespace attnlab {

class HfTokenizer final : public Tokenizer {
public:
    // source names the file in error messages ("<source>: pre_tokenizer type 'X' is not supported").
    static Result<std::unique_ptr<Tokenizer>> fromJsonText(const std::string& json_text, const std::string& source);

    std::vector<int32_t> encode(const std::string& text, bool add_special_tokens) const override;
    std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const override;
    std::string tokenText(int32_t id) const override;
    int32_t vocabSize() const override;
    std::optional<int32_t> tokenToId(const std::string& token) const override;
    bool isSpecial(int32_t id) const override;

    struct AddedToken {
        std::string content;
        int32_t id = -1;
        bool special = false;
        bool lstrip = false;
        bool rstrip = false;
        bool single_word = false;
        bool normalized = true;
        // What decode hands the decoder: the normalized form for normalized tokens (tokenizers >= 0.20
        // decodes those from its normalized cache so the decoder can invert e.g. Prepend), else content.
        std::string decode_text;
    };

    // Leftmost-longest, non-overlapping matching of added tokens (tokenizers uses Aho-Corasick with
    // MatchKind::LeftmostLongest); a byte trie is enough for the few hundred tokens models add.
    class AddedTokenTrie {
    public:
        AddedTokenTrie();
        void add(const std::string& pattern, int32_t token_index);
        bool empty() const { return m_nodes.size() == 1; }
        struct Match {
            size_t begin = 0;
            size_t end = 0;
            int32_t token_index = -1;
        };
        std::vector<Match> findAll(std::string_view text) const;

    private:
        struct Node {
            std::vector<std::pair<uint8_t, int32_t>> children;  // sorted by byte
            int32_t token_index = -1;
        };
        int32_t child(int32_t node, uint8_t byte) const;
        std::vector<Node> m_nodes;
        std::array<bool, 256> m_first_bytes{};
    };

private:
    friend class HfTokenizerLoader;
    HfTokenizer() = default;

    void splitOnAddedTokens(std::vector<Piece>& pieces, const AddedTokenTrie& trie, bool normalize) const;
    const AddedToken* addedTokenById(int32_t id) const;

    std::unique_ptr<BpeModel> m_model;
    std::unique_ptr<Normalizer> m_normalizer;
    std::unique_ptr<PreTokenizer> m_pre_tokenizer;
    std::unique_ptr<PostProcessor> m_post_processor;
    std::unique_ptr<Decoder> m_decoder;
    std::vector<AddedToken> m_added_tokens;
    std::unordered_map<std::string, int32_t> m_added_by_content;  // content -> index in m_added_tokens
    std::unordered_map<int32_t, int32_t> m_added_by_id;           // id -> index in m_added_tokens
    AddedTokenTrie m_raw_trie;         // tokens with normalized == false, matched on the raw text
    AddedTokenTrie m_normalized_trie;  // tokens with normalized == true, matched on normalized text
    bool m_is_byte_level = false;      // model tokens are GPT-2 byte stand-ins (for tokenText)
    std::string m_metaspace = "\xE2\x96\x81";  // U+2581, shown as a space by tokenText otherwise
};

}  // namespace attnlab
