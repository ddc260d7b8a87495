#include "core/model/decode_graph.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdlib>

#include "core/model/transformer.h"
#if ATTNLAB_KERNELS_CUDA
#include "kernels/sparse_decode_torch.h"
#endif

#if ATTNLAB_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace attnlab {

namespace {
bool envIs(const char* name, const char* value) {
    const char* v = std::getenv(name);
    return v && std::string(v) == value;
}
}  // namespace

struct StaticDecoder::Impl {
    Transformer& transformer;
    KvCache& cache;
    at::Tensor token, position, mask, logits;
    // CUDA: token and position are views of one device tensor filled by one copy from pinned
    // memory, and the logits come back through a pinned buffer (fewer, faster transfers per step).
    at::Tensor inputs, host_inputs, host_logits;
    // Greedy decoding: the argmax of the logits on the device (inside the graph), so a step returns
    // 8 bytes instead of a vocab-sized row and the host does not scan the row.
    bool device_argmax = false;
    at::Tensor next_token, host_next;
    bool use_graph = false;
#if ATTNLAB_WITH_CUDA
    std::unique_ptr<at::cuda::CUDAGraph> graph;
    bool captured = false;
#endif
#if ATTNLAB_KERNELS_CUDA
    // Split-K decode attention over each layer's reserved buffers; lengths = position + 1 for every
    // KV head, computed inside the graph.
    std::vector<std::unique_ptr<kernels::SparseDecodePlan>> plans;
    at::Tensor lengths;
    Transformer::StaticAttention attention;
#endif
    Impl(Transformer& t, KvCache& c) : transformer(t), cache(c) {}
};

StaticDecoder::StaticDecoder(Transformer& transformer, KvCache& cache, int64_t capacity, int64_t live)
    : m_impl(std::make_unique<Impl>(transformer, cache)) {
    const at::TensorOptions opts = at::TensorOptions().device(transformer.device());
    if (transformer.device().is_cuda()) {
        m_impl->inputs = at::zeros({2}, opts.dtype(at::kLong));
        m_impl->token = m_impl->inputs.narrow(0, 0, 1);
        m_impl->position = m_impl->inputs.narrow(0, 1, 1);
        m_impl->host_inputs = at::empty({2}, at::TensorOptions().dtype(at::kLong).pinned_memory(true));
    } else {
        m_impl->token = at::zeros({1}, opts.dtype(at::kLong));
        m_impl->position = at::zeros({1}, opts.dtype(at::kLong));
    }
    m_impl->mask = at::full({1, 1, 1, capacity}, -std::numeric_limits<double>::infinity(), opts.dtype(transformer.dtype()));
    m_impl->mask.narrow(3, 0, live).zero_();
    // Masked slots still enter the matmuls (0 x NaN = NaN): never leave uninitialised memory there.
    for (int64_t l = 0; l < cache.layers(); ++l) {
        LayerKv& kv = cache.layer(l);
        kv.denseCapacityKeys().narrow(1, live, capacity - live).zero_();
        kv.denseCapacityValues().narrow(1, live, capacity - live).zero_();
    }
#if ATTNLAB_WITH_CUDA
    m_impl->use_graph = transformer.device().is_cuda();
#endif
#if ATTNLAB_KERNELS_CUDA
    Impl& s = *m_impl;
    const ModelConfig& c = transformer.config();
    if (transformer.device().is_cuda() && (c.head_dim == 64 || c.head_dim == 128) && !envIs("ATTNLAB_DECODE_KERNEL", "0")) {
        s.lengths = at::full({c.num_kv_heads}, live, opts.dtype(at::kInt));
        at::Tensor q = at::zeros({1, c.num_heads, c.head_dim}, opts.dtype(transformer.dtype()));
        for (int64_t l = 0; l < cache.layers(); ++l) {
            LayerKv& kv = cache.layer(l);
            std::vector<at::Tensor> ks, vs;
            for (int64_t h = 0; h < c.num_kv_heads; ++h) {
                ks.push_back(kv.denseCapacityKeys()[h]);
                vs.push_back(kv.denseCapacityValues()[h]);
            }
            auto plan = std::make_unique<kernels::SparseDecodePlan>(
                q, ks, vs, std::vector<at::Tensor>{}, std::vector<at::Tensor>{},
                std::vector<int>(static_cast<size_t>(c.num_kv_heads), static_cast<int>(live)), c.num_kv_heads, capacity,
                1.0 / std::sqrt(static_cast<double>(c.head_dim)));
            plan->useLengths(s.lengths);
            s.plans.push_back(std::move(plan));
        }
        const int64_t hq = c.num_heads, d = c.head_dim;
        s.attention = [&s, hq, d](int64_t layer, const at::Tensor& q) {
            if (layer == 0) s.lengths.copy_((s.position + 1).to(at::kInt).expand({s.lengths.size(0)}));
            at::Tensor q3 = q.reshape({1, hq, d}).contiguous();
            at::Tensor out = at::empty_like(q3);
            s.plans[static_cast<size_t>(layer)]->run(q3, out);
            return out.reshape({hq, d});
        };
    }
#endif
}

StaticDecoder::~StaticDecoder() = default;

Transformer::StaticAttention StaticDecoder::staticAttention() const {
#if ATTNLAB_KERNELS_CUDA
    return m_impl->attention;
#else
    return nullptr;
#endif
}

bool StaticDecoder::usesCudaGraph() const { return m_impl->use_graph; }

void StaticDecoder::prepare(int64_t position) {
#if ATTNLAB_WITH_CUDA
    Impl& s = *m_impl;
    if (!s.use_graph || s.captured) return;
    // A dummy token at the next position: the real step rewrites the same K/V slot before reading it.
    s.token.fill_(0);
    s.position.fill_(position);
    capture();
#else
    (void)position;
#endif
}

void StaticDecoder::capture() {
#if ATTNLAB_WITH_CUDA
    Impl& s = *m_impl;
    // Capture on a side stream after one eager warm-up of the same step (it writes the same K/V
    // at the same position, so running it twice changes nothing).
    c10::cuda::CUDAStream main = c10::cuda::getCurrentCUDAStream();
    c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool();
    at::cuda::CUDAEvent before;
    before.record(main);
    before.block(side);
    {
        c10::cuda::CUDAStreamGuard guard(side);
        s.transformer.decodeStatic(s.token, s.position, s.mask, s.cache, staticAttention());
        s.graph = std::make_unique<at::cuda::CUDAGraph>();
        s.graph->capture_begin();
        s.logits = s.transformer.decodeStatic(s.token, s.position, s.mask, s.cache, staticAttention());
        if (s.device_argmax) s.next_token = s.logits[0].argmax();
        s.graph->capture_end();
    }
    at::cuda::CUDAEvent after;
    after.record(side);
    after.block(main);
    s.captured = true;
#endif
}

void StaticDecoder::enableDeviceArgmax() {
    Impl& s = *m_impl;
#if ATTNLAB_WITH_CUDA
    if (s.captured && !s.device_argmax) {  // the graph has to be recaptured with the argmax inside
        s.graph.reset();
        s.captured = false;
    }
#endif
    s.device_argmax = true;
}

void StaticDecoder::run(int64_t token, int64_t position) {
    Impl& s = *m_impl;
    if (s.inputs.defined()) {
        // The previous step's synchronous copy back guarantees the pinned buffer is free again.
        s.host_inputs.data_ptr<int64_t>()[0] = token;
        s.host_inputs.data_ptr<int64_t>()[1] = position;
        s.inputs.copy_(s.host_inputs, /*non_blocking=*/true);
    } else {
        s.token.fill_(token);
        s.position.fill_(position);
    }
#if ATTNLAB_WITH_CUDA
    if (s.use_graph) {
        if (!s.captured) capture();
        s.graph->replay();
    } else {
        s.logits = s.transformer.decodeStatic(s.token, s.position, s.mask, s.cache, staticAttention());
        if (s.device_argmax) s.next_token = s.logits[0].argmax();
    }
#else
    s.logits = s.transformer.decodeStatic(s.token, s.position, s.mask, s.cache);
    if (s.device_argmax) s.next_token = s.logits[0].argmax();
#endif
    for (int64_t l = 0; l < s.cache.layers(); ++l) s.cache.layer(l).setDenseLength(position + 1);
}

at::Tensor StaticDecoder::step(int64_t token, int64_t position) {
    Impl& s = *m_impl;
    run(token, position);
    if (s.inputs.defined()) {
        if (!s.host_logits.defined() || s.host_logits.numel() != s.logits.size(1))
            s.host_logits = at::empty({s.logits.size(1)}, at::TensorOptions().dtype(at::kFloat).pinned_memory(true));
        s.host_logits.copy_(s.logits[0], /*non_blocking=*/false);
        return s.host_logits;
    }
    return s.logits[0].to(at::kCPU).contiguous();
}

int64_t StaticDecoder::stepGreedy(int64_t token, int64_t position) {
    Impl& s = *m_impl;
    if (!s.device_argmax) enableDeviceArgmax();
    run(token, position);
    if (s.inputs.defined()) {
        if (!s.host_next.defined())
            s.host_next = at::empty({1}, at::TensorOptions().dtype(at::kLong).pinned_memory(true));
        s.host_next.copy_(s.next_token.reshape({1}), /*non_blocking=*/false);
        return s.host_next.data_ptr<int64_t>()[0];
    }
    return s.next_token.item<int64_t>();
}

bool staticDecodeWanted(const at::Tensor& t) {
    if (envIs("ATTNLAB_STATIC_DECODE", "1")) return true;
#if ATTNLAB_WITH_CUDA
#if ATTNLAB_KERNELS_CUDA
    // With the split-K decode kernel inside the graph: on by default (ATTNLAB_CUDA_GRAPH=0 turns it off).
    return t.is_cuda() && !envIs("ATTNLAB_CUDA_GRAPH", "0");
#else
    // Without the kernel the graphed step's masked attention was slower than eager SDPA at 32K
    // (tests/bench/results/engine_bench-2026-11-28.md): opt-in only.
    return t.is_cuda() && envIs("ATTNLAB_CUDA_GRAPH", "1");
#endif
#else
    (void)t;
    return false;
#endif
}

}  // namespace attnlab
