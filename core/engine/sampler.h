// Next-token choice from a row of logits: greedy, or temperature / top-k / top-p sampling with a
// seeded generator (HF's order: temperature, then top-k, then top-p). Torch-free and deterministic.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace attnlab {

struct SamplingSettings {
    bool is_greedy = true;
    double temperature = 1.0;  // > 0
    int64_t top_k = 0;         // 0 = off
    double top_p = 1.0;        // (0, 1]; 1 = off
    uint64_t seed = 0;
};

class Sampler {
public:
    explicit Sampler(const SamplingSettings& settings);
    // logits: vocab floats. Greedy ties go to the lowest id (as argmax does).
    int32_t next(const float* logits, int64_t vocab);

private:
    SamplingSettings m_settings;
    std::mt19937_64 m_rng;
};

}  // namespace attnlab
