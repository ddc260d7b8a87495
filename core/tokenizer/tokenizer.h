// Tokenizers: Hugging Face tokenizer.json (byte-level BPE: GPT-2 pattern, or Split regex +
// ByteLevel as in Llama-3 / Qwen2) and SentencePiece tokenizer.model (Llama-2 / Mistral style).
// Ids must equal Hugging Face tokenizers' exactly. Qt-free and torch-free.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/util/result.h"

namespace attnlab {

class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    // Opens <dir>/tokenizer.json if present, else <dir>/tokenizer.model.
    static Result<std::unique_ptr<Tokenizer>> fromDirectory(const std::string& dir);
    static Result<std::unique_ptr<Tokenizer>> fromTokenizerJson(const std::string& path);
    static Result<std::unique_ptr<Tokenizer>> fromSentencePiece(const std::string& path);

    // add_special_tokens applies the post-processor (e.g. BOS), like HF's encode(add_special_tokens=...).
    virtual std::vector<int32_t> encode(const std::string& text, bool add_special_tokens) const = 0;
    virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const = 0;
    // Human-readable text of one token for views (decoded bytes; invalid UTF-8 shown as \xNN).
    virtual std::string tokenText(int32_t id) const = 0;
    virtual int32_t vocabSize() const = 0;
    virtual std::optional<int32_t> tokenToId(const std::string& token) const = 0;
    virtual bool isSpecial(int32_t id) const = 0;
};

}  // namespace attnlab
