// KV cache: per layer and per KV head, keys stored after RoPE, with the original token position
// of every kept entry. Dense (one [kv_heads, capacity, head_dim] buffer) until a strategy evicts,
// then ragged (each KV head its own exactly-sized storage). Eviction frees memory for real.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace attnlab {

class LayerKv {
public:
    LayerKv() = default;
    LayerKv(int64_t kv_heads, int64_t head_dim, at::TensorOptions options);

    // k, v: [kv_heads, T, head_dim]; positions: [T] int64 (original token positions).
    void append(const at::Tensor& k, const at::Tensor& v, const at::Tensor& positions);
    // Makes room for `total` entries per head without reallocating later (dense form only).
    void reserve(int64_t total);

    bool isDense() const { return m_is_dense; }
    int64_t kvHeads() const { return m_kv_heads; }
    // Where the entries live (build index tensors there: a host tensor costs a copy that waits for the GPU).
    at::Device device() const { return m_options.device(); }
    // Dense form: [kv_heads, length, head_dim] views of the live entries and [length] positions.
    at::Tensor denseKeys() const;
    at::Tensor denseValues() const;
    at::Tensor densePositions() const;
    // Dense form: the whole reserved buffers (capacity entries), for static-shape decoding.
    at::Tensor denseCapacityKeys() const { return m_k; }
    at::Tensor denseCapacityValues() const { return m_v; }
    at::Tensor denseCapacityPositions() const { return m_pos; }
    int64_t denseCapacity() const { return m_k.defined() ? m_k.size(1) : 0; }
    // Dense form: entries written directly into the buffers (decodeStatic) become live.
    void setDenseLength(int64_t length);
    // Any form: one KV head's live entries [n, head_dim] and positions [n].
    at::Tensor headKeys(int64_t head) const;
    at::Tensor headValues(int64_t head) const;
    at::Tensor headPositions(int64_t head) const;
    int64_t headLength(int64_t head) const;
    int64_t maxLength() const;

    // Keeps, per KV head, the entries at the given indices (into that head's live entries, int64,
    // any order; kept in ascending position order). Switches to the ragged form with storage of
    // exactly the kept size plus extra_capacity entries (room for later appends): the old buffers
    // are released.
    void keep(const std::vector<at::Tensor>& indices_per_head, int64_t extra_capacity = 0);
    // keep() for indices that ascend in heads whose entries are in position order (as after a prefill,
    // appends and keeps): skips the per-head sort by position.
    void keepAscending(const std::vector<at::Tensor>& indices_per_head, int64_t extra_capacity = 0);

    // Switches a dense cache to the ragged form, every head keeping all its entries with room for
    // extra_capacity more. No-op when already ragged.
    void toRagged(int64_t extra_capacity);
    // Replaces one KV head's entries (ragged form; a dense cache is converted first). bias: [n]
    // additive attention-score bias per entry (e.g. log multiplicity of a compensation token), or
    // undefined for none.
    void setHead(int64_t head, const at::Tensor& k, const at::Tensor& v, const at::Tensor& positions,
                 const at::Tensor& bias, int64_t extra_capacity = 0);
    // Per-entry score bias [n] float of one KV head, or an undefined tensor when it has none.
    at::Tensor headBias(int64_t head) const;

    // Bytes allocated for K and V (capacity, not just live entries).
    int64_t allocatedBytes() const;
    // A deep copy (own storage), e.g. to run several strategies from one prefill.
    LayerKv clone() const;

private:
    struct HeadStore {
        at::Tensor k, v;   // [capacity, head_dim]
        at::Tensor pos;    // [capacity] int64
        at::Tensor bias;   // [capacity] float score bias, or undefined (all zero)
        int64_t length = 0;
    };
    HeadStore makeHead(const at::Tensor& k, const at::Tensor& v, const at::Tensor& pos, const at::Tensor& bias,
                       int64_t extra_capacity) const;
    void reallocDense(int64_t new_capacity);
    void growDense(int64_t needed);
    void appendRagged(int64_t head, const at::Tensor& k, const at::Tensor& v, const at::Tensor& positions);
    void keepHeads(const std::vector<at::Tensor>& indices_per_head, int64_t extra_capacity, bool ascending);

    int64_t m_kv_heads = 0;
    int64_t m_head_dim = 0;
    at::TensorOptions m_options;
    bool m_is_dense = true;
    // dense form
    at::Tensor m_k, m_v;  // [kv_heads, capacity, head_dim]
    at::Tensor m_pos;     // [capacity] int64 (CPU and device copies are not kept apart: same device)
    int64_t m_length = 0;
    // ragged form
    std::vector<HeadStore> m_heads;
};

class KvCache {
public:
    KvCache() = default;
    KvCache(int64_t layers, int64_t kv_heads, int64_t head_dim, at::TensorOptions options);

    LayerKv& layer(int64_t i) { return m_layers.at(static_cast<size_t>(i)); }
    const LayerKv& layer(int64_t i) const { return m_layers.at(static_cast<size_t>(i)); }
    int64_t layers() const { return static_cast<int64_t>(m_layers.size()); }
    void reserve(int64_t total);
    int64_t allocatedBytes() const;
    // Largest allocatedBytes() seen at any notePeak() call.
    void notePeak();
    int64_t peakBytes() const { return m_peak_bytes; }
    KvCache clone() const;

private:
    std::vector<LayerKv> m_layers;
    int64_t m_peak_bytes = 0;
};

}  // namespace attnlab
