#include "core/tokenizer/spm_bridge/spm_bridge.h"

#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace {

using Processor = sentencepiece::SentencePieceProcessor;

Processor* P(void* h) { return static_cast<Processor*>(h); }

void* load(const char* path, char* error, size_t error_size) {
    auto* p = new (std::nothrow) Processor();
    if (!p) return nullptr;
    const auto status = p->Load(path);
    if (!status.ok()) {
        if (error && error_size) {
            std::strncpy(error, status.ToString().c_str(), error_size - 1);
            error[error_size - 1] = '\0';
        }
        delete p;
        return nullptr;
    }
    return p;
}

void release(void* h) { delete P(h); }

long encode(void* h, const char* text, size_t size, int32_t** ids) {
    std::vector<int> pieces;
    if (!P(h)->Encode(std::string(text, size), &pieces).ok()) return -1;
    *ids = static_cast<int32_t*>(std::malloc(sizeof(int32_t) * (pieces.size() + 1)));
    if (!*ids) return -1;
    for (size_t i = 0; i < pieces.size(); ++i) (*ids)[i] = pieces[i];
    return static_cast<long>(pieces.size());
}

char* decode(void* h, const int32_t* ids, size_t count, size_t* out_size) {
    std::vector<int> v(ids, ids + count);
    std::string text;
    P(h)->Decode(v, &text).IgnoreError();
    char* out = static_cast<char*>(std::malloc(text.size() + 1));
    if (!out) return nullptr;
    std::memcpy(out, text.data(), text.size());
    out[text.size()] = '\0';
    *out_size = text.size();
    return out;
}

size_t idToPiece(void* h, int32_t id, char* out, size_t out_size) {
    const std::string& piece = P(h)->IdToPiece(id);
    if (out && out_size) {
        const size_t n = std::min(piece.size(), out_size - 1);
        std::memcpy(out, piece.data(), n);
        out[n] = '\0';
    }
    return piece.size();
}

const AttnlabSpmApi kApi{
    ATTNLAB_SPM_BRIDGE_VERSION,
    load,
    release,
    encode,
    decode,
    [](void* b) { std::free(b); },
    [](void* h) -> int32_t { return P(h)->GetPieceSize(); },
    idToPiece,
    [](void* h, const char* piece) -> int32_t { return P(h)->PieceToId(piece); },
    [](void* h, int32_t id) -> int { return P(h)->IsByte(id); },
    [](void* h, int32_t id) -> int { return P(h)->IsControl(id); },
    [](void* h, int32_t id) -> int { return P(h)->IsUnknown(id); },
    [](void* h) -> int32_t { return P(h)->bos_id(); },
    [](void* h) -> int32_t { return P(h)->unk_id(); },
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const AttnlabSpmApi* attnlab_spm_api() { return &kApi; }
