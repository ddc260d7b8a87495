#include "core/tokenizer/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include "core/tokenizer/unicode.h"

namespace attnlab {

namespace {

const char kMetaspace[] = "\xE2\x96\x81";  // U+2581, SentencePiece's stand-in for a space

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer() : m_processor(std::make_unique<sentencepiece::SentencePieceProcessor>()) {}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

Result<std::unique_ptr<Tokenizer>> SentencePieceTokenizer::load(const std::string& path) {
    using R = Result<std::unique_ptr<Tokenizer>>;
    std::unique_ptr<SentencePieceTokenizer> tokenizer(new SentencePieceTokenizer());
    const sentencepiece::util::Status status = tokenizer->m_processor->Load(path);
    if (!status.ok()) return R::fail(path + ": not a SentencePiece model (" + status.ToString() + ")");
    return R(std::unique_ptr<Tokenizer>(std::move(tokenizer)));
}

std::vector<int32_t> SentencePieceTokenizer::encode(const std::string& text, bool add_special_tokens) const {
    std::vector<int> pieces;
    m_processor->Encode(unicode::toValidUtf8(text), &pieces).IgnoreError();
    std::vector<int32_t> ids;
    ids.reserve(pieces.size() + 1);
    if (add_special_tokens && m_processor->bos_id() >= 0) ids.push_back(m_processor->bos_id());
    ids.insert(ids.end(), pieces.begin(), pieces.end());
    return ids;
}

std::string SentencePieceTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
    (void)skip_special_tokens;  // SentencePiece never renders control pieces
    std::vector<int> valid;
    valid.reserve(ids.size());
    for (int32_t id : ids) {
        if (id >= 0 && id < m_processor->GetPieceSize()) valid.push_back(id);
    }
    std::string text;
    m_processor->Decode(valid, &text).IgnoreError();
    return text;
}

std::string SentencePieceTokenizer::tokenText(int32_t id) const {
    if (id < 0 || id >= m_processor->GetPieceSize()) return std::string();
    const std::string& piece = m_processor->IdToPiece(id);
    if (m_processor->IsByte(id) && piece.size() == 6) {
        const std::string bytes(1, static_cast<char>(std::stoul(piece.substr(3, 2), nullptr, 16)));
        return unicode::escapeInvalidUtf8(bytes);
    }
    std::string text;
    text.reserve(piece.size());
    for (size_t pos = 0; pos < piece.size();) {
        if (piece.compare(pos, 3, kMetaspace) == 0) {
            text.push_back(' ');
            pos += 3;
        } else {
            text.push_back(piece[pos++]);
        }
    }
    return unicode::escapeInvalidUtf8(text);
}

int32_t SentencePieceTokenizer::vocabSize() const { return m_processor->GetPieceSize(); }

std::optional<int32_t> SentencePieceTokenizer::tokenToId(const std::string& token) const {
    const int id = m_processor->PieceToId(token);
    // PieceToId answers unk_id for unknown pieces.
    if (id < 0 || (id == m_processor->unk_id() && m_processor->IdToPiece(id) != token)) return std::nullopt;
    return id;
}

bool SentencePieceTokenizer::isSpecial(int32_t id) const {
    if (id < 0 || id >= m_processor->GetPieceSize()) return false;
    return m_processor->IsControl(id) || m_processor->IsUnknown(id);
}

}  // namespace attnlab
