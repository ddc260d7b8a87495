#include "plugins/streaming/streaming.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "core/model/attention.h"  // kPrefillBlock

namespace attnlab::plugins {

namespace {

class Streaming : public Strategy {
public:
    Streaming(Budget budget, int64_t sink, bool rerotate, bool lambda_prefill)
        : m_budget(budget), m_sink(sink), m_rerotate(rerotate), m_lambda_prefill(lambda_prefill) {}

    Status prepare(const RunSetup& setup) override {
        m_limit = m_budget.resolve(setup.prompt_tokens);
        if (m_limit < 1) return Status::fail("budget resolves to " + std::to_string(m_limit) + " entries; need >= 1");
        m_evicted = 0;
        m_mask = at::Tensor();
        if (m_lambda_prefill) {
            if (!setup.config) return Status::fail("lambda_prefill needs the model's configuration");
            if (setup.config->sliding_window > 0)
                return Status::fail("lambda_prefill does not combine with the model's own sliding window (" +
                                    std::to_string(setup.config->sliding_window) + " tokens)");
            m_q_heads = setup.config->num_heads;
        }
        return Status::ok();
    }

    // lambda_prefill: the prefill's Λ shape at 64-token blocks (MInference's A-shape): each query block
    // reads the blocks that hold the sinks, its own block and the blocks before it that the window
    // (budget - sink entries) reaches from the block's first query; the same for every head and layer.
    at::Tensor prefillBlockMask(int64_t, int64_t tokens) const override {
        if (!m_lambda_prefill) return {};
        if (m_mask.defined() && m_mask_tokens == tokens) return m_mask;  // the same for every layer
        const int64_t block = kPrefillBlock, nb = (tokens + block - 1) / block;
        const int64_t sinks = std::min(m_sink, m_limit);
        const int64_t sink_blocks = (sinks + block - 1) / block;
        const int64_t window_blocks = (m_limit - sinks + block - 1) / block;
        at::Tensor qi = at::arange(nb, at::kLong).unsqueeze(1), ki = at::arange(nb, at::kLong).unsqueeze(0);
        at::Tensor m = ki.le(qi).logical_and(ki.lt(sink_blocks).logical_or((qi - ki).le(window_blocks)));
        m_mask = m.unsqueeze(0).expand({m_q_heads, nb, nb}).contiguous();
        m_mask_tokens = tokens;
        return m_mask;
    }

    // rerotate: positions within the cache (the paper's setting): a new token sits right after the
    // kept entries, i.e. at its original position minus the entries evicted so far.
    int64_t ropePosition(int64_t token_position) const override {
        return m_rerotate ? token_position - m_evicted : token_position;
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
    void evict(LayerContext& ctx, const char* stage) {
        LayerKv& kv = *ctx.kv;
        const int64_t heads = kv.kvHeads();
        const int64_t sinks = std::min(m_sink, m_limit);
        std::vector<at::Tensor> keep;
        std::vector<int64_t> lengths;
        std::vector<EvictedRange> evicted;
        for (int64_t h = 0; h < heads; ++h) {
            const int64_t n = kv.headLength(h);
            lengths.push_back(n);
            keep.push_back(sinkAndRecentIndices(n, sinks, m_limit - sinks, kv.device()));  // limit in all
            // In a decode step the entries between the sinks and the window leave the cache.
            if (!ctx.is_prefill && n > m_limit) evicted.push_back({h, sinks, n - (m_limit - sinks)});
        }
        if (!evicted.empty()) recordEvictions(*ctx.trace, ctx, evicted);
        // One spare slot: the next decode step appends one entry, then the window slides again.
        if (kv.maxLength() > m_limit) {
            kv.keepAscending(keep, 1);
            if (m_rerotate) rerotate(ctx, keep, lengths);
        }
        if (ctx.is_prefill)
            for (int64_t h = 0; h < heads; ++h) recordKept(*ctx.trace, ctx, h, m_limit, stage);
    }

    // With rerotate, entry i of the cache sits at RoPE position i before and after every eviction (the
    // prompt fills 0..n-1; each decode token goes right after the kept entries), so an entry kept from
    // index keep[j] moves by j - keep[j]; the sinks do not move. Keys are rotated in float32; in bf16
    // each slide of the window rounds the moved keys once more.
    // lengths: each head's entries before the keep (a head of at most `limit` kept them all: no move).
    void rerotate(LayerContext& ctx, const std::vector<at::Tensor>& keep, const std::vector<int64_t>& lengths) {
        LayerKv& kv = *ctx.kv;
        for (int64_t h = 0; ctx.inv_freq && h < kv.kvHeads(); ++h) {
            if (lengths[static_cast<size_t>(h)] <= m_limit || m_limit <= std::min(m_sink, m_limit)) continue;
            const at::Tensor& kept = keep[static_cast<size_t>(h)];
            at::Tensor delta = at::arange(kept.numel(), kept.options()) - kept;
            at::Tensor keys = kv.headKeys(h);
            rotateKeys(keys, delta, *ctx.inv_freq);
        }
        // Same count in every head and layer: tokens seen so far (the prompt, then one per decode step;
        // counted on the host, as reading q_positions would wait for the GPU in every layer) minus the
        // entries kept.
        const int64_t seen = ctx.prompt_tokens + (ctx.is_prefill ? 0 : ctx.step + 1);
        m_evicted = seen - keep.front().numel();
    }

    Budget m_budget;
    int64_t m_sink;
    bool m_rerotate = false;
    bool m_lambda_prefill = false;
    int64_t m_q_heads = 0;
    mutable at::Tensor m_mask;  // lambda_prefill's mask for m_mask_tokens (built once per prompt)
    mutable int64_t m_mask_tokens = -1;
    int64_t m_limit = 0;
    int64_t m_evicted = 0;  // entries evicted per head so far (the same in every head and layer)
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
            {"rerotate", ParamType::Bool, "false", 0, 1,
             "re-rotate kept keys to contiguous positions within the cache (new tokens follow them), as in the "
             "paper; false keeps every entry at its original position"},
            {"lambda_prefill", ParamType::Bool, "false", 0, 1,
             "sparse prefill too: each 64-token query block attends only to the sink blocks and the blocks the window "
             "reaches (a Λ shape, MInference's A-shape), on the block-sparse prefill kernel; false: dense prefill, "
             "then the cache is compressed"},
        };
        return i;
    }
    Result<std::unique_ptr<Strategy>> create(const ParamValues& v) const override {
        return std::unique_ptr<Strategy>(
            std::make_unique<Streaming>(v.getBudget("budget"), v.getInt("sink"), v.getBool("rerotate"),
                                        v.getBool("lambda_prefill")));
    }
};

}  // namespace

std::unique_ptr<StrategyFactory> makeStreamingFactory() { return std::make_unique<StreamingFactory>(); }

}  // namespace attnlab::plugins
