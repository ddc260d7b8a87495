#include "core/tokenizer/hf_tokenizer.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/tokenizer/unicode.h"

namespace attnlab {

using nlohmann::json;

namespace {

// Thrown inside the loader only; fromJsonText turns it into a Result.
class LoadError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(const std::string& message) { throw LoadError(message); }

std::string inQuotes(const std::string& s) { return "'" + s + "'"; }

// Token ids index embedding rows; anything past this is a corrupt file, not a vocabulary.
constexpr int64_t kMaxTokenId = (int64_t{1} << 24) - 1;

bool isTokenId(const json& value) {
    return value.is_number_integer() && value.get<int64_t>() >= 0 && value.get<int64_t>() <= kMaxTokenId;
}

const json& member(const json& object, const char* key, const std::string& where) {
    if (!object.is_object()) fail(where + " is not a JSON object");
    const auto it = object.find(key);
    if (it == object.end()) fail(where + " has no '" + key + "'");
    return *it;
}

std::string stringMember(const json& object, const char* key, const std::string& where) {
    const json& value = member(object, key, where);
    if (!value.is_string()) fail(where + " '" + key + "' is not a string");
    return value.get<std::string>();
}

bool boolMember(const json& object, const char* key, bool fallback, const std::string& where) {
    const auto it = object.find(key);
    if (it == object.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) fail(where + " '" + key + "' is not true or false");
    return it->get<bool>();
}

const json& arrayMember(const json& object, const char* key, const std::string& where) {
    const json& value = member(object, key, where);
    if (!value.is_array()) fail(where + " '" + key + "' is not a list");
    return value;
}

std::string typeOf(const json& object, const std::string& where) {
    if (!object.is_object()) fail(where + " is not a JSON object");
    return stringMember(object, "type", where);
}

[[noreturn]] void unsupported(const std::string& where, const std::string& type) {
    fail(where + " type " + inQuotes(type) + " is not supported");
}

std::shared_ptr<const Regex> compileRegex(const std::string& pattern, const std::string& where) {
    auto regex = Regex::compile(pattern);
    if (!regex) fail(where + ": " + regex.error());
    return regex.value();
}

// {"Regex": "..."} or {"String": "..."} (tokenizers' SplitPattern / ReplacePattern).
Pattern parsePattern(const json& object, const std::string& where, bool invert = false) {
    const json& pattern = member(object, "pattern", where);
    if (pattern.is_object() && pattern.contains("Regex") && pattern["Regex"].is_string()) {
        return Pattern::regex(compileRegex(pattern["Regex"].get<std::string>(), where), invert);
    }
    if (pattern.is_object() && pattern.contains("String") && pattern["String"].is_string()) {
        return Pattern::literal(pattern["String"].get<std::string>(), invert);
    }
    fail(where + " pattern is neither {\"Regex\": ...} nor {\"String\": ...}");
}

SplitBehavior parseBehavior(const json& object, const std::string& where, SplitBehavior fallback) {
    const auto it = object.find("behavior");
    if (it == object.end() || it->is_null()) return fallback;
    const std::string name = it->is_string() ? it->get<std::string>() : std::string("?");
    if (name == "Removed") return SplitBehavior::Removed;
    if (name == "Isolated") return SplitBehavior::Isolated;
    if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
    if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
    if (name == "Contiguous") return SplitBehavior::Contiguous;
    fail(where + " behavior " + inQuotes(name) + " is not supported");
}

PrependScheme parsePrependScheme(const json& object, const std::string& where) {
    const auto it = object.find("prepend_scheme");
    if (it != object.end() && it->is_string()) {
        const std::string name = it->get<std::string>();
        if (name == "always") return PrependScheme::Always;
        if (name == "first") return PrependScheme::First;
        if (name == "never") return PrependScheme::Never;
        fail(where + " prepend_scheme " + inQuotes(name) + " is not supported");
    }
    // Files written before prepend_scheme existed carry add_prefix_space instead.
    return boolMember(object, "add_prefix_space", true, where) ? PrependScheme::Always : PrependScheme::Never;
}

std::string parseReplacement(const json& object, const std::string& where) {
    const std::string replacement = object.contains("replacement") ? stringMember(object, "replacement", where)
                                                                   : std::string("\xE2\x96\x81");
    if (replacement.empty()) fail(where + " replacement is empty");
    return replacement;
}

std::unique_ptr<Normalizer> parseNormalizer(const json& object) {
    const std::string where = "normalizer";
    const std::string type = typeOf(object, where);
    if (type == "NFC") return std::make_unique<UnicodeNormalizer>(static_cast<int>(unicode::NormalForm::Nfc));
    if (type == "NFD") return std::make_unique<UnicodeNormalizer>(static_cast<int>(unicode::NormalForm::Nfd));
    if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(static_cast<int>(unicode::NormalForm::Nfkc));
    if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(static_cast<int>(unicode::NormalForm::Nfkd));
    if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
    if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
    if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
    if (type == "Strip") {
        return std::make_unique<StripNormalizer>(boolMember(object, "strip_left", true, where),
                                                 boolMember(object, "strip_right", true, where));
    }
    if (type == "Prepend") return std::make_unique<PrependNormalizer>(stringMember(object, "prepend", where));
    if (type == "Replace") {
        return std::make_unique<ReplaceNormalizer>(parsePattern(object, where), stringMember(object, "content", where));
    }
    if (type == "Sequence") {
        std::vector<std::unique_ptr<Normalizer>> stages;
        for (const json& stage : arrayMember(object, "normalizers", where)) stages.push_back(parseNormalizer(stage));
        return std::make_unique<SequenceNormalizer>(std::move(stages));
    }
    unsupported(where, type);
}

std::unique_ptr<PreTokenizer> parsePreTokenizer(const json& object, bool* is_byte_level) {
    const std::string where = "pre_tokenizer";
    const std::string type = typeOf(object, where);
    if (type == "ByteLevel") {
        *is_byte_level = true;
        return std::make_unique<ByteLevelPreTokenizer>(boolMember(object, "add_prefix_space", true, where),
                                                       boolMember(object, "use_regex", true, where));
    }
    if (type == "Split") {
        const bool invert = boolMember(object, "invert", false, where);
        return std::make_unique<SplitPreTokenizer>(parsePattern(object, where, invert),
                                                   parseBehavior(object, where, SplitBehavior::Isolated));
    }
    if (type == "Digits") {
        const bool individual = boolMember(object, "individual_digits", false, where);
        return std::make_unique<SplitPreTokenizer>(
            Pattern::regex(compileRegex(individual ? R"(\p{N})" : R"(\p{N}+)", where)), SplitBehavior::Isolated);
    }
    if (type == "Metaspace") {
        return std::make_unique<MetaspacePreTokenizer>(parseReplacement(object, where),
                                                       parsePrependScheme(object, where),
                                                       boolMember(object, "split", true, where));
    }
    if (type == "Whitespace") {
        // \w+|[^\w\s]+ with the Rust regex crate's Unicode \w (PCRE2's lacks marks and joiners).
        const std::string word = R"(\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D})";
        return std::make_unique<SplitPreTokenizer>(
            Pattern::regex(compileRegex("[" + word + "]+|[^" + word + R"(\s]+)", where), true), SplitBehavior::Removed);
    }
    if (type == "WhitespaceSplit") {
        return std::make_unique<SplitPreTokenizer>(Pattern::regex(compileRegex(R"(\s)", where)),
                                                   SplitBehavior::Removed);
    }
    if (type == "Punctuation" || type == "BertPreTokenizer") {
        // Rust's is_ascii_punctuation() || is_punctuation(): ASCII symbols count as punctuation too.
        auto punctuation = Pattern::regex(compileRegex(R"([\p{P}\x21-\x2F\x3A-\x40\x5B-\x60\x7B-\x7E])", where));
        auto punctuation_split = std::make_unique<SplitPreTokenizer>(
            std::move(punctuation), parseBehavior(object, where, SplitBehavior::Isolated));
        if (type == "Punctuation") return punctuation_split;
        std::vector<std::unique_ptr<PreTokenizer>> stages;
        stages.push_back(std::make_unique<SplitPreTokenizer>(Pattern::regex(compileRegex(R"(\s)", where)),
                                                             SplitBehavior::Removed));
        stages.push_back(std::move(punctuation_split));
        return std::make_unique<SequencePreTokenizer>(std::move(stages));
    }
    if (type == "Sequence") {
        std::vector<std::unique_ptr<PreTokenizer>> stages;
        for (const json& stage : arrayMember(object, "pretokenizers", where)) {
            stages.push_back(parsePreTokenizer(stage, is_byte_level));
        }
        return std::make_unique<SequencePreTokenizer>(std::move(stages));
    }
    unsupported(where, type);
}

// Returns nullptr for post-processors that do not change ids (ByteLevel).
std::unique_ptr<PostProcessor> parsePostProcessor(const json& object) {
    const std::string where = "post_processor";
    const std::string type = typeOf(object, where);
    if (type == "ByteLevel") return nullptr;
    if (type == "TemplateProcessing") {
        const json& special_tokens = member(object, "special_tokens", where);
        std::vector<TemplatePostProcessor::Item> items;
        for (const json& piece : arrayMember(object, "single", where)) {
            TemplatePostProcessor::Item item;
            if (piece.contains("Sequence")) {
                item.is_sequence = true;
            } else if (piece.contains("SpecialToken")) {
                const std::string id = stringMember(piece["SpecialToken"], "id", where + " SpecialToken");
                if (!special_tokens.is_object() || !special_tokens.contains(id)) {
                    fail(where + " template names special token " + inQuotes(id) + " missing from special_tokens");
                }
                const std::string token_where = where + " special token " + inQuotes(id);
                for (const json& value : arrayMember(special_tokens[id], "ids", token_where)) {
                    if (!isTokenId(value)) fail(where + " special token " + inQuotes(id) + " has an invalid id");
                    item.ids.push_back(value.get<int32_t>());
                }
            } else {
                fail(where + " template piece is neither Sequence nor SpecialToken");
            }
            items.push_back(std::move(item));
        }
        return std::make_unique<TemplatePostProcessor>(std::move(items));
    }
    if (type == "RobertaProcessing" || type == "BertProcessing") {
        auto idOf = [&](const char* key) {
            const json& pair = member(object, key, where);
            if (!pair.is_array() || pair.size() != 2 || !isTokenId(pair[1])) {
                fail(where + " '" + key + "' is not [token, id]");
            }
            return pair[1].get<int32_t>();
        };
        std::vector<TemplatePostProcessor::Item> items(3);
        items[0].ids = {idOf("cls")};
        items[1].is_sequence = true;
        items[2].ids = {idOf("sep")};
        return std::make_unique<TemplatePostProcessor>(std::move(items));
    }
    if (type == "Sequence") {
        std::vector<std::unique_ptr<PostProcessor>> stages;
        for (const json& stage : arrayMember(object, "processors", where)) {
            if (auto parsed = parsePostProcessor(stage)) stages.push_back(std::move(parsed));
        }
        return std::make_unique<SequencePostProcessor>(std::move(stages));
    }
    unsupported(where, type);
}

std::unique_ptr<Decoder> parseDecoder(const json& object, bool* is_byte_level, std::string* metaspace) {
    const std::string where = "decoder";
    const std::string type = typeOf(object, where);
    if (type == "ByteLevel") {
        *is_byte_level = true;
        return std::make_unique<ByteLevelDecoder>();
    }
    if (type == "Replace") {
        return std::make_unique<ReplaceDecoder>(parsePattern(object, where), stringMember(object, "content", where));
    }
    if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
    if (type == "Fuse") return std::make_unique<FuseDecoder>();
    if (type == "Strip") {
        const std::string content = stringMember(object, "content", where);
        const json& start = member(object, "start", where);
        const json& stop = member(object, "stop", where);
        if (!start.is_number_unsigned() || !stop.is_number_unsigned()) fail(where + " Strip start/stop are not counts");
        return std::make_unique<StripDecoder>(content, start.get<size_t>(), stop.get<size_t>());
    }
    if (type == "Metaspace") {
        *metaspace = parseReplacement(object, where);
        return std::make_unique<MetaspaceDecoder>(*metaspace, parsePrependScheme(object, where));
    }
    if (type == "Sequence") {
        std::vector<std::unique_ptr<Decoder>> stages;
        for (const json& stage : arrayMember(object, "decoders", where)) {
            stages.push_back(parseDecoder(stage, is_byte_level, metaspace));
        }
        return std::make_unique<SequenceDecoder>(std::move(stages));
    }
    unsupported(where, type);
}

std::unique_ptr<BpeModel> parseModel(const json& object) {
    const std::string where = "model";
    if (!object.is_object()) fail("model is missing or not a JSON object");
    // Old files omit the type; a vocab plus merges can only be BPE.
    const std::string type = object.contains("type") ? typeOf(object, where) : std::string("BPE");
    if (type != "BPE") unsupported(where, type);

    BpeConfig config;
    const json& vocab = member(object, "vocab", where);
    if (!vocab.is_object()) fail("model vocab is not a JSON object of token -> id");
    config.vocab.reserve(vocab.size());
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
        if (!isTokenId(it.value())) {
            fail("model vocab id of " + inQuotes(it.key()) + " is not an integer in 0.." + std::to_string(kMaxTokenId));
        }
        config.vocab.emplace_back(it.key(), it.value().get<int32_t>());
    }
    const auto merges_it = object.find("merges");
    if (merges_it != object.end() && !merges_it->is_null()) {
        if (!merges_it->is_array()) fail("model merges is not a list");
        config.merges.reserve(merges_it->size());
        size_t index = 0;
        for (const json& merge : *merges_it) {
            if (merge.is_string()) {
                // tokenizers splits "a b" on ' ' and wants exactly two parts.
                const std::string line = merge.get<std::string>();
                const size_t space = line.find(' ');
                if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
                    fail("model merge " + std::to_string(index) + " " + inQuotes(line) + " is not two tokens");
                }
                config.merges.emplace_back(line.substr(0, space), line.substr(space + 1));
            } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
                config.merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
            } else {
                fail("model merge " + std::to_string(index) + " is neither \"a b\" nor [\"a\", \"b\"]");
            }
            ++index;
        }
    }
    const auto optionalString = [&](const char* key) -> std::optional<std::string> {
        const auto it = object.find(key);
        if (it == object.end() || it->is_null()) return std::nullopt;
        if (!it->is_string()) fail(std::string("model ") + key + " is not a string");
        return it->get<std::string>();
    };
    config.unk_token = optionalString("unk_token");
    config.continuing_subword_prefix = optionalString("continuing_subword_prefix").value_or("");
    config.end_of_word_suffix = optionalString("end_of_word_suffix").value_or("");
    config.fuse_unk = boolMember(object, "fuse_unk", false, where);
    config.byte_fallback = boolMember(object, "byte_fallback", false, where);
    config.ignore_merges = boolMember(object, "ignore_merges", false, where);
    // dropout is a training-time regulariser; ids are those of dropout 0.

    auto model = BpeModel::create(std::move(config));
    if (!model) fail(model.error());
    return std::move(model.value());
}

}  // namespace

// --- added-token trie ----------------------------------------------------------------------------

HfTokenizer::AddedTokenTrie::AddedTokenTrie() : m_nodes(1) {}

int32_t HfTokenizer::AddedTokenTrie::child(int32_t node, uint8_t byte) const {
    const auto& children = m_nodes[node].children;
    const auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t(-1)));
    return it != children.end() && it->first == byte ? it->second : -1;
}

void HfTokenizer::AddedTokenTrie::add(const std::string& pattern, int32_t token_index) {
    if (pattern.empty()) return;
    m_first_bytes[static_cast<uint8_t>(pattern[0])] = true;
    int32_t node = 0;
    for (char c : pattern) {
        const auto byte = static_cast<uint8_t>(c);
        int32_t next = child(node, byte);
        if (next < 0) {
            next = static_cast<int32_t>(m_nodes.size());
            m_nodes.emplace_back();
            auto& children = m_nodes[node].children;
            children.insert(std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t(-1))),
                            std::make_pair(byte, next));
        }
        node = next;
    }
    m_nodes[node].token_index = token_index;
}

std::vector<HfTokenizer::AddedTokenTrie::Match> HfTokenizer::AddedTokenTrie::findAll(std::string_view text) const {
    std::vector<Match> matches;
    if (empty()) return matches;
    size_t pos = 0;
    while (pos < text.size()) {
        if (!m_first_bytes[static_cast<uint8_t>(text[pos])]) {
            ++pos;
            continue;
        }
        Match best;
        int32_t node = 0;
        for (size_t i = pos; i < text.size(); ++i) {
            node = child(node, static_cast<uint8_t>(text[i]));
            if (node < 0) break;
            if (m_nodes[node].token_index >= 0) best = Match{pos, i + 1, m_nodes[node].token_index};
        }
        if (best.token_index >= 0) {
            matches.push_back(best);
            pos = best.end;
        } else {
            ++pos;
        }
    }
    return matches;
}

// --- loading -------------------------------------------------------------------------------------

class HfTokenizerLoader {
public:
    static std::unique_ptr<HfTokenizer> load(const json& root) {
        if (!root.is_object()) fail("the file is not a JSON object");
        std::unique_ptr<HfTokenizer> tokenizer(new HfTokenizer());
        HfTokenizer& t = *tokenizer;

        t.m_model = parseModel(root.contains("model") ? root["model"] : json());
        if (root.contains("normalizer") && !root["normalizer"].is_null()) {
            t.m_normalizer = parseNormalizer(root["normalizer"]);
        }
        if (root.contains("pre_tokenizer") && !root["pre_tokenizer"].is_null()) {
            t.m_pre_tokenizer = parsePreTokenizer(root["pre_tokenizer"], &t.m_is_byte_level);
        }
        if (root.contains("post_processor") && !root["post_processor"].is_null()) {
            t.m_post_processor = parsePostProcessor(root["post_processor"]);
        }
        if (root.contains("decoder") && !root["decoder"].is_null()) {
            t.m_decoder = parseDecoder(root["decoder"], &t.m_is_byte_level, &t.m_metaspace);
        }
        if (root.contains("added_tokens") && !root["added_tokens"].is_null()) {
            loadAddedTokens(t, arrayMember(root, "added_tokens", "tokenizer"));
        }
        return tokenizer;
    }

private:
    static void loadAddedTokens(HfTokenizer& t, const json& list) {
        for (const json& entry : list) {
            const std::string where = "added_tokens entry";
            HfTokenizer::AddedToken token;
            token.content = stringMember(entry, "content", where);
            if (token.content.empty()) continue;  // tokenizers ignores empty added tokens
            const json& id = member(entry, "id", where + " " + inQuotes(token.content));
            if (!isTokenId(id)) {
                fail(where + " " + inQuotes(token.content) + " has no valid id");
            }
            token.special = boolMember(entry, "special", false, where);
            token.lstrip = boolMember(entry, "lstrip", false, where);
            token.rstrip = boolMember(entry, "rstrip", false, where);
            token.single_word = boolMember(entry, "single_word", false, where);
            token.normalized = boolMember(entry, "normalized", !token.special, where);
            // A token the model already knows keeps the model's id, as in AddedVocabulary::add_tokens.
            token.id = t.m_model->tokenToId(token.content).value_or(id.get<int32_t>());
            const auto existing = t.m_added_by_content.find(token.content);
            int32_t index;
            if (existing != t.m_added_by_content.end()) {
                index = existing->second;
                t.m_added_tokens[index] = token;
            } else {
                index = static_cast<int32_t>(t.m_added_tokens.size());
                t.m_added_tokens.push_back(token);
                t.m_added_by_content[token.content] = index;
            }
            t.m_added_by_id[token.id] = index;
        }
        for (size_t i = 0; i < t.m_added_tokens.size(); ++i) {
            HfTokenizer::AddedToken& token = t.m_added_tokens[i];
            token.decode_text = token.content;
            if (token.normalized) {
                if (t.m_normalizer) t.m_normalizer->normalize(token.decode_text);
                t.m_normalized_trie.add(token.decode_text, static_cast<int32_t>(i));
            } else {
                t.m_raw_trie.add(token.content, static_cast<int32_t>(i));
            }
        }
    }
};

Result<std::unique_ptr<Tokenizer>> HfTokenizer::fromJsonText(const std::string& json_text, const std::string& source) {
    using R = Result<std::unique_ptr<Tokenizer>>;
    try {
        const json root = json::parse(json_text);
        return R(std::unique_ptr<Tokenizer>(HfTokenizerLoader::load(root)));
    } catch (const LoadError& e) {
        return R::fail(source + ": " + e.what());
    } catch (const json::exception& e) {
        return R::fail(source + ": not a valid tokenizer.json (" + e.what() + ")");
    }
}

// --- encoding ------------------------------------------------------------------------------------

namespace {

uint32_t lastCodePoint(std::string_view text) {
    size_t start = text.size() - 1;
    while (start > 0 && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
    size_t length = 0;
    return unicode::decodeAt(text, start, &length);
}

// Byte offset where the run of whitespace that ends text begins (tokenizers' \s*$ search).
size_t trailingWhitespaceStart(std::string_view text) {
    size_t end = text.size();
    while (end > 0) {
        size_t start = end - 1;
        while (start > 0 && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
        size_t length = 0;
        if (!unicode::isWhitespace(unicode::decodeAt(text, start, &length))) break;
        end = start;
    }
    return end;
}

size_t leadingWhitespaceLength(std::string_view text) {
    size_t pos = 0;
    while (pos < text.size()) {
        size_t length = 0;
        if (!unicode::isWhitespace(unicode::decodeAt(text, pos, &length))) break;
        pos += length;
    }
    return pos;
}

}  // namespace

void HfTokenizer::splitOnAddedTokens(std::vector<Piece>& pieces, const AddedTokenTrie& trie, bool normalize) const {
    std::vector<Piece> out;
    out.reserve(pieces.size());
    for (Piece& piece : pieces) {
        if (piece.token_id >= 0) {
            out.push_back(std::move(piece));
            continue;
        }
        if (normalize && m_normalizer) m_normalizer->normalize(piece.text);
        const std::string& sentence = piece.text;
        auto pushGap = [&](size_t begin, size_t end) {
            if (end <= begin) return;
            Piece gap;
            gap.text = sentence.substr(begin, end - begin);
            gap.is_at_start = piece.is_at_start && begin == 0;
            out.push_back(std::move(gap));
        };
        // A port of AddedVocabulary::find_matches.
        size_t start_offset = 0;
        for (const AddedTokenTrie::Match& match : trie.findAll(sentence)) {
            const AddedToken& token = m_added_tokens[match.token_index];
            size_t start = match.begin;
            size_t stop = match.end;
            if (token.single_word) {
                const bool start_space = start == 0 || !unicode::isWordChar(lastCodePoint(sentence.substr(0, start)));
                size_t length = 0;
                const bool stop_space =
                    stop == sentence.size() || !unicode::isWordChar(unicode::decodeAt(sentence, stop, &length));
                if (!start_space || !stop_space) continue;
            }
            if (token.lstrip) start = std::max(trailingWhitespaceStart(sentence.substr(0, start)), start_offset);
            if (token.rstrip) stop += leadingWhitespaceLength(std::string_view(sentence).substr(stop));
            pushGap(start_offset, start);
            Piece added;
            added.text = sentence.substr(start, stop - start);
            added.token_id = token.id;
            out.push_back(std::move(added));
            start_offset = stop;
        }
        pushGap(start_offset, sentence.size());
    }
    pieces = std::move(out);
}

std::vector<int32_t> HfTokenizer::encode(const std::string& text, bool add_special_tokens) const {
    std::vector<Piece> pieces(1);
    pieces[0].text = unicode::toValidUtf8(text);
    pieces[0].is_at_start = true;
    splitOnAddedTokens(pieces, m_raw_trie, false);
    splitOnAddedTokens(pieces, m_normalized_trie, true);
    if (m_pre_tokenizer) m_pre_tokenizer->preTokenize(pieces);

    std::vector<int32_t> ids;
    ids.reserve(text.size() / 3 + 4);
    for (const Piece& piece : pieces) {
        if (piece.token_id >= 0) {
            ids.push_back(piece.token_id);
        } else {
            m_model->tokenize(piece.text, ids);
        }
    }
    if (add_special_tokens && m_post_processor) m_post_processor->process(ids);
    return ids;
}

// --- decoding and lookups ------------------------------------------------------------------------

const HfTokenizer::AddedToken* HfTokenizer::addedTokenById(int32_t id) const {
    const auto it = m_added_by_id.find(id);
    return it == m_added_by_id.end() ? nullptr : &m_added_tokens[it->second];
}

std::string HfTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int32_t id : ids) {
        if (const AddedToken* added = addedTokenById(id)) {
            if (!(skip_special_tokens && added->special)) tokens.push_back(added->decode_text);
            continue;
        }
        const std::string* token = m_model->idToToken(id);
        if (!token) continue;  // unknown ids are dropped, as tokenizers does
        if (skip_special_tokens) {
            // A special token the model also knows is still special (tokenizers checks by content).
            const auto it = m_added_by_content.find(*token);
            if (it != m_added_by_content.end() && m_added_tokens[it->second].special) continue;
        }
        tokens.push_back(*token);
    }
    if (!m_decoder) {
        std::string joined;
        for (size_t i = 0; i < tokens.size(); ++i) {
            if (i > 0) joined += ' ';
            joined += tokens[i];
        }
        return joined;
    }
    m_decoder->decodeChain(tokens);
    std::string joined;
    for (const std::string& token : tokens) joined += token;
    return joined;
}

std::string HfTokenizer::tokenText(int32_t id) const {
    if (const AddedToken* added = addedTokenById(id)) return unicode::escapeInvalidUtf8(added->content);
    const std::string* token = m_model->idToToken(id);
    if (!token) return std::string();
    std::string bytes;
    if (m_is_byte_level) {
        for (size_t pos = 0; pos < token->size();) {
            size_t length = 0;
            const int b = unicode::unicodeToByte(unicode::decodeAt(*token, pos, &length));
            if (b < 0) return unicode::escapeInvalidUtf8(*token);  // not a byte-level token: show it as is
            bytes.push_back(static_cast<char>(b));
            pos += length;
        }
        return unicode::escapeInvalidUtf8(bytes);
    }
    const auto isHex = [&](size_t i) { return std::isxdigit(static_cast<unsigned char>((*token)[i])) != 0; };
    if (m_model->hasByteFallback() && token->size() == 6 && token->compare(0, 3, "<0x") == 0 && (*token)[5] == '>' &&
        isHex(3) && isHex(4)) {
        bytes.push_back(static_cast<char>(std::stoul(token->substr(3, 2), nullptr, 16)));
        return unicode::escapeInvalidUtf8(bytes);
    }
    bytes = Pattern::literal(m_metaspace).replaceAll(*token, " ");
    return unicode::escapeInvalidUtf8(bytes);
}

int32_t HfTokenizer::vocabSize() const {
    int32_t size = m_model->idLimit();
    for (const AddedToken& token : m_added_tokens) size = std::max(size, token.id + 1);
    return size;
}

std::optional<int32_t> HfTokenizer::tokenToId(const std::string& token) const {
    const auto it = m_added_by_content.find(token);
    if (it != m_added_by_content.end()) return m_added_tokens[it->second].id;
    return m_model->tokenToId(token);
}

bool HfTokenizer::isSpecial(int32_t id) const {
    const AddedToken* added = addedTokenById(id);
    return added && added->special;
}

}  // namespace attnlab
