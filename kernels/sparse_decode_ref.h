// Plain-ATen reference for kernels/sparse_decode.h: the same semantics, in float32 math on any
// device. CPU runs of the engine use it; the CUDA kernel is tested against it.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace attnlab::kernels {

// q: [batch, q_heads, D]. For sequence s = b*kv_heads + h: k_rows[s] and v_rows[s] hold that KV
// head's storage rows [rows_s, D]; indices[s] (int, optional: empty vector or undefined tensor =
// rows 0..rows_s-1) picks the rows read; bias[s] (float [rows_s], optional) is added to the
// scaled score of each storage row. Returns [batch, q_heads, D] in q's dtype; a sequence that reads
// no rows gets zeros.
at::Tensor sparseDecodeReference(const at::Tensor& q, const std::vector<at::Tensor>& k_rows,
                                 const std::vector<at::Tensor>& v_rows, const std::vector<at::Tensor>& indices,
                                 const std::vector<at::Tensor>& bias, int64_t kv_heads, double scale);

}  // namespace attnlab::kernels
