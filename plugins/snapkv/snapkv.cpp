#include "plugins/snapkv/snapkv.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "core/model/attention.h"

namespace attnlab::plugins {

at::Tensor snapKvSelect(const at::Tensor& q_group, const at::Tensor& k, const at::Tensor& positions, int64_t budget,
                        int64_t window, int64_t kernel, double scale, int64_t sliding_window,
                        at::Tensor* pooled_scores) {
    const int64_t t = k.size(0);
    if (t <= budget) return at::arange(t, at::kLong);
    if (budget <= window) return at::arange(t - budget, t, at::kLong);  // only the most recent fit
    const int64_t prefix = t - window;
    // [G, window, T] causal softmax of the observation window's queries over every prompt key.
    at::Tensor q = q_group.narrow(1, prefix, window).to(at::kFloat);
    at::Tensor scores = at::matmul(q, k.to(at::kFloat).t()).mul_(scale);
    at::Tensor mask = visibilityMask(positions.narrow(0, prefix, window), positions, sliding_window);
    scores.masked_fill_(mask.logical_not(), -std::numeric_limits<float>::infinity());
    at::Tensor votes = at::softmax(scores, -1).sum(1).mean(0);  // [T]
    at::Tensor prefix_votes = votes.narrow(0, 0, prefix).reshape({1, 1, prefix});
    at::Tensor pooled = at::avg_pool1d(prefix_votes, {kernel}, {1}, {kernel / 2}, /*ceil_mode=*/false,
                                       /*count_include_pad=*/true)
                            .reshape({prefix});
    if (pooled_scores) *pooled_scores = pooled;
    // Stable descending sort: equal scores keep ascending position order, so ties go to the lower one.
    at::Tensor order = std::get<1>(at::sort(pooled.to(at::kCPU), /*stable=*/true, /*dim=*/0, /*descending=*/true));
    at::Tensor top = order.narrow(0, 0, budget - window).to(k.device());
    at::Tensor kept = at::cat({top, at::arange(prefix, t, at::TensorOptions().dtype(at::kLong).device(k.device()))});
    return std::get<0>(kept.sort());
}

namespace {

class SnapKv : public Strategy {
public:
    SnapKv(Budget budget, int64_t window, int64_t kernel) : m_budget(budget), m_window(window), m_kernel(kernel) {}

    Status prepare(const RunSetup& setup) override {
        m_limit = m_budget.resolve(setup.prompt_tokens);
        if (m_limit < 1) return Status::fail("budget resolves to " + std::to_string(m_limit) + " entries; need >= 1");
        return Status::ok();
    }

    Status afterPrefillLayer(LayerContext& ctx) override {
        LayerKv& kv = *ctx.kv;
        const int64_t heads = kv.kvHeads();
        const int64_t group = ctx.q->size(0) / heads;
        std::vector<at::Tensor> keep;
        std::vector<at::Tensor> scores(static_cast<size_t>(heads));
        for (int64_t h = 0; h < heads; ++h) {
            keep.push_back(snapKvSelect(ctx.q->narrow(0, h * group, group), kv.headKeys(h), kv.headPositions(h), m_limit,
                                        m_window, m_kernel, ctx.scale, ctx.config->sliding_window,
                                        &scores[static_cast<size_t>(h)]));
        }
        if (kv.maxLength() > m_limit) kv.keep(keep, ctx.reserve_after_keep);
        for (int64_t h = 0; h < heads; ++h)
            recordKept(*ctx.trace, ctx, h, m_limit, "compress_prefill", &scores[static_cast<size_t>(h)]);
        return Status::ok();
    }

private:
    Budget m_budget;
    int64_t m_window;
    int64_t m_kernel;
    int64_t m_limit = 0;
};

class SnapKvFactory : public StrategyFactory {
public:
    StrategyInfo info() const override {
        StrategyInfo i;
        i.name = "snapkv";
        i.summary = "SnapKV: keep the prompt positions the last window of queries attends to most (one-shot, after prefill).";
        i.params = {
            {"budget", ParamType::Budget, "25%", 1, 1e9,
             "entries each KV head keeps per layer, window included: a count or a share of the prompt"},
            {"window", ParamType::Int, "32", 1, 1e6, "observation window: the last prompt queries that vote"},
            {"kernel", ParamType::Int, "7", 1, 1001, "width of the average pooling over votes (odd)"},
        };
        return i;
    }
    Result<std::unique_ptr<Strategy>> create(const ParamValues& v) const override {
        const int64_t kernel = v.getInt("kernel");
        if (kernel % 2 == 0)
            return Result<std::unique_ptr<Strategy>>::fail("kernel=" + std::to_string(kernel) +
                                                           " must be odd (same-size pooling)");
        return std::unique_ptr<Strategy>(
            std::make_unique<SnapKv>(v.getBudget("budget"), v.getInt("window"), kernel));
    }
};

}  // namespace

std::unique_ptr<StrategyFactory> makeSnapKvFactory() { return std::make_unique<SnapKvFactory>(); }

}  // namespace attnlab::plugins
