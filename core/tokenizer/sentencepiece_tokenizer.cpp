#include "core/tokenizer/sentencepiece_tokenizer.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

#include "core/tokenizer/spm_bridge/spm_bridge.h"
#include "core/tokenizer/unicode.h"

namespace attnlab {

namespace {

const char kMetaspace[] = "\xE2\x96\x81";  // U+2581, SentencePiece's stand-in for a space
const char kBridgeName[] = "libattnlab_spm.so";

std::string directoryOf(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? "." : path.substr(0, slash);
}

// Finds and loads the bridge once: next to the binary or library holding this code, in ../lib
// from there (build tree: bin/ and lib/), in ATTNLAB_SPM_BRIDGE, then the loader's search path.
Result<const AttnlabSpmApi*> loadBridge() {
    static std::once_flag once;
    static const AttnlabSpmApi* api = nullptr;
    static std::string error;
    std::call_once(once, [] {
        std::vector<std::string> candidates;
        if (const char* env = std::getenv("ATTNLAB_SPM_BRIDGE")) candidates.push_back(env);
        Dl_info info{};
        if (dladdr(reinterpret_cast<void*>(&loadBridge), &info) && info.dli_fname) {
            const std::string here = directoryOf(info.dli_fname);
            candidates.push_back(here + "/" + kBridgeName);
            candidates.push_back(here + "/../lib/" + kBridgeName);
            candidates.push_back(here + "/../lib/attnlab/" + kBridgeName);
        }
        candidates.push_back(kBridgeName);
        std::string tried;
        for (const std::string& c : candidates) {
            void* h = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
            if (!h) {
                const char* e = dlerror();
                tried += "\n  " + c + ": " + (e ? e : "?");
                continue;
            }
            auto entry = reinterpret_cast<AttnlabSpmApiEntry>(dlsym(h, "attnlab_spm_api"));
            const AttnlabSpmApi* a = entry ? entry() : nullptr;
            if (a && a->version == ATTNLAB_SPM_BRIDGE_VERSION) {
                api = a;
                return;
            }
            tried += "\n  " + c + ": not a compatible attnlab SentencePiece bridge";
        }
        error = std::string("the SentencePiece bridge ") + kBridgeName + " could not be loaded (tried:" + tried + ")";
    });
    if (!api) return Result<const AttnlabSpmApi*>::fail(error);
    return api;
}

}  // namespace

SentencePieceTokenizer::~SentencePieceTokenizer() {
    if (m_api && m_handle) m_api->release(m_handle);
}

Result<std::unique_ptr<Tokenizer>> SentencePieceTokenizer::load(const std::string& path) {
    using R = Result<std::unique_ptr<Tokenizer>>;
    Result<const AttnlabSpmApi*> api = loadBridge();
    if (!api) return R::fail(path + ": " + api.error());
    std::unique_ptr<SentencePieceTokenizer> tokenizer(new SentencePieceTokenizer());
    tokenizer->m_api = *api;
    char error[512] = {0};
    tokenizer->m_handle = tokenizer->m_api->load(path.c_str(), error, sizeof(error));
    if (!tokenizer->m_handle) return R::fail(path + ": not a SentencePiece model (" + std::string(error) + ")");
    tokenizer->m_piece_size = tokenizer->m_api->piece_size(tokenizer->m_handle);
    return R(std::unique_ptr<Tokenizer>(std::move(tokenizer)));
}

std::string SentencePieceTokenizer::piece(int32_t id) const {
    char buf[256];
    const size_t n = m_api->id_to_piece(m_handle, id, buf, sizeof(buf));
    if (n < sizeof(buf)) return std::string(buf, n);
    std::string big(n + 1, '\0');
    m_api->id_to_piece(m_handle, id, big.data(), big.size());
    big.resize(n);
    return big;
}

std::vector<int32_t> SentencePieceTokenizer::encode(const std::string& text, bool add_special_tokens) const {
    const std::string valid = unicode::toValidUtf8(text);
    int32_t* raw = nullptr;
    const long n = m_api->encode(m_handle, valid.data(), valid.size(), &raw);
    std::vector<int32_t> ids;
    const int32_t bos = m_api->bos_id(m_handle);
    if (add_special_tokens && bos >= 0) ids.push_back(bos);
    if (n > 0) ids.insert(ids.end(), raw, raw + n);
    if (raw) m_api->free_buffer(raw);
    return ids;
}

std::string SentencePieceTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
    (void)skip_special_tokens;  // SentencePiece never renders control pieces
    std::vector<int32_t> valid;
    valid.reserve(ids.size());
    for (int32_t id : ids)
        if (id >= 0 && id < m_piece_size) valid.push_back(id);
    size_t size = 0;
    char* out = m_api->decode(m_handle, valid.data(), valid.size(), &size);
    std::string text = out ? std::string(out, size) : std::string();
    if (out) m_api->free_buffer(out);
    return text;
}

std::string SentencePieceTokenizer::tokenText(int32_t id) const {
    if (id < 0 || id >= m_piece_size) return std::string();
    const std::string p = piece(id);
    if (m_api->is_byte(m_handle, id) && p.size() == 6) {
        const std::string bytes(1, static_cast<char>(std::stoul(p.substr(3, 2), nullptr, 16)));
        return unicode::escapeInvalidUtf8(bytes);
    }
    std::string text;
    text.reserve(p.size());
    for (size_t pos = 0; pos < p.size();) {
        if (p.compare(pos, 3, kMetaspace) == 0) {
            text.push_back(' ');
            pos += 3;
        } else {
            text.push_back(p[pos++]);
        }
    }
    return unicode::escapeInvalidUtf8(text);
}

int32_t SentencePieceTokenizer::vocabSize() const { return m_piece_size; }

std::optional<int32_t> SentencePieceTokenizer::tokenToId(const std::string& token) const {
    const int32_t id = m_api->piece_to_id(m_handle, token.c_str());
    // PieceToId answers unk_id for unknown pieces.
    if (id < 0 || (id == m_api->unk_id(m_handle) && piece(id) != token)) return std::nullopt;
    return id;
}

bool SentencePieceTokenizer::isSpecial(int32_t id) const {
    if (id < 0 || id >= m_piece_size) return false;
    return m_api->is_control(m_handle, id) || m_api->is_unknown(m_handle, id);
}

}  // namespace attnlab
