// OAT-lite inference (the model of assets/models/oat/recipe/train.py) in LibTorch. This header is
// torch-free: views and the CLI include it; only oat_model_torch.cpp sees ATen. Thread affinity:
// one OatModel is used by one thread at a time (the engine worker).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/util/result.h"

namespace attnlab::oat {

// One display as the model sees it.
struct OatInputs {
    int objects = 0;              // N
    std::vector<uint8_t> crops;   // [N, 32, 32, 3] RGB
    std::vector<int64_t> cells;   // [N] grid row * 32 + grid column
    std::vector<uint8_t> cue;     // [32, 32, 3] RGB target cue
};

struct OatConfig {
    int d_model = 256, pe_dim = 96, heads = 4, ffn = 256, enc_layers = 3, dec_layers = 3, pointer_heads = 2;
    int max_steps = 31;
};

class OatModel {
public:
    ~OatModel();
    OatModel(const OatModel&) = delete;
    OatModel& operator=(const OatModel&) = delete;

    // dir holds config.json and model.safetensors (F16 or F32). Errors name the file and the problem.
    static Result<std::unique_ptr<OatModel>> load(const std::string& dir);
    const OatConfig& config() const { return m_config; }

    // Teacher-forced pointer logits [T, N+1] (row-major; index N is STOP) for decoder inputs prev
    // (prev[0] = -1 is BOS, then object indices). Masked entries are -1e9, as in training.
    Result<std::vector<float>> logits(const OatInputs& inputs, const std::vector<int64_t>& prev) const;

    // Greedy decoding: object indices until STOP (at least one fixation, at most max_steps).
    Result<std::vector<int>> greedy(const OatInputs& inputs) const;

    // One ancestral sample at temperature 1 (deterministic in seed); *log_prob gets its log-probability.
    Result<std::vector<int>> sample(const OatInputs& inputs, uint64_t seed, double* log_prob = nullptr) const;

    // Minimum-Bayes-risk decoding under the sequence score: draw `samples` paths (seeds seed,
    // seed+1, ...) and return the one whose mean sequence score against the other samples is highest
    // (ties: higher log-probability). The same rule as recipe/decode.py's "mbr".
    Result<std::vector<int>> mbr(const OatInputs& inputs, int samples, uint64_t seed) const;

    // What the model does along a given path (teacher forcing): step s = 0..path.size() is the
    // prediction of fixation s (s = path.size(): the STOP decision).
    struct Trace {
        int objects = 0;
        int steps = 0;                  // path.size() + 1
        std::vector<float> pointer;     // [steps, N+1] softmax over objects and STOP (index N)
        std::vector<float> attention;   // [steps, N+2] last decoder layer's cross-attention, mean over
                                        // heads, over object tokens, the cue token (N) and STOP (N+1)
    };
    Result<Trace> trace(const OatInputs& inputs, const std::vector<int>& path) const;

private:
    OatModel() = default;
    Result<std::vector<float>> forward(const OatInputs& inputs, const std::vector<int64_t>& prev,
                                       std::vector<float>* cross_attention) const;
    struct Impl;
    std::unique_ptr<Impl> m_impl;
    OatConfig m_config;
};

}  // namespace attnlab::oat
