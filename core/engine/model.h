// The engine's public face for the CLI and the GUI worker: open a Hugging Face checkpoint
// directory, tokenize, generate. Torch-free header. A Model is used from one thread at a time
// (the engine worker); results are plain values that can be copied to any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/sampler.h"
#include "core/model/config.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/result.h"

namespace attnlab {

class Transformer;
class AttentionObserver;
struct PrefillSnapshot;
class Strategy;
struct HeadScores;
struct StrategyTrace;

struct LoadOptions {
    std::string device = "cpu";  // "cpu" or "cuda" / "cuda:N"
    std::string dtype;           // "f32", "bf16", "f16"; empty = f32 on CPU, bf16 on CUDA
};

struct ModelInfo {
    std::string dir;
    std::string architecture;
    int64_t parameters = 0;
    int64_t layers = 0;
    int64_t heads = 0;
    int64_t kv_heads = 0;
    int64_t head_dim = 0;
    int64_t hidden_size = 0;
    int64_t vocab_size = 0;
    int64_t context_tokens = 0;
    int64_t sliding_window = 0;
    int64_t weight_bytes = 0;
    std::string device;
    std::string dtype;
};

struct GenerationSettings {
    int64_t max_new_tokens = 32;
    SamplingSettings sampling;
    bool stop_at_eos = true;
    // Teacher forcing: when non-empty, decode feeds these tokens (and outputs them) instead of the
    // sampled ones, so two strategies can be compared on the same continuation.
    std::vector<int32_t> forced_tokens;
    bool keep_step_logits = false;  // fill GenerationResult::step_logits
};

struct Progress {
    std::string stage;  // "prefill" or "decode"
    int64_t tokens_done = 0;
    int64_t tokens_total = 0;
    double tokens_per_s = 0;
};

// Which exact attention probabilities to keep (prefill only): chosen layers and query heads.
struct CaptureRequest {
    std::vector<int64_t> layers;
    std::vector<int64_t> heads;  // empty = every query head of the chosen layers
};

struct AttentionMatrix {
    int64_t layer = 0;
    int64_t head = 0;
    int64_t rows = 0;
    int64_t cols = 0;
    std::vector<float> probs;  // row-major [rows, cols]
    std::vector<int64_t> query_positions;
    std::vector<int64_t> key_positions;
};

struct GenerationHooks {
    std::function<void(const Progress&)> on_progress;  // called on the worker thread
    const std::atomic<bool>* cancel = nullptr;        // checked between tokens and layers' batches
    CaptureRequest capture;
    Strategy* strategy = nullptr;             // nullptr = full attention
    const HeadScores* calibration = nullptr;  // for strategies that need one
    StrategyTrace* trace = nullptr;           // where the strategy records its decisions
    // Start from this full-attention prefill of the same prompt instead of computing it again: the
    // cache stages see the queries the prefill recorded, so the result equals a fresh generate()
    // (cache strategies only change the cache after each layer's attention). Captures are ignored.
    // A strategy with a sparse prefill (Strategy::prefillBlockMask) computes its own prefill instead.
    const PrefillSnapshot* reuse_prefill = nullptr;
};

struct GenerationResult {
    std::vector<int32_t> prompt_ids;
    std::vector<int32_t> output_ids;  // new tokens only
    std::string output_text;
    std::string stop_reason;  // "eos", "length", "context", "cancelled"
    double prefill_ms = 0;
    double decode_ms_per_token = 0;
    double decode_setup_ms = 0;  // static decode set-up (CUDA graph capture), outside both timers
    int64_t decode_tokens = 0;
    int64_t kv_bytes = 0;       // K/V bytes allocated at the end
    int64_t kv_peak_bytes = 0;  // largest K/V allocation during the run
    std::vector<AttentionMatrix> captures;
    std::vector<float> step_logits;  // [output tokens, vocab] when keep_step_logits
    int64_t vocab_size = 0;
};

// Versions for run records: attnlab's (from CMake's project version) and the LibTorch it runs on.
std::string attnlabVersion();
std::string libtorchVersion();

class Model {
public:
    ~Model();
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;

    // Reads config.json (+ generation_config.json), the tokenizer and the safetensors weights.
    static Result<std::shared_ptr<Model>> open(const std::string& dir, const LoadOptions& options = {});

    const ModelConfig& config() const;
    const Tokenizer& tokenizer() const;
    ModelInfo info() const;

    Result<std::vector<int32_t>> encode(const std::string& text, bool add_special_tokens = true) const;
    Result<GenerationResult> generate(const std::vector<int32_t>& prompt_ids, const GenerationSettings& settings,
                                      const GenerationHooks& hooks = {});
    // One full-attention prefill, kept (cache, queries, last logits) for several generate() calls
    // with GenerationHooks::reuse_prefill.
    Result<std::shared_ptr<PrefillSnapshot>> prefill(const std::vector<int32_t>& prompt_ids);
    // Logits of every prompt position, row-major [T, vocab] (tests, analyses).
    Result<std::vector<float>> promptLogits(const std::vector<int32_t>& ids);
    // One full-attention prefill whose exact probabilities stream to `observer` (core-internal
    // probes such as calibrations; see core/model/attention.h).
    Status prefillObserved(const std::vector<int32_t>& ids, AttentionObserver& observer);

    Transformer& transformer();  // core-internal use (strategies, tests)

private:
    struct Impl;
    explicit Model(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

}  // namespace attnlab
