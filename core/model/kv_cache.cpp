#include "core/model/kv_cache.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "core/util/result.h"

namespace attnlab {

namespace {
// Capacity grows in steps of this many entries (or doubles), so decode appends rarely reallocate.
constexpr int64_t kGrowthQuantum = 256;

int64_t roundUp(int64_t n) { return (n + kGrowthQuantum - 1) / kGrowthQuantum * kGrowthQuantum; }
}  // namespace

LayerKv::LayerKv(int64_t kv_heads, int64_t head_dim, at::TensorOptions options)
    : m_kv_heads(kv_heads), m_head_dim(head_dim), m_options(options) {}

void LayerKv::reallocDense(int64_t new_capacity) {
    at::Tensor k = at::empty({m_kv_heads, new_capacity, m_head_dim}, m_options);
    at::Tensor v = at::empty({m_kv_heads, new_capacity, m_head_dim}, m_options);
    at::Tensor pos = at::empty({new_capacity}, m_options.dtype(at::kLong));
    if (m_length > 0) {
        k.narrow(1, 0, m_length).copy_(m_k.narrow(1, 0, m_length));
        v.narrow(1, 0, m_length).copy_(m_v.narrow(1, 0, m_length));
        pos.narrow(0, 0, m_length).copy_(m_pos.narrow(0, 0, m_length));
    }
    m_k = k;
    m_v = v;
    m_pos = pos;
}

void LayerKv::growDense(int64_t needed) {
    const int64_t capacity = m_k.defined() ? m_k.size(1) : 0;
    if (needed > capacity) reallocDense(std::max(roundUp(needed), capacity * 2));
}

void LayerKv::reserve(int64_t total) {
    const int64_t capacity = m_k.defined() ? m_k.size(1) : 0;
    // Exact reservation: the caller knows the final length, so kv_bytes carries no slack.
    if (m_is_dense && total > capacity) reallocDense(total);
}

void LayerKv::append(const at::Tensor& k, const at::Tensor& v, const at::Tensor& positions) {
    const int64_t t = k.size(1);
    if (m_is_dense) {
        growDense(m_length + t);
        m_k.narrow(1, m_length, t).copy_(k);
        m_v.narrow(1, m_length, t).copy_(v);
        m_pos.narrow(0, m_length, t).copy_(positions);
        m_length += t;
        return;
    }
    for (int64_t h = 0; h < m_kv_heads; ++h) appendRagged(h, k[h], v[h], positions);
}

LayerKv::HeadStore LayerKv::makeHead(const at::Tensor& k, const at::Tensor& v, const at::Tensor& pos,
                                     const at::Tensor& bias, int64_t extra_capacity) const {
    // Fresh, exactly-sized storage: nothing aliases the buffers it was made from.
    HeadStore s;
    const int64_t n = k.size(0);
    s.k = at::empty({n + extra_capacity, m_head_dim}, m_options);
    s.v = at::empty({n + extra_capacity, m_head_dim}, m_options);
    s.pos = at::empty({n + extra_capacity}, m_options.dtype(at::kLong));
    s.k.narrow(0, 0, n).copy_(k);
    s.v.narrow(0, 0, n).copy_(v);
    s.pos.narrow(0, 0, n).copy_(pos);
    if (bias.defined()) {
        s.bias = at::zeros({n + extra_capacity}, m_options.dtype(at::kFloat));
        s.bias.narrow(0, 0, n).copy_(bias);
    }
    s.length = n;
    return s;
}

void LayerKv::appendRagged(int64_t head, const at::Tensor& k, const at::Tensor& v, const at::Tensor& positions) {
    HeadStore& s = m_heads[static_cast<size_t>(head)];
    const int64_t t = k.size(0);
    const int64_t capacity = s.k.defined() ? s.k.size(0) : 0;
    if (s.length + t > capacity) {
        const int64_t extra = std::max(roundUp(s.length + t), capacity * 2) - s.length;
        s = makeHead(headKeys(head), headValues(head), headPositions(head), headBias(head), extra);
    }
    s.k.narrow(0, s.length, t).copy_(k);
    s.v.narrow(0, s.length, t).copy_(v);
    s.pos.narrow(0, s.length, t).copy_(positions);
    if (s.bias.defined()) s.bias.narrow(0, s.length, t).zero_();
    s.length += t;
}

void LayerKv::toRagged(int64_t extra_capacity) {
    if (!m_is_dense) return;
    std::vector<at::Tensor> all(static_cast<size_t>(m_kv_heads), at::arange(m_length, m_options.dtype(at::kLong)));
    keep(all, extra_capacity);
}

void LayerKv::setHead(int64_t head, const at::Tensor& k, const at::Tensor& v, const at::Tensor& positions,
                      const at::Tensor& bias, int64_t extra_capacity) {
    toRagged(extra_capacity);
    m_heads.at(static_cast<size_t>(head)) = makeHead(k, v, positions, bias, extra_capacity);
}

at::Tensor LayerKv::headBias(int64_t head) const {
    if (m_is_dense) return at::Tensor();
    const HeadStore& s = m_heads.at(static_cast<size_t>(head));
    return s.bias.defined() ? s.bias.narrow(0, 0, s.length) : at::Tensor();
}


void LayerKv::setDenseLength(int64_t length) {
    if (!m_is_dense || length < 0 || length > denseCapacity()) throw Error("LayerKv::setDenseLength out of range");
    m_length = length;
}

at::Tensor LayerKv::denseKeys() const {
    if (!m_is_dense) throw Error("LayerKv::denseKeys on a ragged cache");
    return m_k.defined() ? m_k.narrow(1, 0, m_length) : at::empty({m_kv_heads, 0, m_head_dim}, m_options);
}
at::Tensor LayerKv::denseValues() const {
    if (!m_is_dense) throw Error("LayerKv::denseValues on a ragged cache");
    return m_v.defined() ? m_v.narrow(1, 0, m_length) : at::empty({m_kv_heads, 0, m_head_dim}, m_options);
}
at::Tensor LayerKv::densePositions() const {
    if (!m_is_dense) throw Error("LayerKv::densePositions on a ragged cache");
    return m_pos.defined() ? m_pos.narrow(0, 0, m_length) : at::empty({0}, m_options.dtype(at::kLong));
}

at::Tensor LayerKv::headKeys(int64_t head) const {
    if (m_is_dense) return denseKeys()[head];
    const HeadStore& s = m_heads.at(static_cast<size_t>(head));
    return s.k.defined() ? s.k.narrow(0, 0, s.length) : at::empty({0, m_head_dim}, m_options);
}
at::Tensor LayerKv::headValues(int64_t head) const {
    if (m_is_dense) return denseValues()[head];
    const HeadStore& s = m_heads.at(static_cast<size_t>(head));
    return s.v.defined() ? s.v.narrow(0, 0, s.length) : at::empty({0, m_head_dim}, m_options);
}
at::Tensor LayerKv::headPositions(int64_t head) const {
    if (m_is_dense) return densePositions();
    const HeadStore& s = m_heads.at(static_cast<size_t>(head));
    return s.pos.defined() ? s.pos.narrow(0, 0, s.length) : at::empty({0}, m_options.dtype(at::kLong));
}
int64_t LayerKv::headLength(int64_t head) const {
    return m_is_dense ? m_length : m_heads.at(static_cast<size_t>(head)).length;
}
int64_t LayerKv::maxLength() const {
    if (m_is_dense) return m_length;
    int64_t n = 0;
    for (const HeadStore& s : m_heads) n = std::max(n, s.length);
    return n;
}

void LayerKv::keep(const std::vector<at::Tensor>& indices_per_head, int64_t extra_capacity) {
    keepHeads(indices_per_head, extra_capacity, false);
}

void LayerKv::keepAscending(const std::vector<at::Tensor>& indices_per_head, int64_t extra_capacity) {
    keepHeads(indices_per_head, extra_capacity, true);
}

void LayerKv::keepHeads(const std::vector<at::Tensor>& indices_per_head, int64_t extra_capacity, bool ascending) {
    if (static_cast<int64_t>(indices_per_head.size()) != m_kv_heads)
        throw Error("LayerKv::keep: expected one index tensor per KV head");
    std::vector<HeadStore> heads(static_cast<size_t>(m_kv_heads));
    for (int64_t h = 0; h < m_kv_heads; ++h) {
        at::Tensor idx = indices_per_head[static_cast<size_t>(h)].to(m_options.device(), at::kLong);
        if (!ascending) {
            at::Tensor order = std::get<1>(headPositions(h).index_select(0, idx).sort());
            idx = idx.index_select(0, order);  // kept entries stay in position order
        }
        at::Tensor bias = headBias(h);
        heads[static_cast<size_t>(h)] =
            makeHead(headKeys(h).index_select(0, idx), headValues(h).index_select(0, idx),
                     headPositions(h).index_select(0, idx), bias.defined() ? bias.index_select(0, idx) : bias,
                     extra_capacity);
    }
    m_heads = std::move(heads);
    m_is_dense = false;
    m_k = at::Tensor();
    m_v = at::Tensor();
    m_pos = at::Tensor();
    m_length = 0;
}

int64_t LayerKv::allocatedBytes() const {
    auto bytes = [](const at::Tensor& t) { return t.defined() ? t.numel() * static_cast<int64_t>(t.element_size()) : 0; };
    if (m_is_dense) return bytes(m_k) + bytes(m_v);
    int64_t total = 0;
    for (const HeadStore& s : m_heads) total += bytes(s.k) + bytes(s.v);
    return total;
}

LayerKv LayerKv::clone() const {
    LayerKv c = *this;
    auto deep = [](const at::Tensor& t) { return t.defined() ? t.clone() : t; };
    c.m_k = deep(m_k);
    c.m_v = deep(m_v);
    c.m_pos = deep(m_pos);
    for (HeadStore& h : c.m_heads) {
        h.k = deep(h.k);
        h.v = deep(h.v);
        h.pos = deep(h.pos);
        h.bias = deep(h.bias);
    }
    return c;
}

KvCache KvCache::clone() const {
    KvCache c;
    for (const LayerKv& l : m_layers) c.m_layers.push_back(l.clone());
    c.m_peak_bytes = m_peak_bytes;
    return c;
}

KvCache::KvCache(int64_t layers, int64_t kv_heads, int64_t head_dim, at::TensorOptions options) {
    m_layers.reserve(static_cast<size_t>(layers));
    for (int64_t i = 0; i < layers; ++i) m_layers.emplace_back(kv_heads, head_dim, options);
}

void KvCache::reserve(int64_t total) {
    for (LayerKv& l : m_layers) l.reserve(total);
}

int64_t KvCache::allocatedBytes() const {
    int64_t total = 0;
    for (const LayerKv& l : m_layers) total += l.allocatedBytes();
    return total;
}

void KvCache::notePeak() { m_peak_bytes = std::max(m_peak_bytes, allocatedBytes()); }

}  // namespace attnlab
