// A C bridge to Debian's libsentencepiece, built as its own shared library and dlopen()ed with
// RTLD_LOCAL | RTLD_DEEPBIND. Why: libsentencepiece carries its own copy of protobuf-lite, and
// LibTorch pulls in libprotobuf; loaded side by side in the global scope, protobuf's start-up code
// binds to sentencepiece's copy and crashes. Loaded locally and deep-bound, each keeps its own.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {

#define ATTNLAB_SPM_BRIDGE_VERSION 1

struct AttnlabSpmApi {
    int version;
    // Returns a handle or nullptr; on failure writes a message into error (NUL-terminated).
    void* (*load)(const char* path, char* error, size_t error_size);
    void (*release)(void* handle);
    // Encodes text; *ids is malloc()ed (free with free_buffer). Returns the count, or -1 on failure.
    long (*encode)(void* handle, const char* text, size_t text_size, int32_t** ids);
    // Decodes ids; the result is malloc()ed and NUL-terminated (free with free_buffer).
    char* (*decode)(void* handle, const int32_t* ids, size_t count, size_t* out_size);
    void (*free_buffer)(void* buffer);
    int32_t (*piece_size)(void* handle);
    // Copies piece `id` into out (NUL-terminated, truncated to out_size); returns its full length.
    size_t (*id_to_piece)(void* handle, int32_t id, char* out, size_t out_size);
    int32_t (*piece_to_id)(void* handle, const char* piece);
    int (*is_byte)(void* handle, int32_t id);
    int (*is_control)(void* handle, int32_t id);
    int (*is_unknown)(void* handle, int32_t id);
    int32_t (*bos_id)(void* handle);
    int32_t (*unk_id)(void* handle);
};

typedef const AttnlabSpmApi* (*AttnlabSpmApiEntry)();
const AttnlabSpmApi* attnlab_spm_api();
}
