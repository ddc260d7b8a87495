#include "core/strategy/strategy.h"

#include <ATen/ATen.h>

#include "core/model/transformer.h"

namespace attnlab {

void recordEviction(StrategyTrace& trace, const LayerContext& ctx, int64_t kv_head, int64_t first, int64_t end) {
    recordEvictions(trace, ctx, {EvictedRange{kv_head, first, end}});
}

void recordEvictions(StrategyTrace& trace, const LayerContext& ctx, const std::vector<EvictedRange>& ranges) {
    std::vector<at::Tensor> parts;
    for (const EvictedRange& r : ranges)
        if (r.end > r.first) parts.push_back(ctx.kv->headPositions(r.kv_head).narrow(0, r.first, r.end - r.first));
    at::Tensor all = parts.empty() ? at::Tensor() : at::cat(parts).to(at::kCPU, at::kLong).contiguous();
    const int64_t* p = all.defined() ? all.data_ptr<int64_t>() : nullptr;
    for (const EvictedRange& r : ranges) {
        EvictionEvent e;
        e.step = ctx.step;
        e.layer = ctx.layer;
        e.kv_head = r.kv_head;
        if (r.end > r.first) {
            e.evicted_positions.assign(p, p + (r.end - r.first));
            p += r.end - r.first;
        }
        trace.evictions.push_back(std::move(e));
    }
}

at::Tensor sinkAndRecentIndices(int64_t n, int64_t sinks, int64_t recent, at::Device device) {
    const auto opts = at::TensorOptions().dtype(at::kLong).device(device);
    if (n <= sinks + recent) return at::arange(n, opts);
    return at::cat({at::arange(sinks, opts), at::arange(n - recent, n, opts)});
}

void recordKept(StrategyTrace& trace, const LayerContext& ctx, int64_t kv_head, int64_t budget,
                const std::string& stage, const at::Tensor* scores) {
    HeadDecision d;
    d.layer = ctx.layer;
    d.kv_head = kv_head;
    d.stage = stage;
    d.step = ctx.step;
    d.budget = budget;
    at::Tensor pos = ctx.kv->headPositions(kv_head).to(at::kCPU).contiguous();
    d.kept_positions.assign(pos.data_ptr<int64_t>(), pos.data_ptr<int64_t>() + pos.numel());
    if (scores && scores->defined()) {
        at::Tensor s = scores->to(at::kCPU, at::kFloat).contiguous();
        d.scores.assign(s.data_ptr<float>(), s.data_ptr<float>() + s.numel());
    }
    trace.decisions.push_back(std::move(d));
}

void rotateKeys(at::Tensor& keys, const at::Tensor& delta, const at::Tensor& inv_freq) {
    if (keys.numel() == 0) return;
    // R(p + d) k_pre = R(d) R(p) k_pre: the same half-split rotation as the model's RoPE, by d.
    auto [cos, sin] = ropeCosSin(delta, inv_freq, at::kFloat);
    at::Tensor k = keys.to(at::kFloat);
    keys.copy_(k * cos + rotateHalf(k) * sin);
}

}  // namespace attnlab
