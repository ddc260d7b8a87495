// The one attention module every layer goes through. The strategy pipeline (issue 4) plugs into
// it; exact probabilities for chosen layers/heads are handed to an observer without materialising
// N x N for every layer.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "core/model/kv_cache.h"
#include "kernels/block_sparse_prefill.h"  // kPrefillTile (torch-free)

namespace attnlab {

class AttentionObserver {
public:
    virtual ~AttentionObserver() = default;
    virtual bool wantsLayer(int64_t layer) const = 0;
    virtual bool wantsHead(int64_t layer, int64_t query_head) const = 0;
    // probs: [Tq, Tk] float32 on CPU, rows sum to 1 over the keys that head can see.
    // query_positions [Tq], key_positions [Tk]: original token positions (int64, CPU).
    virtual void onProbabilities(int64_t layer, int64_t query_head, const at::Tensor& probs,
                                 const at::Tensor& query_positions, const at::Tensor& key_positions) = 0;
};

struct AttentionParams {
    int64_t layer = 0;
    int64_t sliding_window = 0;  // 0 = none; else keys with q_pos - k_pos >= window are masked
    double scale = 1.0;          // usually 1/sqrt(head_dim)
    AttentionObserver* observer = nullptr;
    // 1: the caller knows the query positions are 0..Tq-1 in order, 0: it knows they are not, -1: attend()
    // checks (on a GPU that check waits for the device, so forward() settles it once for all layers).
    int queries_from_zero = -1;
    // A prefill from position 0 into an empty cache only: per query head, the kPrefillBlock-token key
    // blocks each query block may attend to ([Hq, nb, nb] bool, nb = ceil(Tq / kPrefillBlock)), causal
    // inside the diagonal blocks. Undefined: every earlier key. The block-sparse prefill kernel
    // computes it on CUDA (bf16/fp16), its reference elsewhere (kernels/block_sparse_prefill*.h).
    at::Tensor block_mask;
};

constexpr int64_t kPrefillBlock = kernels::kPrefillTile;  // the block-sparse prefill kernel's tile

// Whether positions ([T] int64) are exactly 0..T-1 in order (waits for the device when on a GPU).
bool positionsFromZero(const at::Tensor& positions);

// q: [Hq, Tq, D] (after RoPE), q_positions: [Tq] int64. kv already holds this step's keys/values.
// Returns [Hq, Tq, D] in q's dtype. Causal by original positions, with the optional window.
at::Tensor attend(const at::Tensor& q, const at::Tensor& q_positions, const LayerKv& kv, const AttentionParams& params);

// Allowed-key mask [Tq, Tk] (bool) for query and key positions under causality and the window.
at::Tensor visibilityMask(const at::Tensor& q_positions, const at::Tensor& k_positions, int64_t sliding_window);

}  // namespace attnlab
