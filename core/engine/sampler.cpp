#include "core/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace attnlab {

Sampler::Sampler(const SamplingSettings& settings) : m_settings(settings), m_rng(settings.seed) {}

int32_t Sampler::next(const float* logits, int64_t vocab) {
    if (m_settings.is_greedy || vocab <= 1) {
        int64_t best = 0;
        for (int64_t i = 1; i < vocab; ++i)
            if (logits[i] > logits[best]) best = i;
        return static_cast<int32_t>(best);
    }
    std::vector<int32_t> order(static_cast<size_t>(vocab));
    std::iota(order.begin(), order.end(), 0);
    // Stable by id on equal logits so results do not depend on the sort implementation.
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
    size_t keep = order.size();
    if (m_settings.top_k > 0) keep = std::min(keep, static_cast<size_t>(m_settings.top_k));

    const double inv_t = 1.0 / m_settings.temperature;
    const double max_logit = logits[order[0]] * inv_t;
    std::vector<double> probs(keep);
    double sum = 0;
    for (size_t i = 0; i < keep; ++i) {
        probs[i] = std::exp(logits[order[i]] * inv_t - max_logit);
        sum += probs[i];
    }
    if (m_settings.top_p < 1.0) {
        // Smallest prefix whose mass reaches top_p (always at least one token).
        double cumulative = 0;
        size_t cut = keep;
        for (size_t i = 0; i < keep; ++i) {
            cumulative += probs[i] / sum;
            if (cumulative >= m_settings.top_p) {
                cut = i + 1;
                break;
            }
        }
        keep = cut;
        sum = std::accumulate(probs.begin(), probs.begin() + static_cast<long>(keep), 0.0);
    }
    std::uniform_real_distribution<double> uniform(0.0, sum);
    double r = uniform(m_rng);
    for (size_t i = 0; i < keep; ++i) {
        r -= probs[i];
        if (r <= 0) return order[i];
    }
    return order[keep - 1];
}

}  // namespace attnlab
