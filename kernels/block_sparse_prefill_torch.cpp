#include "kernels/block_sparse_prefill_torch.h"

#include <ATen/ATen.h>
#include <c10/cuda/CUDAStream.h>

#include <stdexcept>

#include "kernels/block_sparse_prefill.h"

namespace attnlab::kernels {

TileLists buildTileLists(const at::Tensor& block_mask, int64_t block_size, int64_t batch, int64_t q_heads,
                         int64_t tokens, bool causal, const at::Device& device) {
    if (block_size != 64 && block_size != 128) throw std::invalid_argument("block-sparse prefill: block size must be 64 or 128");
    if (block_mask.dim() != 4 || (block_mask.size(0) != 1 && block_mask.size(0) != batch) || block_mask.size(1) != q_heads)
        throw std::invalid_argument("block-sparse prefill: block mask must be [B or 1, q_heads, q_blocks, k_blocks]");
    const int64_t blocks = (tokens + block_size - 1) / block_size;
    if (block_mask.size(2) != blocks || block_mask.size(3) != blocks)
        throw std::invalid_argument("block-sparse prefill: block mask does not cover the prompt");
    const int64_t tiles = (tokens + kPrefillTile - 1) / kPrefillTile;
    at::Tensor m = block_mask.to(device, at::kBool);
    const int64_t rep = block_size / kPrefillTile;
    if (rep > 1) m = m.repeat_interleave(rep, 2).repeat_interleave(rep, 3);
    m = m.narrow(2, 0, tiles).narrow(3, 0, tiles);
    if (causal) m = m.logical_and(at::ones({tiles, tiles}, m.options()).tril());
    m = m.expand({batch, q_heads, tiles, tiles}).contiguous();
    TileLists out;
    at::Tensor counts = m.sum(-1).flatten().to(at::kInt);
    out.offsets = at::cat({at::zeros({1}, counts.options()), counts.cumsum(0).to(at::kInt)});
    out.indices = m.reshape({-1, tiles}).nonzero().select(1, 1).to(at::kInt).contiguous();
    out.computed_tiles = out.indices.numel();
    if (out.indices.numel() == 0) out.indices = at::zeros({1}, counts.options());  // a valid pointer
    return out;
}

at::Tensor blockSparseAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const TileLists& tiles,
                                bool causal, double scale, int kernel) {
    if (!q.is_cuda() || q.dim() != 4 || k.dim() != 4 || v.dim() != 4)
        throw std::invalid_argument("block-sparse prefill: q, k, v must be CUDA [B, H, N, D] tensors");
    if (k.scalar_type() != q.scalar_type() || v.scalar_type() != q.scalar_type())
        throw std::invalid_argument("block-sparse prefill: q, k, v must share a dtype");
    at::Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
    at::Tensor out = at::empty_like(qc);
    BlockSparsePrefillParams p;
    if (q.scalar_type() == at::kBFloat16) p.dtype = ElementType::kBFloat16;
    else if (q.scalar_type() == at::kHalf) p.dtype = ElementType::kFloat16;
    else throw std::invalid_argument("block-sparse prefill: bf16 or fp16 only");
    p.batch = static_cast<int>(q.size(0));
    p.q_heads = static_cast<int>(q.size(1));
    p.kv_heads = static_cast<int>(k.size(1));
    p.tokens = static_cast<int>(q.size(2));
    p.head_dim = static_cast<int>(q.size(3));
    p.scale = static_cast<float>(scale);
    p.causal = causal;
    p.q = qc.data_ptr();
    p.k = kc.data_ptr();
    p.v = vc.data_ptr();
    p.out = out.data_ptr();
    p.tile_offsets = tiles.offsets.data_ptr<int>();
    p.tile_indices = tiles.indices.data_ptr<int>();
    p.stream = c10::cuda::getCurrentCUDAStream(q.device().index()).stream();
    p.kernel = kernel == 1 ? PrefillKernel::kMma : kernel == 2 ? PrefillKernel::kWgmma : PrefillKernel::kAuto;
    const std::string err = blockSparsePrefill(p);
    if (!err.empty()) throw std::runtime_error(err);
    return out;
}

}  // namespace attnlab::kernels
