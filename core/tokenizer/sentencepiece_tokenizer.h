// Tokenizer over a SentencePiece tokenizer.model (Llama-2 / Mistral style), following Hugging Face's
// Llama tokenizer: encode adds BOS (not EOS) when add_special_tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/tokenizer/tokenizer.h"

struct AttnlabSpmApi;

namespace attnlab {

class SentencePieceTokenizer final : public Tokenizer {
public:
    ~SentencePieceTokenizer() override;
    static Result<std::unique_ptr<Tokenizer>> load(const std::string& path);

    std::vector<int32_t> encode(const std::string& text, bool add_special_tokens) const override;
    std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const override;
    std::string tokenText(int32_t id) const override;
    int32_t vocabSize() const override;
    std::optional<int32_t> tokenToId(const std::string& token) const override;
    bool isSpecial(int32_t id) const override;

private:
    SentencePieceTokenizer() = default;
    std::string piece(int32_t id) const;

    const AttnlabSpmApi* m_api = nullptr;  // the dlopen()ed bridge (spm_bridge.h); lives for the process
    void* m_handle = nullptr;
    int32_t m_piece_size = 0;
};

}  // namespace attnlab
