// The stages of a Hugging Face tokenizer.json pipeline around the model: normalizers, pre-tokenizers,
// post-processors and decoders, each a port of the matching tokenizers component restricted to what
// ids and decoded text depend on (no offsets). Built by hf_tokenizer.cpp from the JSON.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tokenizer/regex.h"

namespace attnlab {

// One split of the text on its way to the model (tokenizers' PreTokenizedString split).
struct Piece {
    std::string text;
    int32_t token_id = -1;       // >= 0: already a token (an added token); stages leave it alone
    bool is_at_start = false;    // begins at byte 0 of the original text (Metaspace prepend_scheme "first")
};

struct MatchSpan {
    size_t begin = 0;
    size_t end = 0;
    bool is_match = false;
};

// A split pattern: a regex, or a literal string; invert swaps matches and gaps (Split's invert).
class Pattern {
public:
    static Pattern regex(std::shared_ptr<const Regex> regex, bool invert = false);
    static Pattern literal(std::string text, bool invert = false);
    // Spans covering all of text in order, each a match or a gap (tokenizers' Pattern::find_matches).
    std::vector<MatchSpan> findMatches(std::string_view text) const;
    // text with every match replaced by content.
    std::string replaceAll(std::string_view text, std::string_view content) const;

private:
    std::shared_ptr<const Regex> m_regex;
    std::string m_literal;
    bool m_invert = false;
};

enum class SplitBehavior { Removed = 1, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// Byte ranges of the non-empty pieces text splits into (tokenizers' NormalizedString::split).
std::vector<std::pair<size_t, size_t>> splitRanges(std::string_view text, const Pattern& pattern,
                                                   SplitBehavior behavior);

// --- normalizers -------------------------------------------------------------------------------

class Normalizer {
public:
    virtual ~Normalizer() = default;
    virtual void normalize(std::string& text) const = 0;
};

class UnicodeNormalizer final : public Normalizer {
public:
    explicit UnicodeNormalizer(int form) : m_form(form) {}  // a unicode::NormalForm value
    void normalize(std::string& text) const override;

private:
    int m_form;
};

class LowercaseNormalizer final : public Normalizer {
public:
    void normalize(std::string& text) const override;
};

class StripAccentsNormalizer final : public Normalizer {
public:
    void normalize(std::string& text) const override;
};

class StripNormalizer final : public Normalizer {
public:
    StripNormalizer(bool left, bool right) : m_left(left), m_right(right) {}
    void normalize(std::string& text) const override;

private:
    bool m_left;
    bool m_right;
};

class PrependNormalizer final : public Normalizer {
public:
    explicit PrependNormalizer(std::string prepend) : m_prepend(std::move(prepend)) {}
    void normalize(std::string& text) const override;

private:
    std::string m_prepend;
};

class ReplaceNormalizer final : public Normalizer {
public:
    ReplaceNormalizer(Pattern pattern, std::string content)
        : m_pattern(std::move(pattern)), m_content(std::move(content)) {}
    void normalize(std::string& text) const override;

private:
    Pattern m_pattern;
    std::string m_content;
};

class ByteLevelNormalizer final : public Normalizer {
public:
    void normalize(std::string& text) const override;
};

class SequenceNormalizer final : public Normalizer {
public:
    explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> stages) : m_stages(std::move(stages)) {}
    void normalize(std::string& text) const override;

private:
    std::vector<std::unique_ptr<Normalizer>> m_stages;
};

// --- pre-tokenizers ----------------------------------------------------------------------------

class PreTokenizer {
public:
    virtual ~PreTokenizer() = default;
    // Splits or rewrites the pieces that are not tokens yet; drops pieces that become empty.
    virtual void preTokenize(std::vector<Piece>& pieces) const = 0;
};

// Splits every non-token piece on pattern with behavior; pieces that start later lose is_at_start.
void splitPieces(std::vector<Piece>& pieces, const Pattern& pattern, SplitBehavior behavior);

class ByteLevelPreTokenizer final : public PreTokenizer {
public:
    ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex);
    void preTokenize(std::vector<Piece>& pieces) const override;
    static std::shared_ptr<const Regex> gpt2Regex();

private:
    bool m_add_prefix_space;
    bool m_use_regex;
};

class SplitPreTokenizer final : public PreTokenizer {
public:
    SplitPreTokenizer(Pattern pattern, SplitBehavior behavior) : m_pattern(std::move(pattern)), m_behavior(behavior) {}
    void preTokenize(std::vector<Piece>& pieces) const override;

private:
    Pattern m_pattern;
    SplitBehavior m_behavior;
};

enum class PrependScheme { Always = 1, First, Never };

class MetaspacePreTokenizer final : public PreTokenizer {
public:
    MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split);
    void preTokenize(std::vector<Piece>& pieces) const override;

private:
    std::string m_replacement;
    PrependScheme m_scheme;
    bool m_split;
};

class SequencePreTokenizer final : public PreTokenizer {
public:
    explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> stages) : m_stages(std::move(stages)) {}
    void preTokenize(std::vector<Piece>& pieces) const override;

private:
    std::vector<std::unique_ptr<PreTokenizer>> m_stages;
};

// --- post-processors (applied only when add_special_tokens) ------------------------------------

class PostProcessor {
public:
    virtual ~PostProcessor() = default;
    virtual void process(std::vector<int32_t>& ids) const = 0;
};

// TemplateProcessing's single-sequence template with the ids of its special tokens resolved.
// Roberta/BertProcessing are the template [cls] $A [sep].
class TemplatePostProcessor final : public PostProcessor {
public:
    struct Item {
        bool is_sequence = false;    // $A
        std::vector<int32_t> ids;    // the special token's ids otherwise
    };
    explicit TemplatePostProcessor(std::vector<Item> items) : m_items(std::move(items)) {}
    void process(std::vector<int32_t>& ids) const override;

private:
    std::vector<Item> m_items;
};

class SequencePostProcessor final : public PostProcessor {
public:
    explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> stages) : m_stages(std::move(stages)) {}
    void process(std::vector<int32_t>& ids) const override;

private:
    std::vector<std::unique_ptr<PostProcessor>> m_stages;
};

// --- decoders ----------------------------------------------------------------------------------

class Decoder {
public:
    virtual ~Decoder() = default;
    // tokenizers' decode_chain: token strings in, token strings out; the caller joins the result.
    // Strings may hold invalid UTF-8 between stages only where noted.
    virtual void decodeChain(std::vector<std::string>& tokens) const = 0;
};

class ByteLevelDecoder final : public Decoder {
public:
    void decodeChain(std::vector<std::string>& tokens) const override;
};

class ReplaceDecoder final : public Decoder {
public:
    ReplaceDecoder(Pattern pattern, std::string content)
        : m_pattern(std::move(pattern)), m_content(std::move(content)) {}
    void decodeChain(std::vector<std::string>& tokens) const override;

private:
    Pattern m_pattern;
    std::string m_content;
};

class ByteFallbackDecoder final : public Decoder {
public:
    void decodeChain(std::vector<std::string>& tokens) const override;
};

class FuseDecoder final : public Decoder {
public:
    void decodeChain(std::vector<std::string>& tokens) const override;
};

class StripDecoder final : public Decoder {
public:
    StripDecoder(std::string content, size_t start, size_t stop)
        : m_content(std::move(content)), m_start(start), m_stop(stop) {}
    void decodeChain(std::vector<std::string>& tokens) const override;

private:
    std::string m_content;  // one character
    size_t m_start;
    size_t m_stop;
};

class MetaspaceDecoder final : public Decoder {
public:
    MetaspaceDecoder(std::string replacement, PrependScheme scheme)
        : m_replacement(std::move(replacement)), m_scheme(scheme) {}
    void decodeChain(std::vector<std::string>& tokens) const override;

private:
    std::string m_replacement;
    PrependScheme m_scheme;
};

class SequenceDecoder final : public Decoder {
public:
    explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> stages) : m_stages(std::move(stages)) {}
    void decodeChain(std::vector<std::string>& tokens) const override;

private:
    std::vector<std::unique_ptr<Decoder>> m_stages;
};

}  // namespace attnlab
