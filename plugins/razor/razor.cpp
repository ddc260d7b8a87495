#include "plugins/razor/razor.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/strategy/calibration.h"

namespace attnlab::plugins {

namespace {

class Razor : public Strategy {
public:
    Razor(double ratio, int64_t sink, int64_t recent) : m_ratio(ratio), m_sink(sink), m_recent(recent) {}

    Status prepare(const RunSetup& setup) override {
        if (!setup.calibration || setup.calibration->kind != "razor")
            return Status::fail("razor needs a razor calibration (attnlab-cli calibrate --strategy razor)");
        const HeadScores& c = *setup.calibration;
        const int64_t layers = setup.config->num_layers, heads = setup.config->num_kv_heads;
        if (static_cast<int64_t>(c.scores.size()) != layers || static_cast<int64_t>(c.secondary.size()) != layers)
            return Status::fail("the razor calibration does not match this model's layers");
        const int64_t total = layers * heads;
        const auto protect = static_cast<int64_t>(std::llround(m_ratio * double(total)));
        const int64_t by_echo = protect > 0 ? std::max<int64_t>(1, std::llround(double(protect) / 15.0)) : 0;
        m_roles = topHeads(c.secondary, by_echo);
        // Induction heads fill the rest, skipping heads the echo score already protects.
        std::vector<std::vector<double>> induction = c.scores;
        for (size_t l = 0; l < induction.size(); ++l)
            for (size_t h = 0; h < induction[l].size(); ++h)
                if (m_roles[l][h]) induction[l][h] = -1e300;
        auto more = topHeads(induction, protect - by_echo);
        for (size_t l = 0; l < more.size(); ++l)
            for (size_t h = 0; h < more[l].size(); ++h) m_roles[l][h] |= more[l][h];
        setup.trace->head_roles = m_roles;
        return Status::ok();
    }

    Status afterPrefillLayer(LayerContext& ctx) override {
        LayerKv& kv = *ctx.kv;
        const auto& roles = m_roles.at(static_cast<size_t>(ctx.layer));
        const int64_t limit = m_sink + m_recent;
        for (int64_t h = 0; h < kv.kvHeads(); ++h) {
            const int64_t n = kv.headLength(h);
            const bool is_retrieval = roles.at(static_cast<size_t>(h)) == 1;
            if (!is_retrieval && n > limit + 1) {
                kv.toRagged(ctx.reserve_after_keep);
                at::Tensor k = kv.headKeys(h), v = kv.headValues(h), pos = kv.headPositions(h);
                const int64_t dropped = n - limit;
                at::Tensor mid_k = k.narrow(0, m_sink, dropped), mid_v = v.narrow(0, m_sink, dropped);
                // The compensation token: mean key and value of the dropped entries, at the last
                // dropped position (visible to every later query), weighted by their count.
                at::Tensor comp_k = mid_k.to(at::kFloat).mean(0, true).to(k.scalar_type());
                at::Tensor comp_v = mid_v.to(at::kFloat).mean(0, true).to(v.scalar_type());
                at::Tensor comp_pos = pos.narrow(0, m_sink + dropped - 1, 1);
                at::Tensor bias = at::zeros({limit + 1}, at::TensorOptions().dtype(at::kFloat).device(k.device()));
                bias[m_sink] = std::log(static_cast<double>(dropped));
                kv.setHead(h, at::cat({k.narrow(0, 0, m_sink), comp_k, k.narrow(0, n - m_recent, m_recent)}),
                           at::cat({v.narrow(0, 0, m_sink), comp_v, v.narrow(0, n - m_recent, m_recent)}),
                           at::cat({pos.narrow(0, 0, m_sink), comp_pos, pos.narrow(0, n - m_recent, m_recent)}), bias,
                           ctx.reserve_after_keep);
            }
            recordKept(*ctx.trace, ctx, h, is_retrieval ? n : limit + 1, "compress_prefill");
        }
        return Status::ok();
    }

private:
    double m_ratio;
    int64_t m_sink;
    int64_t m_recent;
    std::vector<std::vector<int>> m_roles;
};

class RazorFactory : public StrategyFactory {
public:
    StrategyInfo info() const override {
        StrategyInfo i;
        i.name = "razor";
        i.summary = "RazorAttention: retrieval heads keep the full cache, the others sink + recent + one compensation token.";
        i.calibration = "razor";
        i.params = {
            {"retrieval_ratio", ParamType::Float, "0.15", 0, 1,
             "share of KV heads kept whole (the paper: top 14% induction + 1% echo heads)"},
            {"sink", ParamType::Int, "4", 0, 1e6, "initial entries the other heads keep"},
            {"recent", ParamType::Int, "256", 1, 1e7, "most recent entries the other heads keep"},
        };
        return i;
    }
    Result<std::unique_ptr<Strategy>> create(const ParamValues& v) const override {
        return std::unique_ptr<Strategy>(
            std::make_unique<Razor>(v.getFloat("retrieval_ratio"), v.getInt("sink"), v.getInt("recent")));
    }
};

}  // namespace

std::unique_ptr<StrategyFactory> makeRazorFactory() { return std::make_unique<RazorFactory>(); }

}  // namespace attnlab::plugins
