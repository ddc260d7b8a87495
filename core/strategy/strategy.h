// The strategy pipeline: a strategy is a set of optional stages over one shared KV cache; every
// stage defaults to full attention, so a strategy implements only the stages it changes and
// records what it decided in the trace. Stages run on the engine worker thread.
//
// Plugins implement StrategyFactory/Strategy in their own MODULE library (plugin_api.h). Their
// methods report failure through Status and must not throw (the engine also catches, defensively).
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "core/model/config.h"
#include "core/model/kv_cache.h"
#include "core/strategy/params.h"
#include "core/strategy/strategy_info.h"
#include "core/strategy/trace.h"
#include "core/util/result.h"

namespace attnlab {

struct RunSetup {
    const ModelConfig* config = nullptr;
    int64_t prompt_tokens = 0;
    const HeadScores* calibration = nullptr;  // set when calibrationKind() is non-empty
    StrategyTrace* trace = nullptr;
};

// One layer's state right after its attention ran (keys/values of this step already appended).
struct LayerContext {
    int64_t layer = 0;
    bool is_prefill = true;
    int64_t step = -1;            // decode step (0-based), -1 in prefill
    const at::Tensor* q = nullptr;            // [Hq, T, D] after RoPE (T = prompt length, or 1 in decode)
    const at::Tensor* q_positions = nullptr;  // [T] int64
    LayerKv* kv = nullptr;
    const ModelConfig* config = nullptr;
    double scale = 1.0;           // softmax scale of this model
    int64_t prompt_tokens = 0;
    int64_t reserve_after_keep = 0;  // pass to LayerKv::keep as extra_capacity (room for decode tokens)
    StrategyTrace* trace = nullptr;
    // RoPE inverse frequencies [head_dim / 2] float (scaling applied), on the cache's device; null for
    // models without rotary embeddings. Keys in the cache are stored rotated at their RoPE position.
    const at::Tensor* inv_freq = nullptr;
};

class Strategy {
public:
    virtual ~Strategy() = default;
    // Called once per run before prefill.
    virtual Status prepare(const RunSetup&) { return Status::ok(); }
    // "compress cache" after this layer's prefill attention, and after each decode step's.
    virtual Status afterPrefillLayer(LayerContext&) { return Status::ok(); }
    virtual Status afterDecodeLayer(LayerContext&) { return Status::ok(); }
    // The position a new token at `token_position` is embedded at (RoPE, or GPT-2's position table).
    // Strategies that renumber the cache (StreamingLLM's positions within the cache) return the
    // token's index in the cache instead; the cache keeps recording the token's original position.
    virtual int64_t ropePosition(int64_t token_position) const { return token_position; }
    // Prefill sparsity: the kPrefillBlock-token (64) key blocks each query block of this layer's prefill
    // may attend to, [Hq, nb, nb] bool (nb = ceil(tokens / kPrefillBlock), core/model/attention.h),
    // causal inside the diagonal blocks; an undefined tensor (the default) keeps the prefill dense.
    // The engine asks before the layer's attention and computes it with the block-sparse prefill
    // kernel on CUDA, its reference elsewhere.
    virtual at::Tensor prefillBlockMask(int64_t /*layer*/, int64_t /*tokens*/) const { return {}; }
};

class StrategyFactory {
public:
    virtual ~StrategyFactory() = default;
    virtual StrategyInfo info() const = 0;
    // values are already validated against info().params.
    virtual Result<std::unique_ptr<Strategy>> create(const ParamValues& values) const = 0;
};

// Helper for strategies: record that a decode step evicts the live entries [first, end) of one KV
// head (call before evicting them: it reads their positions from ctx.kv).
void recordEviction(StrategyTrace& trace, const LayerContext& ctx, int64_t kv_head, int64_t first, int64_t end);
// The same for several heads of the layer at once, in order: one copy from the device for all of them
// (per head, a GPU cache would make the host wait once per head and layer in every decode step).
struct EvictedRange {
    int64_t kv_head = 0, first = 0, end = 0;
};
void recordEvictions(StrategyTrace& trace, const LayerContext& ctx, const std::vector<EvictedRange>& ranges);

// Helper for strategies: indices (into n live entries) of the first `sinks` and the last `recent`,
// ascending (all n when they cover them), made on `device` (the cache's: a host tensor would cost a
// copy that waits for the GPU).
at::Tensor sinkAndRecentIndices(int64_t n, int64_t sinks, int64_t recent, at::Device device);

// Helper for strategies: moves keys stored rotated at RoPE position p to p + delta[i], in place:
// keys [n, D] (any float dtype; rotated in float32), delta [n] int64, inv_freq [D / 2] float.
void rotateKeys(at::Tensor& keys, const at::Tensor& delta, const at::Tensor& inv_freq);

// Helper for strategies: record one head's kept positions after a keep().
void recordKept(StrategyTrace& trace, const LayerContext& ctx, int64_t kv_head, int64_t budget,
                const std::string& stage, const at::Tensor* scores = nullptr);

}  // namespace attnlab
