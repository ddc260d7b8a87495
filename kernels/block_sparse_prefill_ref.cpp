#include "kernels/block_sparse_prefill_ref.h"

#include <ATen/ATen.h>

#include <stdexcept>

namespace attnlab::kernels {

at::Tensor expandBlockMask(const at::Tensor& block_mask, int64_t block_size, int64_t tokens, bool causal) {
    if (block_mask.dim() != 4) throw std::invalid_argument("block mask must be [B or 1, heads, q_blocks, k_blocks]");
    const int64_t blocks = (tokens + block_size - 1) / block_size;
    if (block_mask.size(2) != blocks || block_mask.size(3) != blocks)
        throw std::invalid_argument("block mask has " + std::to_string(block_mask.size(2)) + "x" +
                                    std::to_string(block_mask.size(3)) + " blocks, the prompt needs " +
                                    std::to_string(blocks) + "x" + std::to_string(blocks));
    at::Tensor m = block_mask.to(at::kBool)
                       .repeat_interleave(block_size, 2)
                       .repeat_interleave(block_size, 3)
                       .narrow(2, 0, tokens)
                       .narrow(3, 0, tokens);
    if (causal) m = m.logical_and(at::ones({tokens, tokens}, m.options()).tril());
    return m;
}

at::Tensor blockSparsePrefillReference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                       const at::Tensor& block_mask, int64_t block_size, bool causal, double scale) {
    if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4) throw std::invalid_argument("q, k, v must be [B, H, N, D]");
    const int64_t hq = q.size(1), hkv = k.size(1), n = q.size(2);
    if (hkv <= 0 || hq % hkv != 0) throw std::invalid_argument("q heads must be a multiple of kv heads");
    const int64_t group = hq / hkv;
    at::Tensor kf = k.to(at::kFloat).repeat_interleave(group, 1);
    at::Tensor vf = v.to(at::kFloat).repeat_interleave(group, 1);
    at::Tensor mask = expandBlockMask(block_mask.to(q.device()), block_size, n, causal);
    at::Tensor scores = at::matmul(q.to(at::kFloat), kf.transpose(-2, -1)).mul_(scale);
    scores.masked_fill_(mask.logical_not(), -std::numeric_limits<float>::infinity());
    at::Tensor probs = at::softmax(scores, -1).nan_to_num(0.0);  // rows with no visible key: zeros
    return at::matmul(probs, vf).to(q.scalar_type());
}

}  // namespace attnlab::kernels
