#include "plugins/duo/duo.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/strategy/calibration.h"

namespace attnlab::plugins {

namespace {

class Duo : public Strategy {
public:
    Duo(double ratio, int64_t sink, int64_t recent) : m_ratio(ratio), m_sink(sink), m_recent(recent) {}

    Status prepare(const RunSetup& setup) override {
        if (!setup.calibration || setup.calibration->kind != "duo")
            return Status::fail("duo needs a duo calibration (attnlab-cli calibrate --strategy duo)");
        const auto& scores = setup.calibration->scores;
        if (static_cast<int64_t>(scores.size()) != setup.config->num_layers ||
            static_cast<int64_t>(scores.at(0).size()) != setup.config->num_kv_heads)
            return Status::fail("the duo calibration does not match this model's layers and KV heads");
        const int64_t total = setup.config->num_layers * setup.config->num_kv_heads;
        m_roles = topHeads(scores, static_cast<int64_t>(std::llround(m_ratio * double(total))));
        setup.trace->head_roles = m_roles;
        return Status::ok();
    }

    Status afterPrefillLayer(LayerContext& ctx) override { return evict(ctx); }
    Status afterDecodeLayer(LayerContext& ctx) override { return evict(ctx); }

private:
    // Streaming heads over their limit keep sinks + recent; retrieval heads are never touched.
    Status evict(LayerContext& ctx) {
        LayerKv& kv = *ctx.kv;
        const int64_t limit = m_sink + m_recent;
        const auto& roles = m_roles.at(static_cast<size_t>(ctx.layer));
        const auto isRetrieval = [&](int64_t h) { return roles.at(static_cast<size_t>(h)) == 1; };
        // Streaming heads over their limit: their entries between the sinks and the window leave.
        std::vector<EvictedRange> over;
        for (int64_t h = 0; h < kv.kvHeads(); ++h)
            if (!isRetrieval(h) && kv.headLength(h) > limit) over.push_back({h, m_sink, kv.headLength(h) - m_recent});
        // Retrieval heads keep everything, with room for the decode tokens.
        if (!over.empty()) kv.toRagged(ctx.reserve_after_keep);
        // A decode step records them for all heads at once, before any head changes (one copy from the device).
        if (!ctx.is_prefill && !over.empty()) recordEvictions(*ctx.trace, ctx, over);
        for (const EvictedRange& r : over) {
            const int64_t h = r.kv_head;
            at::Tensor idx = sinkAndRecentIndices(kv.headLength(h), m_sink, m_recent, kv.device());
            at::Tensor bias = kv.headBias(h);
            // One spare slot: the next decode step appends one entry, then the window slides.
            kv.setHead(h, kv.headKeys(h).index_select(0, idx), kv.headValues(h).index_select(0, idx),
                       kv.headPositions(h).index_select(0, idx), bias.defined() ? bias.index_select(0, idx) : bias, 1);
        }
        if (ctx.is_prefill)
            for (int64_t h = 0; h < kv.kvHeads(); ++h)
                recordKept(*ctx.trace, ctx, h, isRetrieval(h) ? kv.headLength(h) : limit, "compress_prefill");
        return Status::ok();
    }

    double m_ratio;
    int64_t m_sink;
    int64_t m_recent;
    std::vector<std::vector<int>> m_roles;
};

class DuoFactory : public StrategyFactory {
public:
    StrategyInfo info() const override {
        StrategyInfo i;
        i.name = "duo";
        i.summary = "DuoAttention: retrieval heads keep the full cache, streaming heads keep sink + recent.";
        i.calibration = "duo";
        i.params = {
            {"retrieval_ratio", ParamType::Float, "0.5", 0, 1, "share of KV heads kept whole (retrieval heads)"},
            {"sink", ParamType::Int, "64", 0, 1e6, "initial entries streaming heads keep"},
            {"recent", ParamType::Int, "256", 1, 1e7, "most recent entries streaming heads keep"},
        };
        return i;
    }
    Result<std::unique_ptr<Strategy>> create(const ParamValues& v) const override {
        return std::unique_ptr<Strategy>(
            std::make_unique<Duo>(v.getFloat("retrieval_ratio"), v.getInt("sink"), v.getInt("recent")));
    }
};

}  // namespace

std::unique_ptr<StrategyFactory> makeDuoFactory() { return std::make_unique<DuoFactory>(); }

}  // namespace attnlab::plugins
