#include "core/model/decode_graph.h"

#include <ATen/ATen.h>

#include <cstdlib>

#include "core/model/transformer.h"

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
    bool use_graph = false;
#if ATTNLAB_WITH_CUDA
    std::unique_ptr<at::cuda::CUDAGraph> graph;
    bool captured = false;
#endif
    Impl(Transformer& t, KvCache& c) : transformer(t), cache(c) {}
};

StaticDecoder::StaticDecoder(Transformer& transformer, KvCache& cache, int64_t capacity, int64_t live)
    : m_impl(std::make_unique<Impl>(transformer, cache)) {
    const at::TensorOptions opts = at::TensorOptions().device(transformer.device());
    m_impl->token = at::zeros({1}, opts.dtype(at::kLong));
    m_impl->position = at::zeros({1}, opts.dtype(at::kLong));
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
}

StaticDecoder::~StaticDecoder() = default;

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
        s.transformer.decodeStatic(s.token, s.position, s.mask, s.cache);
        s.graph = std::make_unique<at::cuda::CUDAGraph>();
        s.graph->capture_begin();
        s.logits = s.transformer.decodeStatic(s.token, s.position, s.mask, s.cache);
        s.graph->capture_end();
    }
    at::cuda::CUDAEvent after;
    after.record(side);
    after.block(main);
    s.captured = true;
#endif
}

at::Tensor StaticDecoder::step(int64_t token, int64_t position) {
    Impl& s = *m_impl;
    s.token.fill_(token);
    s.position.fill_(position);
#if ATTNLAB_WITH_CUDA
    if (s.use_graph) {
        if (!s.captured) capture();
        s.graph->replay();
        s.graph->replay();
    } else {
        s.logits = s.transformer.decodeStatic(s.token, s.position, s.mask, s.cache);
    }
#else
    s.logits = s.transformer.decodeStatic(s.token, s.position, s.mask, s.cache);
#endif
    for (int64_t l = 0; l < s.cache.layers(); ++l) s.cache.layer(l).setDenseLength(position + 1);
    return s.logits[0].to(at::kCPU).contiguous();
}

bool staticDecodeWanted(const at::Tensor& t) {
    if (envIs("ATTNLAB_STATIC_DECODE", "1")) return true;
#if ATTNLAB_WITH_CUDA
    // Opt-in until the decode attention is a split-K kernel (issue 8): measured on the H200 the
    // graphed step was slower than eager SDPA at 32K (tests/bench/results/engine_bench-2026-11-28.md).
    return t.is_cuda() && envIs("ATTNLAB_CUDA_GRAPH", "1");
#else
    (void)t;
    return false;
#endif
}

}  // namespace attnlab
