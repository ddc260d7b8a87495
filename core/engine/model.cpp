#include "core/engine/model.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "core/io/safetensors.h"
#include "core/model/decode_graph.h"
#include "core/model/transformer.h"
#include "core/strategy/strategy.h"
#include "core/util/torch_compat.h"

namespace attnlab {

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

Result<at::ScalarType> parseDtype(const std::string& name, bool is_cuda) {
    if (name.empty()) return is_cuda ? at::kBFloat16 : at::kFloat;
    if (name == "f32" || name == "float32" || name == "fp32") return at::kFloat;
    if (name == "bf16" || name == "bfloat16") return at::kBFloat16;
    if (name == "f16" || name == "float16" || name == "fp16") return at::kHalf;
    return Result<at::ScalarType>::fail("unknown dtype '" + name + "' (f32, bf16, f16)");
}

const char* dtypeLabel(at::ScalarType t) {
    switch (t) {
        case at::kFloat: return "f32";
        case at::kBFloat16: return "bf16";
        case at::kHalf: return "f16";
        default: return "?";
    }
}

// Collects exact probabilities for the requested layers/heads.
class CaptureObserver : public AttentionObserver {
public:
    explicit CaptureObserver(const CaptureRequest& request)
        : m_layers(request.layers.begin(), request.layers.end()), m_heads(request.heads.begin(), request.heads.end()) {}

    bool wantsLayer(int64_t layer) const override { return m_is_active && m_layers.count(layer) > 0; }
    bool wantsHead(int64_t, int64_t head) const override { return m_heads.empty() || m_heads.count(head) > 0; }
    void onProbabilities(int64_t layer, int64_t head, const at::Tensor& probs, const at::Tensor& qpos,
                         const at::Tensor& kpos) override {
        AttentionMatrix m;
        m.layer = layer;
        m.head = head;
        m.rows = probs.size(0);
        m.cols = probs.size(1);
        at::Tensor p = probs.contiguous();
        m.probs.assign(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
        at::Tensor q = qpos.contiguous(), k = kpos.contiguous();
        m.query_positions.assign(q.data_ptr<int64_t>(), q.data_ptr<int64_t>() + q.numel());
        m.key_positions.assign(k.data_ptr<int64_t>(), k.data_ptr<int64_t>() + k.numel());
        captures.push_back(std::move(m));
    }
    void setActive(bool active) { m_is_active = active; }
    bool isEmpty() const { return m_layers.empty(); }

    std::vector<AttentionMatrix> captures;

private:
    std::set<int64_t> m_layers;
    std::set<int64_t> m_heads;
    bool m_is_active = true;
};

// Runs a strategy's cache stages after each layer's attention.
class StrategyHook : public LayerHook {
public:
    StrategyHook(Strategy& strategy, KvCache& cache, const ModelConfig& config, StrategyTrace& trace,
                 int64_t prompt_tokens)
        : m_strategy(strategy), m_cache(cache), m_config(config), m_trace(trace), m_prompt_tokens(prompt_tokens) {}

    void afterAttention(int64_t layer, const at::Tensor& q, const at::Tensor& q_positions, LayerKv& kv) override {
        m_cache.notePeak();
        LayerContext ctx;
        ctx.layer = layer;
        ctx.is_prefill = step < 0;
        ctx.step = step;
        ctx.q = &q;
        ctx.q_positions = &q_positions;
        ctx.kv = &kv;
        ctx.config = &m_config;
        ctx.scale = 1.0 / std::sqrt(static_cast<double>(m_config.head_dim));
        ctx.prompt_tokens = m_prompt_tokens;
        ctx.reserve_after_keep = reserve_after_keep;
        ctx.trace = &m_trace;
        ctx.inv_freq = inv_freq && inv_freq->defined() ? inv_freq : nullptr;
        Status s = ctx.is_prefill ? m_strategy.afterPrefillLayer(ctx) : m_strategy.afterDecodeLayer(ctx);
        if (!s.isOk()) throw Error("strategy failed at layer " + std::to_string(layer) + ": " + s.error());
    }
    at::Tensor prefillBlockMask(int64_t layer, int64_t tokens) override {
        return step < 0 ? m_strategy.prefillBlockMask(layer, tokens) : at::Tensor();
    }

    int64_t step = -1;
    int64_t reserve_after_keep = 0;
    const at::Tensor* inv_freq = nullptr;  // the model's RoPE frequencies (undefined tensor: none)

private:
    Strategy& m_strategy;
    KvCache& m_cache;
    const ModelConfig& m_config;
    StrategyTrace& m_trace;
    int64_t m_prompt_tokens;
};

// Keeps each layer's prefill queries for strategies applied later (PrefillSnapshot).
class QueryRecorder : public LayerHook {
public:
    void afterAttention(int64_t, const at::Tensor& q, const at::Tensor&, LayerKv&) override { queries.push_back(q.clone()); }
    std::vector<at::Tensor> queries;
};

std::string torchErrorMessage(const std::exception& e) {
    std::string what = e.what();
    if (compat::isOutOfMemory(what))
        return "out of memory while running the model: use a shorter prompt, fewer new tokens or a smaller dtype (" +
               what.substr(0, what.find('\n')) + ")";
    return "the model failed while running: " + what.substr(0, what.find('\n'));
}

}  // namespace

struct PrefillSnapshot {
    std::vector<int32_t> prompt_ids;
    at::Tensor ids;                 // [T] on the device
    at::Tensor positions;           // [T]
    KvCache cache;                  // full attention, reserved to the prompt
    std::vector<at::Tensor> queries;  // per layer [Hq, T, D]
    at::Tensor last_row;            // logits of the last prompt position, CPU float
    double prefill_ms = 0;
};

struct Model::Impl {
    std::string dir;
    ModelConfig config;
    std::unique_ptr<Tokenizer> tokenizer;
    std::unique_ptr<Transformer> transformer;
    at::Device device = at::kCPU;
    at::ScalarType dtype = at::kFloat;
};

std::string attnlabVersion() { return ATTNLAB_VERSION; }
std::string libtorchVersion() { return compat::torchVersion(); }

Model::Model(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Model::~Model() = default;

Result<std::shared_ptr<Model>> Model::open(const std::string& dir, const LoadOptions& options) {
    using R = Result<std::shared_ptr<Model>>;
    auto impl = std::make_unique<Impl>();
    impl->dir = dir;
    try {
        impl->device = at::Device(options.device);
    } catch (const std::exception&) {
        return R::fail("unknown device '" + options.device + "' (cpu, cuda, cuda:N)");
    }
    if (impl->device.is_cuda() && !compat::cudaAvailable())
        return R::fail("device '" + options.device +
                       "' requested, but this build's LibTorch has no CUDA or no GPU is visible; use --device cpu");
    if (!impl->device.is_cpu() && !impl->device.is_cuda())
        return R::fail("unsupported device '" + options.device + "' (cpu, cuda)");
    Result<at::ScalarType> dtype = parseDtype(options.dtype, impl->device.is_cuda());
    if (!dtype) return R::fail(dtype.error());
    impl->dtype = *dtype;

    Result<ModelConfig> config = loadModelConfig(dir);
    if (!config) return R::fail(config.error());
    impl->config = *config;

    Result<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::fromDirectory(dir);
    if (!tokenizer) return R::fail(tokenizer.error());
    impl->tokenizer = std::move(*tokenizer);
    if (impl->tokenizer->vocabSize() > impl->config.vocab_size)
        return R::fail(dir + ": the tokenizer has " + std::to_string(impl->tokenizer->vocabSize()) +
                       " tokens but config.json's vocab_size is " + std::to_string(impl->config.vocab_size));

    Result<Checkpoint> checkpoint = Checkpoint::open(dir);
    if (!checkpoint) return R::fail(checkpoint.error());
    try {
        c10::InferenceMode guard;
        impl->transformer = std::make_unique<Transformer>(impl->config, *checkpoint, impl->device, impl->dtype);
    } catch (const Error& e) {
        return R::fail(e.what());
    } catch (const std::exception& e) {
        return R::fail(dir + ": loading the weights failed: " + torchErrorMessage(e));
    }
    return std::shared_ptr<Model>(new Model(std::move(impl)));
}

const ModelConfig& Model::config() const { return m_impl->config; }
const Tokenizer& Model::tokenizer() const { return *m_impl->tokenizer; }
Transformer& Model::transformer() { return *m_impl->transformer; }

ModelInfo Model::info() const {
    const ModelConfig& c = m_impl->config;
    ModelInfo i;
    i.dir = m_impl->dir;
    i.architecture = architectureName(c.architecture);
    i.parameters = c.parameterCount();
    i.layers = c.num_layers;
    i.heads = c.num_heads;
    i.kv_heads = c.num_kv_heads;
    i.head_dim = c.head_dim;
    i.hidden_size = c.hidden_size;
    i.vocab_size = c.vocab_size;
    i.context_tokens = c.max_position_embeddings;
    i.sliding_window = c.sliding_window;
    i.weight_bytes = m_impl->transformer->weightBytes();
    i.device = m_impl->device.str();
    i.dtype = dtypeLabel(m_impl->dtype);
    return i;
}

Result<std::vector<int32_t>> Model::encode(const std::string& text, bool add_special_tokens) const {
    try {
        return m_impl->tokenizer->encode(text, add_special_tokens);
    } catch (const std::exception& e) {
        return Result<std::vector<int32_t>>::fail(std::string("tokenizing failed: ") + e.what());
    }
}

Result<std::vector<float>> Model::promptLogits(const std::vector<int32_t>& ids) {
    using R = Result<std::vector<float>>;
    if (ids.empty()) return R::fail("the prompt is empty");
    try {
        c10::InferenceMode guard;
        Transformer& tf = *m_impl->transformer;
        const auto n = static_cast<int64_t>(ids.size());
        at::Tensor t_ids = at::tensor(std::vector<int64_t>(ids.begin(), ids.end()), at::kLong).to(m_impl->device);
        at::Tensor pos = at::arange(n, at::TensorOptions().dtype(at::kLong).device(m_impl->device));
        KvCache cache = tf.makeCache();
        at::Tensor logits = tf.forward(t_ids, pos, cache, nullptr, /*last_rows=*/0).to(at::kCPU).contiguous();
        return std::vector<float>(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
    } catch (const std::exception& e) {
        return R::fail(torchErrorMessage(e));
    }
}

Status Model::prefillObserved(const std::vector<int32_t>& ids, AttentionObserver& observer) {
    if (ids.empty()) return Status::fail("the prompt is empty");
    if (static_cast<int64_t>(ids.size()) > m_impl->config.max_position_embeddings)
        return Status::fail("the probe has " + std::to_string(ids.size()) + " tokens but the model's context is " +
                            std::to_string(m_impl->config.max_position_embeddings));
    try {
        c10::InferenceMode guard;
        Transformer& tf = *m_impl->transformer;
        const auto n = static_cast<int64_t>(ids.size());
        at::Tensor t_ids = at::tensor(std::vector<int64_t>(ids.begin(), ids.end()), at::kLong).to(m_impl->device);
        KvCache cache = tf.makeCache();
        tf.forward(t_ids, at::arange(n, at::TensorOptions().dtype(at::kLong).device(m_impl->device)), cache, &observer,
                   1);
        return Status::ok();
    } catch (const Error& e) {
        return Status::fail(e.what());
    } catch (const std::exception& e) {
        return Status::fail(torchErrorMessage(e));
    }
}

namespace {
// The prompt checks shared by generate() and prefill(): empty, longer than the context, ids out of range.
Status checkPrompt(const ModelConfig& c, const std::vector<int32_t>& prompt_ids) {
    if (prompt_ids.empty()) return Status::fail("the prompt is empty (no tokens)");
    const auto prompt_len = static_cast<int64_t>(prompt_ids.size());
    if (prompt_len > c.max_position_embeddings)
        return Status::fail("the prompt has " + std::to_string(prompt_len) + " tokens but the model's context is " +
                            std::to_string(c.max_position_embeddings) + " tokens (max_position_embeddings in config.json)");
    for (int32_t id : prompt_ids)
        if (id < 0 || id >= c.vocab_size)
            return Status::fail("token id " + std::to_string(id) + " is outside the vocabulary (size " +
                                std::to_string(c.vocab_size) + ")");
    return Status::ok();
}
}  // namespace

Result<std::shared_ptr<PrefillSnapshot>> Model::prefill(const std::vector<int32_t>& prompt_ids) {
    using R = Result<std::shared_ptr<PrefillSnapshot>>;
    Status ok = checkPrompt(m_impl->config, prompt_ids);
    if (!ok.isOk()) return R::fail(ok.error());
    try {
        c10::InferenceMode guard;
        Transformer& tf = *m_impl->transformer;
        auto snap = std::make_shared<PrefillSnapshot>();
        const auto n = static_cast<int64_t>(prompt_ids.size());
        snap->prompt_ids = prompt_ids;
        snap->ids = at::tensor(std::vector<int64_t>(prompt_ids.begin(), prompt_ids.end()), at::kLong).to(m_impl->device);
        snap->positions = at::arange(n, at::TensorOptions().dtype(at::kLong).device(m_impl->device));
        snap->cache = tf.makeCache();
        snap->cache.reserve(n);
        QueryRecorder recorder;
        auto start = Clock::now();
        at::Tensor logits = tf.forward(snap->ids, snap->positions, snap->cache, nullptr, 1, &recorder);
        snap->last_row = logits[0].to(at::kCPU).contiguous();
        snap->prefill_ms = msSince(start);
        snap->queries = std::move(recorder.queries);
        return snap;
    } catch (const Error& e) {
        return R::fail(e.what());
    } catch (const std::exception& e) {
        return R::fail(torchErrorMessage(e));
    }
}

Result<GenerationResult> Model::generate(const std::vector<int32_t>& prompt_ids, const GenerationSettings& settings,
                                         const GenerationHooks& hooks) {
    using R = Result<GenerationResult>;
    const ModelConfig& c = m_impl->config;
    if (Status ok = checkPrompt(c, prompt_ids); !ok.isOk()) return R::fail(ok.error());
    const auto prompt_len = static_cast<int64_t>(prompt_ids.size());
    if (hooks.reuse_prefill && hooks.reuse_prefill->prompt_ids != prompt_ids)
        return R::fail("the reused prefill was made for another prompt");
    if (settings.max_new_tokens < 0) return R::fail("max_new_tokens must not be negative");
    if (!settings.sampling.is_greedy) {
        if (!(settings.sampling.temperature > 0)) return R::fail("temperature must be positive");
        if (!(settings.sampling.top_p > 0 && settings.sampling.top_p <= 1)) return R::fail("top_p must be in (0, 1]");
    }

    GenerationResult result;
    result.prompt_ids = prompt_ids;
    auto cancelled = [&] { return hooks.cancel && hooks.cancel->load(); };
    try {
        c10::InferenceMode guard;
        Transformer& tf = *m_impl->transformer;
        const at::TensorOptions long_opts = at::TensorOptions().dtype(at::kLong).device(m_impl->device);
        // The last sampled token is never fed back, so the cache holds at most prompt + new - 1 entries.
        const int64_t max_total =
            std::min(c.max_position_embeddings, prompt_len + std::max<int64_t>(0, settings.max_new_tokens - 1));
        KvCache cache = tf.makeCache();
        // With a strategy the prompt's cache may shrink right after prefill: reserve only the prompt,
        // and room for the decode tokens once the strategy has decided.
        cache.reserve(hooks.strategy ? prompt_len : max_total);
        StrategyTrace local_trace;
        StrategyTrace& trace = hooks.trace ? *hooks.trace : local_trace;
        std::unique_ptr<StrategyHook> strategy_hook;
        if (hooks.strategy) {
            RunSetup setup;
            setup.config = &c;
            setup.prompt_tokens = prompt_len;
            setup.calibration = hooks.calibration;
            setup.trace = &trace;
            Status s = hooks.strategy->prepare(setup);
            if (!s.isOk()) return R::fail("strategy could not start: " + s.error());
            strategy_hook = std::make_unique<StrategyHook>(*hooks.strategy, cache, c, trace, prompt_len);
            strategy_hook->reserve_after_keep = max_total - prompt_len;
            strategy_hook->inv_freq = &tf.ropeFrequencies();
        }
        CaptureObserver capture(hooks.capture);
        Sampler sampler(settings.sampling);
        std::set<int64_t> eos(c.eos_token_ids.begin(), c.eos_token_ids.end());

        if (hooks.on_progress) hooks.on_progress({"prefill", 0, prompt_len, 0});
        auto start = Clock::now();
        at::Tensor ids, row;
        // A strategy that makes the prefill itself sparse cannot start from the shared dense one.
        const bool sparse_prefill = hooks.strategy && prompt_len > 1 && hooks.strategy->prefillBlockMask(0, prompt_len).defined();
        const PrefillSnapshot* reuse = sparse_prefill ? nullptr : hooks.reuse_prefill;
        if (const PrefillSnapshot* snap = reuse) {
            // The shared prefill's cache, then this strategy's cache stages on the recorded queries.
            ids = snap->ids;
            cache = snap->cache.clone();
            if (!hooks.strategy) cache.reserve(max_total);
            for (int64_t l = 0; strategy_hook && l < cache.layers(); ++l)
                strategy_hook->afterAttention(l, snap->queries[static_cast<size_t>(l)], snap->positions, cache.layer(l));
            row = snap->last_row.clone();
        } else {
            ids = at::tensor(std::vector<int64_t>(prompt_ids.begin(), prompt_ids.end()), at::kLong).to(m_impl->device);
            at::Tensor logits = tf.forward(ids, at::arange(prompt_len, long_opts), cache,
                                           capture.isEmpty() ? nullptr : &capture, 1, strategy_hook.get());
            row = logits[0].to(at::kCPU).contiguous();  // the copy synchronises the device
        }
        if (hooks.strategy) {
            // Layers the strategy left whole get room for the decode tokens in one step.
            for (int64_t l = 0; l < cache.layers(); ++l) cache.layer(l).reserve(max_total);
            strategy_hook->reserve_after_keep = 0;
        }
        result.prefill_ms = reuse ? reuse->prefill_ms + msSince(start) : msSince(start);
        capture.setActive(false);
        if (hooks.on_progress)
            hooks.on_progress({"prefill", prompt_len, prompt_len, prompt_len / std::max(result.prefill_ms, 1e-9) * 1e3});

        // Full attention without a window decodes with static shapes (a CUDA graph per step on GPUs).
        std::unique_ptr<StaticDecoder> static_decoder;
        // Greedy without per-step logits: the static step picks the token on the device.
        const bool device_greedy = settings.sampling.is_greedy && !settings.keep_step_logits;
        int64_t device_next = -1;  // the token the previous static step chose, when device_greedy
        if (!hooks.strategy && c.sliding_window == 0 && staticDecodeWanted(ids) && cache.layer(0).isDense() &&
            cache.layer(0).denseCapacity() >= max_total && max_total > prompt_len) {
            auto setup_start = Clock::now();
            static_decoder = std::make_unique<StaticDecoder>(tf, cache, max_total, prompt_len);
            if (device_greedy) static_decoder->enableDeviceArgmax();
            static_decoder->prepare(prompt_len);
            result.decode_setup_ms = msSince(setup_start);
        }

        result.stop_reason = "length";
        auto decode_start = Clock::now();
        int64_t position = prompt_len;
        for (int64_t step = 0; step < settings.max_new_tokens; ++step) {
            if (cancelled()) {
                result.stop_reason = "cancelled";
                break;
            }
            if (settings.keep_step_logits)
                result.step_logits.insert(result.step_logits.end(), row.data_ptr<float>(),
                                          row.data_ptr<float>() + row.numel());
            int32_t next = device_next >= 0 ? static_cast<int32_t>(device_next)
                                            : sampler.next(row.data_ptr<float>(), row.numel());
            if (step < static_cast<int64_t>(settings.forced_tokens.size()))
                next = settings.forced_tokens[static_cast<size_t>(step)];
            result.output_ids.push_back(next);
            if (settings.stop_at_eos && eos.count(next)) {
                result.stop_reason = "eos";
                break;
            }
            if (step + 1 == settings.max_new_tokens) break;
            if (position >= c.max_position_embeddings) {
                result.stop_reason = "context";
                break;
            }
            if (static_decoder && device_greedy) {
                device_next = static_decoder->stepGreedy(next, position);
            } else if (static_decoder) {
                row = static_decoder->step(next, position);
            } else {
                at::Tensor one = at::full({1}, static_cast<int64_t>(next), long_opts);
                at::Tensor pos = at::full({1}, position, long_opts);
                if (strategy_hook) strategy_hook->step = step;
                // A strategy may embed the token at another position (its index in a renumbered cache).
                const int64_t rope_position = hooks.strategy ? hooks.strategy->ropePosition(position) : position;
                at::Tensor rope = rope_position == position ? at::Tensor() : at::full({1}, rope_position, long_opts);
                row = tf.forward(one, pos, cache, nullptr, 1, strategy_hook.get(), rope)[0].to(at::kCPU).contiguous();
            }
            ++position;
            ++result.decode_tokens;
            if (hooks.on_progress) {
                const double ms = msSince(decode_start);
                hooks.on_progress({"decode", step + 1, settings.max_new_tokens, (step + 1) / std::max(ms, 1e-9) * 1e3});
            }
        }
        if (result.decode_tokens > 0) result.decode_ms_per_token = msSince(decode_start) / result.decode_tokens;
        result.kv_bytes = cache.allocatedBytes();
        result.kv_peak_bytes = cache.peakBytes();
        result.captures = std::move(capture.captures);
        result.vocab_size = row.numel();
    } catch (const Error& e) {
        return R::fail(e.what());
    } catch (const std::exception& e) {
        return R::fail(torchErrorMessage(e));
    }
    result.output_text = m_impl->tokenizer->decode(result.output_ids, /*skip_special_tokens=*/true);
    return result;
}

}  // namespace attnlab
