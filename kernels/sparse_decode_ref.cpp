#include "kernels/sparse_decode_ref.h"

#include <ATen/ATen.h>

#include <stdexcept>
#include <string>

namespace attnlab::kernels {

at::Tensor sparseDecodeReference(const at::Tensor& q, const std::vector<at::Tensor>& k_rows,
                                 const std::vector<at::Tensor>& v_rows, const std::vector<at::Tensor>& indices,
                                 const std::vector<at::Tensor>& bias, int64_t kv_heads, double scale) {
    if (q.dim() != 3) throw std::invalid_argument("sparse decode reference: q must be [batch, q_heads, head_dim]");
    const int64_t batch = q.size(0);
    const int64_t hq = q.size(1);
    const int64_t d = q.size(2);
    if (kv_heads <= 0 || hq % kv_heads != 0)
        throw std::invalid_argument("sparse decode reference: q_heads must be a multiple of kv_heads");
    const size_t seqs = static_cast<size_t>(batch * kv_heads);
    if (k_rows.size() != seqs || v_rows.size() != seqs)
        throw std::invalid_argument("sparse decode reference: need one K and one V tensor per (batch, kv head), got " +
                                    std::to_string(k_rows.size()) + " for " + std::to_string(seqs));
    const int64_t group = hq / kv_heads;
    at::Tensor out = at::zeros({batch, hq, d}, q.options().dtype(at::kFloat));
    for (int64_t b = 0; b < batch; ++b) {
        for (int64_t h = 0; h < kv_heads; ++h) {
            const size_t s = static_cast<size_t>(b * kv_heads + h);
            at::Tensor k = k_rows[s].to(at::kFloat);
            at::Tensor v = v_rows[s].to(at::kFloat);
            at::Tensor rows_bias = s < bias.size() && bias[s].defined() ? bias[s].to(at::kFloat) : at::Tensor();
            if (s < indices.size() && indices[s].defined()) {
                at::Tensor idx = indices[s].to(at::kLong);
                if (idx.numel() > 0 && (idx.min().item<int64_t>() < 0 || idx.max().item<int64_t>() >= k.size(0)))
                    throw std::out_of_range("sparse decode reference: an index is outside its head's rows");
                k = k.index_select(0, idx);
                v = v.index_select(0, idx);
                if (rows_bias.defined()) rows_bias = rows_bias.index_select(0, idx);
            }
            if (k.size(0) == 0) continue;
            at::Tensor qg = q[b].narrow(0, h * group, group).to(at::kFloat);  // [G, D]
            at::Tensor scores = at::matmul(qg, k.transpose(0, 1)).mul_(scale);  // [G, n]
            if (rows_bias.defined()) scores.add_(rows_bias.unsqueeze(0));
            out[b].narrow(0, h * group, group).copy_(at::matmul(at::softmax(scores, -1), v));
        }
    }
    return out.to(q.scalar_type());
}

}  // namespace attnlab::kernels
