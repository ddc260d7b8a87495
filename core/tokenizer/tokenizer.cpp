#include "core/tokenizer/tokenizer.h"

#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "core/tokenizer/hf_tokenizer.h"
#include "core/tokenizer/sentencepiece_tokenizer.h"

namespace attnlab {

namespace {

bool isRegularFile(const std::string& path) {
    struct stat info {};
    return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::fromDirectory(const std::string& dir) {
    const std::string base = !dir.empty() && dir.back() == '/' ? dir : dir + "/";
    if (isRegularFile(base + "tokenizer.json")) return fromTokenizerJson(base + "tokenizer.json");
    if (isRegularFile(base + "tokenizer.model")) return fromSentencePiece(base + "tokenizer.model");
    return Result<std::unique_ptr<Tokenizer>>::fail(dir + ": has neither tokenizer.json nor tokenizer.model");
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::fromTokenizerJson(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) return Result<std::unique_ptr<Tokenizer>>::fail(path + ": cannot be opened");
    std::ostringstream text;
    text << file.rdbuf();
    if (file.bad()) return Result<std::unique_ptr<Tokenizer>>::fail(path + ": read error");
    return HfTokenizer::fromJsonText(text.str(), path);
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::fromSentencePiece(const std::string& path) {
    if (!isRegularFile(path)) return Result<std::unique_ptr<Tokenizer>>::fail(path + ": no such file");
    return SentencePieceTokenizer::load(path);
}

}  // namespace attnlab
