// Decoder-only transformer forward for the supported families (Llama, Qwen2, Mistral, GPT-2).
// Internal to core: holds LibTorch state and must be used from one thread (the engine worker).
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/io/safetensors.h"
#include "core/model/attention.h"
#include "core/model/config.h"
#include "core/model/kv_cache.h"

namespace attnlab {

// Called after each layer's attention, with that step's queries and the layer's cache (the
// strategy pipeline's cache stages hang here).
class LayerHook {
public:
    virtual ~LayerHook() = default;
    // q: [Hq, T, D] after RoPE; q_positions: [T]. May evict from kv.
    virtual void afterAttention(int64_t layer, const at::Tensor& q, const at::Tensor& q_positions, LayerKv& kv) = 0;
    // Asked before each layer's attention in a prefill of `tokens` from position 0 into an empty
    // cache: the block mask for AttentionParams::block_mask, or an undefined tensor (dense).
    virtual at::Tensor prefillBlockMask(int64_t /*layer*/, int64_t /*tokens*/) { return {}; }
};

class Transformer {
public:
    // Loads and checks every weight against the config; throws Error naming the file and tensor.
    Transformer(const ModelConfig& config, const Checkpoint& checkpoint, at::Device device, at::ScalarType dtype);

    const ModelConfig& config() const { return m_config; }
    at::Device device() const { return m_device; }
    at::ScalarType dtype() const { return m_dtype; }

    KvCache makeCache() const;

    // ids, positions: [T] int64 on the model's device. Appends to `cache`.
    // Returns logits [rows, vocab] float32 for the last `last_rows` positions (all if <= 0).
    // rope_positions [T] (optional): where the tokens are embedded (RoPE / position table) when a
    // strategy renumbers the cache; `positions` stay the tokens' own positions in the cache.
    at::Tensor forward(const at::Tensor& ids, const at::Tensor& positions, KvCache& cache,
                       AttentionObserver* observer = nullptr, int64_t last_rows = 1, LayerHook* hook = nullptr,
                       const at::Tensor& rope_positions = at::Tensor());
    // RoPE inverse frequencies [head_dim / 2] float on the device (undefined for GPT-2).
    const at::Tensor& ropeFrequencies() const { return m_inv_freq; }

    // Bytes of all weights on the device.
    int64_t weightBytes() const;

    // One decode step with static shapes and no host synchronisation, so it can be captured in a
    // CUDA graph: token, position: [1] int64 device tensors; mask: [1, 1, 1, capacity] float
    // (0 = visible, -inf = not) over every layer's dense cache buffer, which must be reserved
    // to `capacity` entries. Writes this step's K/V/position at `position` and un-masks it.
    // Full attention only (no window, no strategy, no observer). Returns logits [1, vocab] float.
    // attention (optional): computes a layer's attention of q [Hq, D] over its cache (all `position`+1
    // live entries) instead of the masked batched matmuls, e.g. the split-K kernel on CUDA.
    using StaticAttention = std::function<at::Tensor(int64_t layer, const at::Tensor& q)>;
    at::Tensor decodeStatic(const at::Tensor& token, const at::Tensor& position, at::Tensor& mask, KvCache& cache,
                            const StaticAttention& attention = nullptr);

private:
    // decodeStatic with the fused decode kernels (CUDA builds, Llama family); see decode_fused.h.
    bool fusedDecodeUsable() const;
    at::Tensor decodeStaticFused(const at::Tensor& token, const at::Tensor& position, KvCache& cache,
                                 const StaticAttention& attention);

    struct Layer {
        at::Tensor norm1_w, norm1_b, norm2_w, norm2_b;
        // [q; k; v] stacked: GPT-2's fused c_attn, the Llama family's three projections cat at load.
        at::Tensor wqkv, bqkv;
        at::Tensor wo, bo;
        at::Tensor w_up, b_up;  // GPT-2's c_fc
        at::Tensor w_gu, b_gu;  // Llama family: [gate; up] stacked at load
        at::Tensor w_down, b_down;
    };

    at::Tensor norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const;
    at::Tensor activation(const at::Tensor& x) const;
    // RoPE cos and sin [T, D] (model dtype) for these positions: once per forward, shared by the layers.
    // Undefined for GPT-2 (learned positions).
    struct RopeTables {
        at::Tensor cos, sin;
    };
    RopeTables ropeTables(const at::Tensor& positions) const;
    // Norm, q/k/v projections and RoPE of one layer: q [Hq, T, D], k and v [Hkv, T, D].
    std::tuple<at::Tensor, at::Tensor, at::Tensor> projectQkv(const Layer& L, const at::Tensor& x,
                                                              const RopeTables& rope) const;
    // Norm and feed-forward block of one layer (without the residual).
    at::Tensor mlp(const Layer& L, const at::Tensor& x) const;

    ModelConfig m_config;
    at::Device m_device;
    at::ScalarType m_dtype;
    at::Tensor m_embed;     // [vocab, H]
    at::Tensor m_pos_embed; // GPT-2 [n_positions, H]
    at::Tensor m_final_w, m_final_b;
    at::Tensor m_lm_head;   // [vocab, H] (aliases m_embed when tied)
    at::Tensor m_inv_freq;  // [head_dim / 2] float32 on device, scaling applied
    std::vector<Layer> m_layers;
};

// RoPE's half-split partner of x over the last dimension: cat(-x2, x1) (transformers' rotate_half).
at::Tensor rotateHalf(const at::Tensor& x);
// RoPE cos and sin [n, D] in `dtype` for angles positions[i] * inv_freq (positions [n] any integer or
// float type, inv_freq [D / 2] float), computed in float32 as transformers does. x rotated by them is
// x * cos + rotateHalf(x) * sin.
std::pair<at::Tensor, at::Tensor> ropeCosSin(const at::Tensor& positions, const at::Tensor& inv_freq,
                                             at::ScalarType dtype);

// Inverse RoPE frequencies [head_dim/2] (float32), with linear / llama3 scaling applied as HF does.
at::Tensor ropeInverseFrequencies(const RopeConfig& rope, int64_t head_dim);

}  // namespace attnlab
