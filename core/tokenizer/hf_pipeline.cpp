#include "core/tokenizer/hf_pipeline.h"

#include <algorithm>

#include "core/tokenizer/unicode.h"

namespace attnlab {

// --- patterns and splitting ----------------------------------------------------------------------

Pattern Pattern::regex(std::shared_ptr<const Regex> regex, bool invert) {
    Pattern p;
    p.m_regex = std::move(regex);
    p.m_invert = invert;
    return p;
}

Pattern Pattern::literal(std::string text, bool invert) {
    Pattern p;
    p.m_literal = std::move(text);
    p.m_invert = invert;
    return p;
}

std::vector<MatchSpan> Pattern::findMatches(std::string_view text) const {
    std::vector<MatchSpan> spans;
    if (text.empty()) {
        spans.push_back(MatchSpan{0, 0, m_invert});
        return spans;
    }
    if (!m_regex && m_literal.empty()) {
        spans.push_back(MatchSpan{0, text.size(), m_invert});
        return spans;
    }
    std::vector<std::pair<size_t, size_t>> matches;
    if (m_regex) {
        matches = m_regex->findAll(text);
    } else {
        for (size_t pos = text.find(m_literal); pos != std::string_view::npos;
             pos = text.find(m_literal, pos + m_literal.size())) {
            matches.emplace_back(pos, pos + m_literal.size());
        }
    }
    size_t previous = 0;
    for (const auto& [begin, end] : matches) {
        if (previous != begin) spans.push_back(MatchSpan{previous, begin, m_invert});
        spans.push_back(MatchSpan{begin, end, !m_invert});
        previous = end;
    }
    if (previous != text.size()) spans.push_back(MatchSpan{previous, text.size(), m_invert});
    return spans;
}

std::string Pattern::replaceAll(std::string_view text, std::string_view content) const {
    std::string out;
    out.reserve(text.size());
    for (const MatchSpan& span : findMatches(text)) {
        if (span.is_match) {
            out.append(content);
        } else {
            out.append(text.substr(span.begin, span.end - span.begin));
        }
    }
    return out;
}

std::vector<std::pair<size_t, size_t>> splitRanges(std::string_view text, const Pattern& pattern,
                                                   SplitBehavior behavior) {
    const std::vector<MatchSpan> matches = pattern.findMatches(text);
    struct Split {
        size_t begin;
        size_t end;
        bool remove;
    };
    std::vector<Split> splits;
    splits.reserve(matches.size());
    switch (behavior) {
    case SplitBehavior::Isolated:
        for (const MatchSpan& m : matches) splits.push_back(Split{m.begin, m.end, false});
        break;
    case SplitBehavior::Removed:
        for (const MatchSpan& m : matches) splits.push_back(Split{m.begin, m.end, m.is_match});
        break;
    case SplitBehavior::Contiguous: {
        bool previous_match = false;
        for (const MatchSpan& m : matches) {
            if (m.is_match == previous_match && !splits.empty()) {
                splits.back().end = m.end;
            } else {
                splits.push_back(Split{m.begin, m.end, false});
            }
            previous_match = m.is_match;
        }
        break;
    }
    case SplitBehavior::MergedWithPrevious: {
        bool previous_match = false;
        for (const MatchSpan& m : matches) {
            if (m.is_match && !previous_match && !splits.empty()) {
                splits.back().end = m.end;
            } else {
                splits.push_back(Split{m.begin, m.end, false});
            }
            previous_match = m.is_match;
        }
        break;
    }
    case SplitBehavior::MergedWithNext: {
        bool previous_match = false;
        for (auto it = matches.rbegin(); it != matches.rend(); ++it) {
            if (it->is_match && !previous_match && !splits.empty()) {
                splits.back().begin = it->begin;
            } else {
                splits.push_back(Split{it->begin, it->end, false});
            }
            previous_match = it->is_match;
        }
        std::reverse(splits.begin(), splits.end());
        break;
    }
    }
    std::vector<std::pair<size_t, size_t>> ranges;
    ranges.reserve(splits.size());
    for (const Split& s : splits) {
        if (!s.remove && s.end > s.begin) ranges.emplace_back(s.begin, s.end);
    }
    return ranges;
}

void splitPieces(std::vector<Piece>& pieces, const Pattern& pattern, SplitBehavior behavior) {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 2);
    for (Piece& piece : pieces) {
        if (piece.token_id >= 0) {
            out.push_back(std::move(piece));
            continue;
        }
        for (const auto& [begin, end] : splitRanges(piece.text, pattern, behavior)) {
            Piece sub;
            sub.text = piece.text.substr(begin, end - begin);
            sub.is_at_start = piece.is_at_start && begin == 0;
            out.push_back(std::move(sub));
        }
    }
    pieces = std::move(out);
}

// --- normalizers -------------------------------------------------------------------------------

void UnicodeNormalizer::normalize(std::string& text) const {
    text = unicode::normalize(text, static_cast<unicode::NormalForm>(m_form));
}

void LowercaseNormalizer::normalize(std::string& text) const { text = unicode::toLowercase(text); }

void StripAccentsNormalizer::normalize(std::string& text) const { text = unicode::stripNonspacingMarks(text); }

void StripNormalizer::normalize(std::string& text) const {
    size_t begin = 0;
    size_t end = text.size();
    if (m_left) {
        while (begin < end) {
            size_t length = 0;
            if (!unicode::isWhitespace(unicode::decodeAt(text, begin, &length))) break;
            begin += length;
        }
    }
    if (m_right) {
        while (end > begin) {
            size_t start = end - 1;
            while (start > begin && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
            size_t length = 0;
            if (!unicode::isWhitespace(unicode::decodeAt(text, start, &length))) break;
            end = start;
        }
    }
    text = text.substr(begin, end - begin);
}

void PrependNormalizer::normalize(std::string& text) const {
    if (!text.empty()) text.insert(0, m_prepend);
}

void ReplaceNormalizer::normalize(std::string& text) const { text = m_pattern.replaceAll(text, m_content); }

void ByteLevelNormalizer::normalize(std::string& text) const {
    const auto& table = unicode::byteToUnicode();
    std::string out;
    out.reserve(text.size() * 2);
    for (char c : text) out += table[static_cast<uint8_t>(c)];
    text = std::move(out);
}

void SequenceNormalizer::normalize(std::string& text) const {
    for (const auto& stage : m_stages) stage->normalize(text);
}

// --- pre-tokenizers ----------------------------------------------------------------------------

ByteLevelPreTokenizer::ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
    : m_add_prefix_space(add_prefix_space), m_use_regex(use_regex) {}

std::shared_ptr<const Regex> ByteLevelPreTokenizer::gpt2Regex() {
    static const std::shared_ptr<const Regex> regex =
        Regex::compile(R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)").value();
    return regex;
}

void ByteLevelPreTokenizer::preTokenize(std::vector<Piece>& pieces) const {
    if (m_add_prefix_space) {
        for (Piece& piece : pieces) {
            if (piece.token_id < 0 && (piece.text.empty() || piece.text[0] != ' ')) piece.text.insert(0, " ");
        }
    }
    if (m_use_regex) splitPieces(pieces, Pattern::regex(gpt2Regex()), SplitBehavior::Isolated);
    const auto& table = unicode::byteToUnicode();
    std::string mapped;
    for (Piece& piece : pieces) {
        if (piece.token_id >= 0) continue;
        mapped.clear();
        for (char c : piece.text) mapped += table[static_cast<uint8_t>(c)];
        piece.text.swap(mapped);
    }
}

void SplitPreTokenizer::preTokenize(std::vector<Piece>& pieces) const { splitPieces(pieces, m_pattern, m_behavior); }

MetaspacePreTokenizer::MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
    : m_replacement(std::move(replacement)), m_scheme(scheme), m_split(split) {}

void MetaspacePreTokenizer::preTokenize(std::vector<Piece>& pieces) const {
    const Pattern space = Pattern::literal(" ");
    for (Piece& piece : pieces) {
        if (piece.token_id >= 0) continue;
        piece.text = space.replaceAll(piece.text, m_replacement);
        const bool starts_with_replacement = piece.text.compare(0, m_replacement.size(), m_replacement) == 0;
        const bool prepend = !starts_with_replacement && (m_scheme == PrependScheme::Always ||
                                                          (m_scheme == PrependScheme::First && piece.is_at_start));
        if (prepend) piece.text.insert(0, m_replacement);
    }
    if (m_split) splitPieces(pieces, Pattern::literal(m_replacement), SplitBehavior::MergedWithNext);
}

void SequencePreTokenizer::preTokenize(std::vector<Piece>& pieces) const {
    for (const auto& stage : m_stages) stage->preTokenize(pieces);
}

// --- post-processors ---------------------------------------------------------------------------

void TemplatePostProcessor::process(std::vector<int32_t>& ids) const {
    std::vector<int32_t> out;
    out.reserve(ids.size() + 4);
    for (const Item& item : m_items) {
        if (item.is_sequence) {
            out.insert(out.end(), ids.begin(), ids.end());
        } else {
            out.insert(out.end(), item.ids.begin(), item.ids.end());
        }
    }
    ids = std::move(out);
}

void SequencePostProcessor::process(std::vector<int32_t>& ids) const {
    for (const auto& stage : m_stages) stage->process(ids);
}

// --- decoders ----------------------------------------------------------------------------------

void ByteLevelDecoder::decodeChain(std::vector<std::string>& tokens) const {
    std::string bytes;
    for (const std::string& token : tokens) {
        // A token whose characters are not all byte stand-ins (an added token) passes through as is.
        const size_t mark = bytes.size();
        bool all_mapped = true;
        for (size_t pos = 0; pos < token.size();) {
            size_t length = 0;
            const int b = unicode::unicodeToByte(unicode::decodeAt(token, pos, &length));
            if (b < 0) {
                all_mapped = false;
                break;
            }
            bytes.push_back(static_cast<char>(b));
            pos += length;
        }
        if (!all_mapped) {
            bytes.resize(mark);
            bytes += token;
        }
    }
    tokens.assign(1, unicode::toValidUtf8(bytes));
}

void ReplaceDecoder::decodeChain(std::vector<std::string>& tokens) const {
    for (std::string& token : tokens) token = m_pattern.replaceAll(token, m_content);
}

void ByteFallbackDecoder::decodeChain(std::vector<std::string>& tokens) const {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string pending;
    auto flush = [&]() {
        if (pending.empty()) return;
        if (unicode::isValidUtf8(pending)) {
            out.push_back(pending);
        } else {
            for (size_t i = 0; i < pending.size(); ++i) out.push_back(unicode::encodeUtf8(unicode::kReplacementChar));
        }
        pending.clear();
    };
    for (std::string& token : tokens) {
        int byte = -1;
        if (token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>') {
            auto hex = [](char c) -> int {
                if (c >= '0' && c <= '9') return c - '0';
                if (c >= 'a' && c <= 'f') return c - 'a' + 10;
                if (c >= 'A' && c <= 'F') return c - 'A' + 10;
                return -1;
            };
            const int hi = hex(token[3]);
            const int lo = hex(token[4]);
            if (hi >= 0 && lo >= 0) byte = hi * 16 + lo;
        }
        if (byte >= 0) {
            pending.push_back(static_cast<char>(byte));
        } else {
            flush();
            out.push_back(std::move(token));
        }
    }
    flush();
    tokens = std::move(out);
}

void FuseDecoder::decodeChain(std::vector<std::string>& tokens) const {
    std::string joined;
    for (const std::string& token : tokens) joined += token;
    tokens.assign(1, std::move(joined));
}

void StripDecoder::decodeChain(std::vector<std::string>& tokens) const {
    for (std::string& token : tokens) {
        std::vector<std::pair<size_t, size_t>> chars;  // byte offset, length
        for (size_t pos = 0; pos < token.size();) {
            size_t length = 0;
            unicode::decodeAt(token, pos, &length);
            chars.emplace_back(pos, length);
            pos += length;
        }
        auto isContent = [&](size_t i) { return token.compare(chars[i].first, chars[i].second, m_content) == 0; };
        size_t start_cut = 0;
        for (size_t i = 0; i < m_start && i < chars.size(); ++i) {
            if (!isContent(i)) break;
            start_cut = i + 1;
        }
        size_t stop_cut = chars.size();
        for (size_t i = 0; i < m_stop && i < chars.size(); ++i) {
            const size_t index = chars.size() - i - 1;
            if (!isContent(index)) break;
            stop_cut = index;
        }
        if (stop_cut <= start_cut) {
            token.clear();
            continue;
        }
        const size_t begin = chars[start_cut].first;
        const size_t end = stop_cut < chars.size() ? chars[stop_cut].first : token.size();
        token = token.substr(begin, end - begin);
    }
}

void MetaspaceDecoder::decodeChain(std::vector<std::string>& tokens) const {
    for (size_t i = 0; i < tokens.size(); ++i) {
        const bool drop = i == 0 && m_scheme != PrependScheme::Never;
        std::string out;
        const std::string& token = tokens[i];
        for (size_t pos = 0; pos < token.size();) {
            if (token.compare(pos, m_replacement.size(), m_replacement) == 0) {
                if (!drop) out.push_back(' ');
                pos += m_replacement.size();
            } else {
                out.push_back(token[pos]);
                ++pos;
            }
        }
        tokens[i] = std::move(out);
    }
}

void SequenceDecoder::decodeChain(std::vector<std::string>& tokens) const {
    for (const auto& stage : m_stages) stage->decodeChain(tokens);
}

}  // namespace attnlab
