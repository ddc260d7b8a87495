#include "core/vision/oat/baselines.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/vision/oat/rng.h"

namespace attnlab::oat {

const char* baselineName(Baseline b) {
    switch (b) {
        case Baseline::Random: return "random";
        case Baseline::Nearest: return "nearest-first";
        case Baseline::Saliency: return "saliency";
        case Baseline::Similarity: return "target-similarity";
        case Baseline::SimMinusDist: return "similarity-minus-distance (oracle-ish)";
    }
    return "?";
}

bool isOracleBaseline(Baseline b) { return b == Baseline::SimMinusDist; }

std::vector<int> baselinePath(Baseline b, const Display& d, const BaselineOptions& opt, uint64_t seed) {
    const int n = static_cast<int>(d.objects.size());
    std::vector<int> path;
    if (n == 0) return path;
    if (b == Baseline::Random) {
        Rng rng(seed);
        std::vector<int> order(n);
        std::iota(order.begin(), order.end(), 0);
        for (int i = n - 1; i > 0; --i) std::swap(order[i], order[rng.index(i + 1)]);
        int len = opt.length_pool.empty() ? opt.max_length : opt.length_pool[rng.index(static_cast<int>(opt.length_pool.size()))];
        len = std::clamp(len, 1, n);
        path.assign(order.begin(), order.begin() + len);
        return path;
    }
    std::vector<char> visited(n, 0);
    float fx = kCanvasWidth / 2.0f, fy = kCanvasHeight / 2.0f;
    std::vector<float> sim(n);
    for (int i = 0; i < n; ++i) sim[i] = targetSimilarity(d.objects[i].attrs, d.target);
    const int max_len = std::max(1, std::min(opt.max_length, n));
    while (static_cast<int>(path.size()) < max_len) {
        int best = -1;
        double best_score = -1e30;
        for (int i = 0; i < n; ++i) {
            if (visited[i]) continue;
            const double dist_deg = std::hypot(d.objects[i].x_px - fx, d.objects[i].y_px - fy) / kPxPerDeg;
            double score = 0;
            switch (b) {
                case Baseline::Nearest: score = -dist_deg; break;
                case Baseline::Saliency: score = d.objects[i].salience * 1000.0 - dist_deg * 1e-3; break;
                case Baseline::Similarity: score = sim[i] * 1000.0 - dist_deg * 1e-3; break;
                case Baseline::SimMinusDist:
                    score = opt.a_guide * sim[i] + opt.b_salience * d.objects[i].salience - opt.c_per_deg * dist_deg;
                    break;
                case Baseline::Random: break;
            }
            if (score > best_score) best_score = score, best = i;
        }
        if (best < 0) break;
        visited[best] = 1;
        path.push_back(best);
        fx = d.objects[best].x_px, fy = d.objects[best].y_px;
        if (best == d.target_index) break;
    }
    return path;
}

}  // namespace attnlab::oat
