// Block-sparse causal prefill attention: every query head attends only to the key blocks its
// block mask allows (64x64 tiles; masks of 128-blocks are expanded by the caller), causal inside
// diagonal tiles. For FlexPrefill/MInference-style patterns and sink + window. Grouped-query aware
// (a query head reads K/V head h / (q_heads/kv_heads)), bf16/fp16, FlashAttention-2-style online
// softmax on tensor cores: Hopper's wgmma where the build and the GPU allow it (sm_90a, compute
// capability 9.0), mma.sync otherwise. Host entry point over raw device pointers; no torch here.
// The plain-ATen reference is kernels/block_sparse_prefill_ref.h; the ATen wrapper that builds the
// tile lists from a boolean block mask is kernels/block_sparse_prefill_torch.h.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/sparse_decode.h"  // ElementType

namespace attnlab::kernels {

constexpr int kPrefillTile = 64;

// kAuto: wgmma where it can run (ATTNLAB_PREFILL_WGMMA=0 turns it off), else mma.sync. kWgmma
// fails with a message where it cannot run.
enum class PrefillKernel { kAuto, kMma, kWgmma };

struct BlockSparsePrefillParams {
    ElementType dtype = ElementType::kBFloat16;
    int batch = 0, q_heads = 0, kv_heads = 0;
    int tokens = 0;    // N: queries and keys (self-attention over the prompt)
    int head_dim = 0;  // 64 or 128
    float scale = 0;
    bool causal = true;
    const void* q = nullptr;  // [batch, q_heads, N, D] contiguous
    const void* k = nullptr;  // [batch, kv_heads, N, D] contiguous
    const void* v = nullptr;
    void* out = nullptr;      // [batch, q_heads, N, D]
    // Tile lists, CSR over (batch, q_head, query tile): offsets [batch*q_heads*ceil(N/64) + 1],
    // indices: the key tiles of each row in ascending order (int32, device memory). A query row
    // whose tiles allow no key gets zeros.
    const int* tile_offsets = nullptr;
    const int* tile_indices = nullptr;
    void* stream = nullptr;
    PrefillKernel kernel = PrefillKernel::kAuto;
};

std::string blockSparsePrefill(const BlockSparsePrefillParams& p);

}  // namespace attnlab::kernels
