#include "plugins/streaming/streaming.h"

#include <ATen/ATen.h>

#include <algorithm>

namespace attnlab::plugins {

namespace {

class Streaming : public Strategy {
public:
    Streaming(Budget budget, int64_t sink) : m_budget(budget), m_sink(sink) {}

    Status prepare(const RunSetup& setup) override {
        m_limit = m_budget.resolve(setup.prompt_tokens);
        if (m_limit < 1) return Status::fail("budget resolves to " + std::to_string(m_limit) + " entries; need >= 1");
        return Status::ok();
    }

    Status afterPrefillLayer(LayerContext& ctx) override {
        evict(ctx, "compress_prefill");
        return Status::ok();
    }

    Status afterDecodeLayer(LayerContext& ctx) override {
        if (ctx.kv->maxLength() > m_limit) evict(ctx, "compress_decode");
        return Status::ok();
    }

private:
    // Indices (into a head's live entries) of the sinks and the most recent entries, limit in all.
    at::Tensor keptIndices(int64_t n) const {
        if (n <= m_limit) return at::arange(n, at::kLong);
        const int64_t sinks = std::min(m_sink, m_limit);
        const int64_t recent = m_limit - sinks;
        return at::cat({at::arange(sinks, at::kLong), at::arange(n - recent, n, at::kLong)});
    }

    void evict(LayerContext& ctx, const char* stage) {
        LayerKv& kv = *ctx.kv;
        const int64_t heads = kv.kvHeads();
        std::vector<at::Tensor> keep;
        for (int64_t h = 0; h < heads; ++h) {
            const int64_t n = kv.headLength(h);
            keep.push_back(keptIndices(n));
            if (!ctx.is_prefill && n > m_limit) {
                // The entries between the sinks and the window leave the cache this step.
                const int64_t sinks = std::min(m_sink, m_limit);
                recordEviction(*ctx.trace, ctx, h, sinks, n - (m_limit - sinks));
            }
        }
        // One spare slot: the next decode step appends one entry, then the window slides again.
        if (kv.maxLength() > m_limit) kv.keep(keep, 1);
        if (ctx.is_prefill)
            for (int64_t h = 0; h < heads; ++h) recordKept(*ctx.trace, ctx, h, m_limit, stage);
    }

    Budget m_budget;
    int64_t m_sink;
    int64_t m_limit = 0;
};

class StreamingFactory : public StrategyFactory {
public:
    StrategyInfo info() const override {
        StrategyInfo i;
        i.name = "streaming";
        i.summary = "StreamingLLM: attention sinks plus a sliding window of recent entries per KV head.";
        i.params = {
            {"budget", ParamType::Budget, "25%", 1, 1e9,
             "entries each KV head keeps per layer, sinks included: a count or a share of the prompt"},
            {"sink", ParamType::Int, "4", 0, 1e6, "initial entries always kept (attention sinks)"},
        };
        return i;
    }
    Result<std::unique_ptr<Strategy>> create(const ParamValues& v) const override {
        return std::unique_ptr<Strategy>(std::make_unique<Streaming>(v.getBudget("budget"), v.getInt("sink")));
    }
};

}  // namespace

std::unique_ptr<StrategyFactory> makeStreamingFactory() { return std::make_unique<StreamingFactory>(); }

}  // namespace attnlab::plugins
