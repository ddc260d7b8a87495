#include "kernels/sparse_decode_torch.h"

#include <ATen/ATen.h>
#include <c10/cuda/CUDAStream.h>

#include <stdexcept>

#include "kernels/sparse_decode.h"

namespace attnlab::kernels {

namespace {

at::Tensor pointerTable(const std::vector<const void*>& ptrs, const at::Device& device) {
    at::Tensor host = at::empty({static_cast<int64_t>(ptrs.size())}, at::TensorOptions().dtype(at::kLong));
    auto* p = host.data_ptr<int64_t>();
    for (size_t i = 0; i < ptrs.size(); ++i) p[i] = reinterpret_cast<int64_t>(ptrs[i]);
    return host.to(device);
}

ElementType elementType(const at::Tensor& t) {
    if (t.scalar_type() == at::kBFloat16) return ElementType::kBFloat16;
    if (t.scalar_type() == at::kHalf) return ElementType::kFloat16;
    throw std::invalid_argument("sparse decode: q must be bf16 or fp16");
}

}  // namespace

SparseDecodePlan::SparseDecodePlan(const at::Tensor& q, const std::vector<at::Tensor>& k_rows,
                                   const std::vector<at::Tensor>& v_rows, const std::vector<at::Tensor>& indices,
                                   const std::vector<at::Tensor>& bias, const std::vector<int>& lengths,
                                   int64_t kv_heads, int64_t max_length, double scale, DecodeVariant variant)
    : m_batch(q.size(0)), m_q_heads(q.size(1)), m_kv_heads(kv_heads), m_head_dim(q.size(2)),
      m_max_length(max_length), m_scale(scale) {
    m_variant = variant;
    if (!q.is_cuda() || q.dim() != 3) throw std::invalid_argument("sparse decode: q must be a CUDA [batch, q_heads, D] tensor");
    elementType(q);
    const size_t seqs = static_cast<size_t>(m_batch * kv_heads);
    if (k_rows.size() != seqs || v_rows.size() != seqs || lengths.size() != seqs)
        throw std::invalid_argument("sparse decode: need K, V and a length for each (batch, kv head)");
    std::vector<const void*> kp(seqs), vp(seqs), ip(seqs, nullptr), bp(seqs, nullptr);
    m_has_indices = !indices.empty();
    m_has_bias = false;
    for (size_t s = 0; s < seqs; ++s) {
        const at::Tensor& k = k_rows[s];
        const at::Tensor& v = v_rows[s];
        if (k.dim() != 2 || v.dim() != 2 || k.size(1) != m_head_dim || v.size(1) != m_head_dim)
            throw std::invalid_argument("sparse decode: K/V rows must be [rows, head_dim]");
        if (k.scalar_type() != q.scalar_type() || v.scalar_type() != q.scalar_type())
            throw std::invalid_argument("sparse decode: K/V must have q's dtype");
        if (k.stride(1) != 1 || v.stride(1) != 1 || k.stride(0) != v.stride(0))
            throw std::invalid_argument("sparse decode: K/V rows must be unit-stride with one row stride");
        if (k.size(0) > 1) {
            if (m_row_stride != 0 && k.stride(0) != m_row_stride)
                throw std::invalid_argument("sparse decode: K/V row strides differ between heads");
            m_row_stride = k.stride(0);
        }
        kp[s] = k.data_ptr();
        vp[s] = v.data_ptr();
        if (m_has_indices && s < indices.size() && indices[s].defined()) {
            at::Tensor idx = indices[s].to(q.device(), at::kInt).contiguous();
            m_keep.push_back(idx);
            ip[s] = idx.data_ptr();
        } else if (m_has_indices) {
            throw std::invalid_argument("sparse decode: indices given for some sequences only");
        }
        if (s < bias.size() && bias[s].defined()) {
            at::Tensor b = bias[s].to(q.device(), at::kFloat).contiguous();
            m_keep.push_back(b);
            bp[s] = b.data_ptr();
            m_has_bias = true;
        }
    }
    if (m_has_bias) {
        // Sequences without a bias read a zero bias of their length.
        for (size_t s = 0; s < seqs; ++s) {
            if (bp[s]) continue;
            // As long as any later length (max_length), so a replayed plan never reads past it.
            at::Tensor z = at::zeros({std::max<int64_t>({int64_t(1), k_rows[s].size(0), m_max_length})},
                                     q.options().dtype(at::kFloat));
            m_keep.push_back(z);
            bp[s] = z.data_ptr();
        }
    }
    if (m_row_stride == 0) m_row_stride = m_head_dim;
    const at::Device device = q.device();
    m_k_ptrs = pointerTable(kp, device);
    m_v_ptrs = pointerTable(vp, device);
    if (m_has_indices) m_idx_ptrs = pointerTable(ip, device);
    if (m_has_bias) m_bias_ptrs = pointerTable(bp, device);
    m_lengths = at::empty({static_cast<int64_t>(seqs)}, q.options().dtype(at::kInt));
    setLengths(lengths);
    for (int n : lengths) m_total_length += n;

    m_dtype = q.scalar_type();
    setWaves(0);
}

void SparseDecodePlan::setWaves(int waves) {
    m_waves = waves;
    SparseDecodeParams p = shapeParams();
    m_splits = sparseDecodeSplits(p);
    const size_t ws = sparseDecodeWorkspaceBytes(p);
    const auto floats = static_cast<int64_t>((ws + 3) / 4);
    if (ws > 0 && (!m_workspace.defined() || m_workspace.numel() < floats))
        m_workspace = at::empty({floats}, m_k_ptrs.options().dtype(at::kFloat));
}

void SparseDecodePlan::setLengths(const std::vector<int>& lengths) {
    at::Tensor host = at::empty({static_cast<int64_t>(lengths.size())}, at::TensorOptions().dtype(at::kInt));
    for (size_t i = 0; i < lengths.size(); ++i) {
        if (lengths[i] < 0 || lengths[i] > m_max_length)
            throw std::invalid_argument("sparse decode: a length is negative or above max_length");
        host.data_ptr<int>()[i] = lengths[i];
    }
    m_lengths.copy_(host, /*non_blocking=*/false);
}

SparseDecodeParams SparseDecodePlan::shapeParams() const {
    SparseDecodeParams p;
    p.dtype = m_dtype == at::kHalf ? ElementType::kFloat16 : ElementType::kBFloat16;
    p.batch = static_cast<int>(m_batch);
    p.q_heads = static_cast<int>(m_q_heads);
    p.kv_heads = static_cast<int>(m_kv_heads);
    p.head_dim = static_cast<int>(m_head_dim);
    p.max_length = static_cast<int>(m_max_length);
    p.total_length = m_total_length;
    p.variant = m_variant;
    p.waves = m_waves;
    // Whether rows come through index lists picks the copy path, and so the split count.
    p.indices = m_has_indices ? reinterpret_cast<const int* const*>(m_idx_ptrs.data_ptr()) : nullptr;
    return p;
}

void SparseDecodePlan::run(const at::Tensor& q, at::Tensor& out) {
    if (q.scalar_type() != m_dtype) throw std::invalid_argument("sparse decode: q's dtype differs from the plan's");
    SparseDecodeParams p = shapeParams();
    p.scale = static_cast<float>(m_scale);
    p.q = q.data_ptr();
    p.out = out.data_ptr();
    p.k_rows = reinterpret_cast<const void* const*>(m_k_ptrs.data_ptr());
    p.v_rows = reinterpret_cast<const void* const*>(m_v_ptrs.data_ptr());
    p.lengths = m_lengths.data_ptr<int>();
    p.indices = m_has_indices ? reinterpret_cast<const int* const*>(m_idx_ptrs.data_ptr()) : nullptr;
    p.bias = m_has_bias ? reinterpret_cast<const float* const*>(m_bias_ptrs.data_ptr()) : nullptr;
    p.row_stride = m_row_stride;
    p.splits = m_splits;
    if (m_workspace.defined()) {
        p.workspace = m_workspace.data_ptr();
        p.workspace_bytes = static_cast<size_t>(m_workspace.numel()) * 4;
    }
    p.stream = c10::cuda::getCurrentCUDAStream(q.device().index()).stream();
    if (!q.is_contiguous() || !out.is_contiguous()) throw std::invalid_argument("sparse decode: q and out must be contiguous");
    const std::string err = sparseDecodeAttention(p);
    if (!err.empty()) throw std::runtime_error(err);
}

at::Tensor sparseDecode(const at::Tensor& q, const std::vector<at::Tensor>& k_rows, const std::vector<at::Tensor>& v_rows,
                        const std::vector<at::Tensor>& indices, const std::vector<at::Tensor>& bias, int64_t kv_heads,
                        double scale, DecodeVariant variant) {
    std::vector<int> lengths(k_rows.size());
    int64_t max_length = 0;
    for (size_t s = 0; s < k_rows.size(); ++s) {
        const int64_t n = !indices.empty() && indices[s].defined() ? indices[s].numel() : k_rows[s].size(0);
        lengths[s] = static_cast<int>(n);
        max_length = std::max(max_length, n);
    }
    at::Tensor qc = q.contiguous();
    SparseDecodePlan plan(qc, k_rows, v_rows, indices, bias, lengths, kv_heads, max_length, scale, variant);
    at::Tensor out = at::empty_like(qc);
    plan.run(qc, out);
    return out;
}

}  // namespace attnlab::kernels
