// Decode attention (one query token per sequence) where every KV head reads its own set of kept
// entries: a variable number of rows per (batch, KV head), optionally picked through an index
// list, with an optional additive score bias per entry. Grouped-query aware (the query heads of a
// group share one read of their KV head), bf16/fp16, split-K over the context with an
// online-softmax merge (FlashDecoding). Host entry point over raw device pointers; no torch here.
//
// The plain-ATen reference with the same semantics is kernels/sparse_decode_ref.h; the engine
// calls the kernel through kernels/sparse_decode_torch.h on CUDA builds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace attnlab::kernels {

enum class ElementType { kBFloat16, kFloat16 };

// kTensorCores: up to 16 query heads of a group as the rows of mma.sync tiles (the default); on
// compute capability 9.0 and reads of 256 MB or more its K/V rows arrive by Hopper bulk copies in
// 128-key tiles, two CTAs per SM (row ranges; rows through index lists by cp.async;
// ATTNLAB_DECODE_BULK=0: by cp.async everywhere). kTensorCoresBulk and kTensorCoresCpAsync force one
// or the other (bulk: compute capability 9.0 only). kCudaCores: FMA and shuffle dot products, up to
// 8 heads per CTA.
enum class DecodeVariant { kTensorCores, kCudaCores, kTensorCoresBulk, kTensorCoresCpAsync };

struct SparseDecodeParams {
    ElementType dtype = ElementType::kBFloat16;
    int batch = 0;
    int q_heads = 0;   // per sequence; a multiple of kv_heads
    int kv_heads = 0;
    int head_dim = 0;  // 64 or 128
    float scale = 0;   // usually 1/sqrt(head_dim)

    const void* q = nullptr;  // [batch, q_heads, head_dim], contiguous
    void* out = nullptr;      // [batch, q_heads, head_dim], contiguous, same dtype

    // Device arrays of batch*kv_heads entries, sequence s = b*kv_heads + h:
    const void* const* k_rows = nullptr;  // base of that KV head's key rows (row r at base + r*row_stride)
    const void* const* v_rows = nullptr;
    const int* lengths = nullptr;         // number of entries the head reads (0 allowed)
    const int* const* indices = nullptr;  // optional: per sequence, lengths[s] row numbers (int32)
    const float* const* bias = nullptr;   // optional: per sequence, a score bias per storage row
    int64_t row_stride = 0;               // elements between consecutive rows; 0 = head_dim

    // Upper bound of lengths[] (sets the split count; stays fixed under a CUDA graph).
    int max_length = 0;
    // Sum of lengths[] if known (0 = assume max_length everywhere): balances ragged heads.
    int64_t total_length = 0;
    // Scratch from sparseDecodeWorkspaceBytes(); may be null when that returns 0.
    void* workspace = nullptr;
    size_t workspace_bytes = 0;
    void* stream = nullptr;  // cudaStream_t; null = the default stream
    // Split count; 0 = chosen from the shape (sparseDecodeSplits).
    int splits = 0;
    // Equal-length heads: the chosen splits fill this many full waves of resident CTAs (0 = default).
    // More waves mean smaller CTAs, so the last ones to finish leave less of the GPU idle.
    int waves = 0;
    DecodeVariant variant = DecodeVariant::kTensorCores;
};

// Splits the kernel uses for this shape (and variant), and the scratch bytes it needs for them.
int sparseDecodeSplits(const SparseDecodeParams& p);
size_t sparseDecodeWorkspaceBytes(const SparseDecodeParams& p);

// Enqueues the attention on p.stream. Returns an empty string, or what is wrong with p (nothing is
// launched then). A sequence with no entries gets a zero output.
std::string sparseDecodeAttention(const SparseDecodeParams& p);

// Whether this binary holds the CUDA kernels (false in CPU-only builds).
bool sparseDecodeCompiled();

}  // namespace attnlab::kernels
