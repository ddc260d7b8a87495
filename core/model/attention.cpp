#include "core/model/attention.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <memory>
#include <unordered_map>

#include "core/util/torch_compat.h"
#include "core/util/result.h"
#include "kernels/block_sparse_prefill_ref.h"
#include "kernels/sparse_decode_ref.h"
#if ATTNLAB_KERNELS_CUDA
#include "kernels/block_sparse_prefill_torch.h"
#include "kernels/sparse_decode_torch.h"
#endif

namespace attnlab {

namespace {

// Query rows per block in the exact-math path: bounds the transient score matrix to
// [Hq, kQueryBlock, Tk] floats.
constexpr int64_t kQueryBlock = 256;

// Exact softmax attention of a group of query heads over one set of keys.
// q: [G, Tq, D], k/v: [Tk, D] or [G', Tk, D] broadcastable; mask: [Tq, Tk] bool.
at::Tensor mathAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                         double scale, const at::Tensor& bias = at::Tensor()) {
    at::Tensor scores = at::matmul(q.to(at::kFloat), k.to(at::kFloat).transpose(-2, -1)).mul_(scale);
    if (bias.defined()) scores.add_(bias);
    scores.masked_fill_(mask.logical_not(), -std::numeric_limits<float>::infinity());
    at::Tensor probs = at::softmax(scores, -1);
    return at::matmul(probs.to(v.scalar_type()), v);
}

void notifyObserver(const at::Tensor& q, const at::Tensor& q_positions, const LayerKv& kv,
                    const AttentionParams& params) {
    AttentionObserver* obs = params.observer;
    const int64_t hq = q.size(0);
    const int64_t group = hq / kv.kvHeads();
    for (int64_t head = 0; head < hq; ++head) {
        if (!obs->wantsHead(params.layer, head)) continue;
        const int64_t kv_head = head / group;
        at::Tensor k = kv.headKeys(kv_head).to(at::kFloat);
        at::Tensor kpos = kv.headPositions(kv_head);
        at::Tensor scores = at::matmul(q[head].to(at::kFloat), k.transpose(0, 1)).mul_(params.scale);
        if (at::Tensor bias = kv.headBias(kv_head); bias.defined()) scores.add_(bias);
        at::Tensor mask = visibilityMask(q_positions, kpos, params.sliding_window);
        if (params.block_mask.defined())  // a prefill from 0: queries and keys are tokens 0..T-1
            mask = mask.logical_and(kernels::expandBlockMask(params.block_mask.narrow(0, head, 1).unsqueeze(0),
                                                             kPrefillBlock, q.size(1), false)
                                        .to(mask.device())[0][0]);
        scores.masked_fill_(mask.logical_not(), -std::numeric_limits<float>::infinity());
        at::Tensor probs = at::softmax(scores, -1).nan_to_num(0.0).to(at::kCPU);
        obs->onProbabilities(params.layer, head, probs, q_positions.to(at::kCPU), kpos.to(at::kCPU));
    }
}

// Whether this step's queries are 0..T-1, as the caller settled it or (on a GPU: waiting) by looking.
bool queriesFromZero(const AttentionParams& params, const at::Tensor& q_positions) {
    return params.queries_from_zero >= 0 ? params.queries_from_zero == 1 : positionsFromZero(q_positions);
}

// A block mask applies to a prefill from position 0 into a cache that held nothing before, with no
// sliding window; its shape must be [Hq, nb, nb].
void checkBlockMask(const at::Tensor& q, const at::Tensor& q_positions, const LayerKv& kv, const AttentionParams& params) {
    const int64_t tq = q.size(1), nb = (tq + kPrefillBlock - 1) / kPrefillBlock;
    if (!kv.isDense() || kv.maxLength() != tq || !queriesFromZero(params, q_positions))
        throw Error("layer " + std::to_string(params.layer) +
                    ": a prefill block mask needs a prefill from position 0 into an empty cache");
    if (params.sliding_window > 0)
        throw Error("layer " + std::to_string(params.layer) + ": a prefill block mask does not combine with the model's "
                    "sliding window");
    const at::Tensor& m = params.block_mask;
    if (m.dim() != 3 || m.size(0) != q.size(0) || m.size(1) != nb || m.size(2) != nb || m.scalar_type() != at::kBool)
        throw Error("layer " + std::to_string(params.layer) + ": the prefill block mask must be bool [" +
                    std::to_string(q.size(0)) + ", " + std::to_string(nb) + ", " + std::to_string(nb) + "]");
}

// Exact math of a block-masked prefill (the kernel's semantics, kernels/block_sparse_prefill_ref.h)
// in blocks of kQueryBlock query rows, so the transient scores stay [Hq, kQueryBlock, T]. Rows that
// see no key give zeros.
at::Tensor blockMaskedAttention(const at::Tensor& q, const LayerKv& kv, const AttentionParams& params) {
    static_assert(kQueryBlock % kPrefillBlock == 0, "query blocks hold whole prefill blocks");
    const int64_t hq = q.size(0), tq = q.size(1), d = q.size(2), hkv = kv.kvHeads(), group = hq / hkv;
    at::Tensor k = kv.denseKeys().unsqueeze(1), v = kv.denseValues().unsqueeze(1);  // [Hkv, 1, T, D]
    at::Tensor blocks = params.block_mask.to(q.device());
    at::Tensor out = at::empty_like(q);
    for (int64_t r0 = 0; r0 < tq; r0 += kQueryBlock) {
        const int64_t rows = std::min(kQueryBlock, tq - r0);
        const int64_t b0 = r0 / kPrefillBlock, nrb = (rows + kPrefillBlock - 1) / kPrefillBlock;
        at::Tensor mask = blocks.narrow(1, b0, nrb)
                              .repeat_interleave(kPrefillBlock, 1)
                              .narrow(1, 0, rows)
                              .repeat_interleave(kPrefillBlock, 2)
                              .narrow(2, 0, tq);  // [Hq, rows, T]
        at::Tensor causal = at::arange(r0, r0 + rows, q.options().dtype(at::kLong)).unsqueeze(1) >=
                            at::arange(tq, q.options().dtype(at::kLong)).unsqueeze(0);
        mask = mask.logical_and(causal).reshape({hkv, group, rows, tq});
        at::Tensor qb = q.narrow(1, r0, rows).reshape({hkv, group, rows, d});
        at::Tensor ob = mathAttention(qb, k, v, mask, params.scale).nan_to_num(0.0);
        out.narrow(1, r0, rows).copy_(ob.reshape({hq, rows, d}));
    }
    return out;
}

#if ATTNLAB_KERNELS_CUDA
// The eager decode over a ragged cache calls the kernel once per layer and token. Its plan (device
// pointer tables, workspace, split count) is kept per cache layer and reused, with only the lengths
// copied, while every head's K/V/bias storage stays where it was and the lengths stay under the
// plan's bound; anything else builds a new plan.
at::Tensor cachedSparseDecode(const LayerKv& kv, const at::Tensor& q3, const std::vector<at::Tensor>& ks,
                              const std::vector<at::Tensor>& vs, const std::vector<at::Tensor>& bias, double scale) {
    struct Entry {
        std::vector<const void*> pointers;  // k, v, bias per head
        std::vector<int64_t> shape;         // q heads, head dim, dtype, row stride
        double scale = 0;
        int64_t max_length = 0;
        std::unique_ptr<kernels::SparseDecodePlan> plan;
    };
    thread_local std::unordered_map<const LayerKv*, Entry> plans;
    if (plans.size() > 1024) plans.clear();  // caches come and go (comparisons clone them)

    const int64_t hkv = static_cast<int64_t>(ks.size());
    std::vector<const void*> pointers;
    std::vector<int> lengths;
    int64_t longest = 0;
    for (int64_t h = 0; h < hkv; ++h) {
        pointers.push_back(ks[h].data_ptr());
        pointers.push_back(vs[h].data_ptr());
        pointers.push_back(bias[h].defined() ? bias[h].data_ptr() : nullptr);
        lengths.push_back(static_cast<int>(ks[h].size(0)));
        longest = std::max(longest, ks[h].size(0));
    }
    const std::vector<int64_t> shape = {q3.size(1), q3.size(2), static_cast<int64_t>(q3.scalar_type()),
                                        hkv ? ks[0].stride(0) : 0};
    at::Tensor qc = q3.contiguous();
    Entry& e = plans[&kv];
    if (e.plan && e.pointers == pointers && e.shape == shape && e.scale == scale && longest <= e.max_length) {
        e.plan->setLengths(lengths);
    } else {
        e.plan.reset();
        e.pointers = pointers;
        e.shape = shape;
        e.scale = scale;
        e.max_length = std::max<int64_t>(64, 2 * longest);
        e.plan = std::make_unique<kernels::SparseDecodePlan>(qc, ks, vs, std::vector<at::Tensor>{}, bias, lengths, hkv,
                                                             e.max_length, scale);
    }
    at::Tensor out = at::empty_like(qc);
    e.plan->run(qc, out);
    return out;
}
#endif

}  // namespace

bool positionsFromZero(const at::Tensor& positions) {
    const int64_t n = positions.size(0);
    return n == 0 || positions.equal(at::arange(n, positions.options()));
}

at::Tensor visibilityMask(const at::Tensor& q_positions, const at::Tensor& k_positions, int64_t sliding_window) {
    at::Tensor qp = q_positions.unsqueeze(1);
    at::Tensor kp = k_positions.unsqueeze(0);
    at::Tensor mask = kp.le(qp);
    if (sliding_window > 0) mask.logical_and_((qp - kp).lt(sliding_window));
    return mask;
}

at::Tensor attend(const at::Tensor& q, const at::Tensor& q_positions, const LayerKv& kv, const AttentionParams& params) {
    const int64_t hq = q.size(0);
    const int64_t tq = q.size(1);
    const int64_t d = q.size(2);
    const int64_t hkv = kv.kvHeads();
    const int64_t group = hq / hkv;

    if (params.block_mask.defined()) checkBlockMask(q, q_positions, kv, params);
    if (params.observer && params.observer->wantsLayer(params.layer)) notifyObserver(q, q_positions, kv, params);
    if (params.block_mask.defined()) {
#if ATTNLAB_KERNELS_CUDA
        if (q.is_cuda() && (d == 64 || d == 128) && (q.scalar_type() == at::kBFloat16 || q.scalar_type() == at::kHalf)) {
            const at::Tensor mask = params.block_mask.unsqueeze(0);
            const kernels::TileLists tiles = kernels::buildTileLists(mask, kPrefillBlock, 1, hq, tq, true, q.device());
            return kernels::blockSparseAttention(q.unsqueeze(0), kv.denseKeys().unsqueeze(0), kv.denseValues().unsqueeze(0),
                                                 tiles, true, params.scale)
                .squeeze(0);
        }
#endif
        return blockMaskedAttention(q, kv, params);
    }

    if (!kv.isDense() && tq == 1 && params.sliding_window == 0) {
        // Decode over a ragged cache: every kept entry is visible. The split-K kernel on CUDA, its
        // reference elsewhere (kernels/sparse_decode*.h).
        std::vector<at::Tensor> ks, vs, bias;
        for (int64_t h = 0; h < hkv; ++h) {
            ks.push_back(kv.headKeys(h));
            vs.push_back(kv.headValues(h));
            bias.push_back(kv.headBias(h));
        }
        at::Tensor q3 = q.reshape({1, hq, d});
#if ATTNLAB_KERNELS_CUDA
        if (q.is_cuda() && (d == 64 || d == 128) && (q.scalar_type() == at::kBFloat16 || q.scalar_type() == at::kHalf))
            return cachedSparseDecode(kv, q3, ks, vs, bias, params.scale).reshape({hq, 1, d});
#endif
        return kernels::sparseDecodeReference(q3, ks, vs, {}, bias, hkv, params.scale).reshape({hq, 1, d});
    }
    if (!kv.isDense()) {
        // Ragged cache: each KV head reads its own entries; its query heads share them (no K/V repeat).
        at::Tensor out = at::empty_like(q);
        for (int64_t h = 0; h < hkv; ++h) {
            at::Tensor qg = q.narrow(0, h * group, group);
            at::Tensor mask = visibilityMask(q_positions, kv.headPositions(h), params.sliding_window);
            out.narrow(0, h * group, group)
                .copy_(mathAttention(qg, kv.headKeys(h), kv.headValues(h), mask, params.scale, kv.headBias(h)));
        }
        return out;
    }

    at::Tensor k = kv.denseKeys();
    at::Tensor v = kv.denseValues();
    at::Tensor k_positions = kv.densePositions();

#if ATTNLAB_HAS_SDPA
    if (q.is_cuda() || q.scalar_type() != at::kFloat) {
        const bool decode_all_visible = tq == 1 && params.sliding_window == 0;
        // Keys exactly the queries' positions 0..T-1 (the cache held nothing before this step): is_causal is the mask.
        const bool causal = !decode_all_visible && params.sliding_window == 0 && kv.maxLength() == tq &&
                            queriesFromZero(params, q_positions);
        c10::optional<at::Tensor> mask;
        if (!decode_all_visible && !causal) mask = visibilityMask(q_positions, k_positions, params.sliding_window);
        at::Tensor out = at::scaled_dot_product_attention(q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0), mask, 0.0,
                                                          causal, params.scale, /*enable_gqa=*/true);
        return out.squeeze(0);
    }
#endif
    // Exact math in blocks of query rows; GQA by viewing [Hq, rows, D] as [Hkv, G*rows, D].
    at::Tensor out = at::empty_like(q);
    for (int64_t r0 = 0; r0 < tq; r0 += kQueryBlock) {
        const int64_t rows = std::min(kQueryBlock, tq - r0);
        at::Tensor qb = q.narrow(1, r0, rows).reshape({hkv, group, rows, d});
        at::Tensor mask = visibilityMask(q_positions.narrow(0, r0, rows), k_positions, params.sliding_window);
        at::Tensor ob = mathAttention(qb, k.unsqueeze(1), v.unsqueeze(1), mask, params.scale);  // [Hkv, G, rows, D]
        out.narrow(1, r0, rows).copy_(ob.reshape({hq, rows, d}));
    }
    return out;
}

}  // namespace attnlab
