// The sparse decode kernel over ATen tensors (CUDA builds only): builds the device pointer tables
// once, so a plan can be replayed (also inside a CUDA graph) while the rows it points at change.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "kernels/sparse_decode.h"

namespace attnlab::kernels {

class SparseDecodePlan {
public:
    // q: [batch, q_heads, D] (bf16/fp16, CUDA). Per sequence s = b*kv_heads + h: k_rows[s], v_rows[s]
    // [rows, D] with unit element stride and one row stride shared by all; indices[s] (int32, optional)
    // and bias[s] (float, optional) as in sparse_decode.h; lengths[s] entries read (rows, or the
    // index count). max_length bounds every later length too (a graph keeps its split count).
    // Throws std::invalid_argument with the reason when the inputs do not fit the kernel.
    SparseDecodePlan(const at::Tensor& q, const std::vector<at::Tensor>& k_rows, const std::vector<at::Tensor>& v_rows,
                     const std::vector<at::Tensor>& indices, const std::vector<at::Tensor>& bias,
                     const std::vector<int>& lengths, int64_t kv_heads, int64_t max_length, double scale,
                     DecodeVariant variant = DecodeVariant::kTensorCores);
    // Updates the per-sequence lengths (an async host-to-device copy on the current stream).
    void setLengths(const std::vector<int>& lengths);
    // Reads the lengths from this device int32 tensor [batch*kv_heads] from now on (e.g. one that a
    // captured graph fills itself); it must outlive the plan's runs.
    void useLengths(const at::Tensor& device_lengths) { m_lengths = device_lengths; }
    // Enqueues the attention of q into out ([batch, q_heads, D], q's dtype) on the current stream.
    void run(const at::Tensor& q, at::Tensor& out);
    int splits() const { return m_splits; }
    // Equal-length heads: split into this many full waves of CTAs (0 = the kernel's default);
    // recomputes the split count (call before capturing a graph).
    void setWaves(int waves);

private:
    SparseDecodeParams shapeParams() const;  // the shape fields shared by split choice and launch

    at::ScalarType m_dtype = at::kBFloat16;
    at::Tensor m_k_ptrs, m_v_ptrs, m_idx_ptrs, m_bias_ptrs, m_lengths, m_workspace;
    std::vector<at::Tensor> m_keep;  // keeps indices/bias alive
    int64_t m_total_length = 0;
    int64_t m_batch = 0, m_q_heads = 0, m_kv_heads = 0, m_head_dim = 0, m_row_stride = 0, m_max_length = 0;
    double m_scale = 1.0;
    int m_splits = 1;
    int m_waves = 0;
    bool m_has_indices = false, m_has_bias = false;
    DecodeVariant m_variant = DecodeVariant::kTensorCores;
};

// One call: plan + run. For the engine's eager decode and for tests.
at::Tensor sparseDecode(const at::Tensor& q, const std::vector<at::Tensor>& k_rows, const std::vector<at::Tensor>& v_rows,
                        const std::vector<at::Tensor>& indices, const std::vector<at::Tensor>& bias, int64_t kv_heads,
                        double scale, DecodeVariant variant = DecodeVariant::kTensorCores);

}  // namespace attnlab::kernels
