#include "core/vision/oat/observer.h"

#include <algorithm>
#include <cmath>
#include <deque>

#include "core/vision/oat/metrics.h"
#include "core/vision/oat/rng.h"

namespace attnlab::oat {

namespace {

float gammaPdfUnnormalised(float x, float mode, float shape) {
    if (x <= 0) return 0;
    const float theta = mode / (shape - 1.0f);
    return std::pow(x / mode, shape - 1.0f) * std::exp(-(x - mode) / theta);
}

float distDeg(float ax, float ay, float bx, float by) {
    const float dx = ax - bx, dy = ay - by;
    return std::sqrt(dx * dx + dy * dy) / kPxPerDeg;
}

int nearestObject(const Display& d, float x, float y) {
    int best = 0;
    float best_d = 1e30f;
    for (size_t i = 0; i < d.objects.size(); ++i) {
        const float dx = d.objects[i].x_px - x, dy = d.objects[i].y_px - y;
        const float dd = dx * dx + dy * dy;
        if (dd < best_d) best_d = dd, best = static_cast<int>(i);
    }
    return best;
}

}  // namespace

float fvfRadiusDeg(Regime regime) {
    switch (regime) {
        case Regime::Feature: return 12.0f;
        case Regime::Conjunction: return 4.5f;
        case Regime::Configuration: return 3.0f;
    }
    return 3.0f;
}

std::vector<ObserverParams> makeSubjects(int count, uint64_t seed) {
    std::vector<ObserverParams> out;
    Rng rng(mixSeeds(seed, 0x5B7EC7));
    for (int s = 0; s < count; ++s) {
        ObserverParams p;
        p.a_guide = static_cast<float>(rng.uniform(8.0, 12.0));
        p.b_salience = static_cast<float>(rng.uniform(0.5, 1.5));
        p.c_ecc_per_deg = static_cast<float>(rng.uniform(0.25, 0.4));
        p.sigma0 = static_cast<float>(rng.uniform(0.25, 0.45));
        p.e2_deg = static_cast<float>(rng.uniform(3.0, 5.0));
        p.tau = static_cast<float>(rng.uniform(0.35, 0.6));
        p.amp_mode_deg = static_cast<float>(rng.uniform(3.0, 5.0));
        p.memory_size = 4 + rng.index(5);  // 4..8
        p.p_forget = static_cast<float>(rng.uniform(0.05, 0.15));
        p.p_refix = static_cast<float>(rng.uniform(0.05, 0.10));
        p.fvf_scale = static_cast<float>(rng.uniform(0.85, 1.15));
        p.det_prob = static_cast<float>(rng.uniform(0.92, 0.98));
        p.quit_threshold = static_cast<float>(rng.uniform(0.8, 0.95));
        p.quit_noise = static_cast<float>(rng.uniform(0.05, 0.1));
        p.max_fixations = 22 + rng.index(7);  // 22..28
        p.dur_mean_ms = static_cast<float>(rng.uniform(200.0, 260.0));
        out.push_back(p);
    }
    return out;
}

uint64_t trialSeed(const Display& display, int subject) {
    return mixSeeds(display.spec.seed, 0xF1A7ull * 131 + static_cast<uint64_t>(subject));
}

std::vector<int> objectString(const Scanpath& path) {
    std::vector<int> s;
    s.reserve(path.fixations.size());
    for (const auto& f : path.fixations) s.push_back(f.object);
    return s;
}

Scanpath simulateObserver(const Display& d, const ObserverParams& p, uint64_t seed) {
    Rng rng(seed);
    const int n = static_cast<int>(d.objects.size());
    Scanpath path;
    std::vector<float> guide(n);
    for (int i = 0; i < n; ++i) guide[i] = targetSimilarity(d.objects[i].attrs, d.target, p.weights);
    const float fvf_deg = fvfRadiusDeg(d.spec.regime) * p.fvf_scale;

    std::deque<int> memory;              // IOR memory of fixated objects
    std::vector<char> rejected(n, 0);    // covertly or overtly rejected, until forgotten
    std::vector<char> ever_rejected(n, 0);
    int ever_rejected_count = 0;
    float quit = 0;
    float fx = kCanvasWidth / 2.0f, fy = kCanvasHeight / 2.0f;  // gaze starts at the centre
    int current = -1;
    bool detected = false;
    path.rt_ms = 200.0f;  // initial latency
    std::vector<float> priority(n), weight(n);

    auto addFixation = [&](int object, float x, float y, int items_in_fvf) {
        Fixation f;
        f.object = object;
        f.x_px = x;
        f.y_px = y;
        const float mean = p.dur_mean_ms + p.dur_per_item_ms * static_cast<float>(items_in_fvf);
        f.duration_ms = static_cast<float>(rng.gamma(6.0, mean / 6.0));
        path.fixations.push_back(f);
        path.rt_ms += f.duration_ms + 30.0f;  // + saccade
    };
    auto land = [&](int target_object, float* x, float* y) {
        const auto& o = d.objects[target_object];
        const float amp_px = std::sqrt((o.x_px - fx) * (o.x_px - fx) + (o.y_px - fy) * (o.y_px - fy));
        const float err = 0.1f * amp_px / 1.41421356f;
        *x = o.x_px + static_cast<float>(rng.normal()) * err;
        *y = o.y_px + static_cast<float>(rng.normal()) * err;
        return nearestObject(d, *x, *y);
    };

    for (int step = 0; step < p.max_fixations; ++step) {
        // 1. Choose the next object: refixation, or a saccade by priority x amplitude prior.
        int next = -1;
        float lx = 0, ly = 0;
        if (current >= 0 && rng.bernoulli(p.p_refix) && !(current == d.target_index && detected)) {
            next = current;
            lx = d.objects[current].x_px + static_cast<float>(rng.normal()) * 2.0f;
            ly = d.objects[current].y_px + static_cast<float>(rng.normal()) * 2.0f;
        } else {
            double total = 0;
            for (int i = 0; i < n; ++i) {
                weight[i] = 0;
                if (i == current) continue;
                if (std::find(memory.begin(), memory.end(), i) != memory.end()) continue;
                const float ecc = distDeg(d.objects[i].x_px, d.objects[i].y_px, fx, fy);
                const float noise = p.sigma0 * (1.0f + ecc / p.e2_deg) * static_cast<float>(rng.normal());
                priority[i] = p.a_guide * guide[i] + p.b_salience * d.objects[i].salience - p.c_ecc_per_deg * ecc -
                              (rejected[i] ? p.rejected_penalty : 0.0f) + noise;
                weight[i] = priority[i] / p.tau;
            }
            float max_w = -1e30f;
            for (int i = 0; i < n; ++i)
                if (i != current && std::find(memory.begin(), memory.end(), i) == memory.end())
                    max_w = std::max(max_w, weight[i]);
            for (int i = 0; i < n; ++i) {
                const bool candidate = i != current && std::find(memory.begin(), memory.end(), i) == memory.end();
                if (!candidate) {
                    weight[i] = 0;
                    continue;
                }
                const float ecc = distDeg(d.objects[i].x_px, d.objects[i].y_px, fx, fy);
                weight[i] = std::exp(weight[i] - max_w) * (gammaPdfUnnormalised(ecc, p.amp_mode_deg, p.amp_shape) + 0.02f);
                total += weight[i];
            }
            if (total <= 0) break;  // nothing left to look at
            double u = rng.uniform() * total;
            int chosen = -1;
            for (int i = 0; i < n; ++i) {
                if (weight[i] <= 0) continue;
                chosen = i;
                u -= weight[i];
                if (u <= 0) break;
            }
            next = land(chosen, &lx, &ly);
        }

        // 2. Fixate it; covert processing inside the FVF rejects distractors and may detect the target.
        fx = lx;
        fy = ly;
        current = next;
        int items_in_fvf = 0;
        for (int i = 0; i < n; ++i) {
            const float ecc = distDeg(d.objects[i].x_px, d.objects[i].y_px, fx, fy);
            if (ecc > 2.0f * fvf_deg) continue;
            if (ecc <= fvf_deg) ++items_in_fvf;
            const float r = ecc / fvf_deg;
            const float p_process = std::exp(-r * r);
            if (i == d.target_index) {
                // Harder to tell apart from similar distractors off the fovea.
                if (rng.bernoulli(p.det_prob * p_process)) detected = true;
                else if (i == current && rng.bernoulli(0.15)) rejected[i] = 1;  // a false rejection
            } else if (rng.bernoulli(p_process)) {
                rejected[i] = 1;
                if (!ever_rejected[i]) ever_rejected[i] = 1, ++ever_rejected_count;
            }
        }
        addFixation(current, lx, ly, items_in_fvf);
        memory.push_back(current);
        while (static_cast<int>(memory.size()) > p.memory_size) memory.pop_front();

        // 3. Termination: on detection, look at the target (if not there already) and stop.
        if (detected) {
            if (current != d.target_index) {
                float tx = 0, ty = 0;
                const auto& o = d.objects[d.target_index];
                tx = o.x_px, ty = o.y_px;
                addFixation(d.target_index, tx, ty, 1);
            }
            path.target_found = true;
            break;
        }
        quit += p.quit_drift + static_cast<float>(rng.normal()) * p.quit_noise * 0.3f;
        const float share = static_cast<float>(ever_rejected_count) / static_cast<float>(std::max(1, n - 1));
        if (p.quit_gain * share + quit + static_cast<float>(rng.normal()) * p.quit_noise > p.quit_threshold) {
            path.quit = true;
            break;
        }
        // 4. Imperfect memory: forgetting of IOR entries and of rejections.
        for (auto it = memory.begin(); it != memory.end();) {
            if (*it != current && rng.bernoulli(p.p_forget)) it = memory.erase(it);
            else ++it;
        }
        for (int i = 0; i < n; ++i)
            if (rejected[i] && rng.bernoulli(p.p_forget * 0.5f)) rejected[i] = 0;
    }
    if (!path.target_found) path.quit = true;
    // OAT's definition: found means the scanpath ends on the target (also when it was not detected).
    path.target_found = d.target_index >= 0 && !path.fixations.empty() &&
                        path.fixations.back().object == d.target_index;
    path.rt_ms += 300.0f;  // response
    return path;
}

SanityStats computeSanity(int displays_per_cell, int subjects, uint64_t seed) {
    SanityStats st;
    const auto people = makeSubjects(subjects);
    static const int kSizes[4] = {8, 16, 24, 32};
    std::vector<double> amplitudes;
    int present_trials = 0, misses = 0;
    int regime_present[kRegimeCount] = {0, 0, 0}, regime_misses[kRegimeCount] = {0, 0, 0};
    std::vector<std::vector<int>> strings;
    for (int r = 0; r < kRegimeCount; ++r) {
        for (int present = 0; present < 2; ++present) {
            // Least-squares slope of mean RT on set size.
            double sx = 0, sy = 0, sxx = 0, sxy = 0;
            int cells = 0;
            for (int si = 0; si < 4; ++si) {
                double rt_sum = 0, fix_sum = 0;
                int count = 0;
                for (int k = 0; k < displays_per_cell; ++k) {
                    DisplaySpec spec;
                    spec.seed = mixSeeds(seed, static_cast<uint64_t>(((r * 2 + present) * 4 + si) * 100000 + k));
                    spec.set_size = kSizes[si];
                    spec.regime = static_cast<Regime>(r);
                    spec.target_present = present == 1;
                    const Display d = generateDisplay(spec);
                    for (int s = 0; s < subjects; ++s) {
                        const Scanpath path = simulateObserver(d, people[s], trialSeed(d, s));
                        rt_sum += path.rt_ms;
                        fix_sum += static_cast<double>(path.fixations.size());
                        ++count;
                        if (present) {
                            ++present_trials;
                            ++regime_present[r];
                            if (!path.target_found) ++misses, ++regime_misses[r];
                        }
                        float px = kCanvasWidth / 2.0f, py = kCanvasHeight / 2.0f;
                        for (const auto& f : path.fixations) {
                            const double a = distDeg(px, py, f.x_px, f.y_px);
                            if (a > 0.5) amplitudes.push_back(a);
                            px = f.x_px, py = f.y_px;
                        }
                        strings.push_back(objectString(path));
                        ++st.trials;
                    }
                }
                const double x = kSizes[si], y = rt_sum / std::max(1, count);
                st.mean_rt_ms[r][present][si] = y;
                st.mean_fixations[r][present][si] = fix_sum / std::max(1, count);
                sx += x, sy += y, sxx += x * x, sxy += x * y;
                ++cells;
            }
            const double slope = (cells * sxy - sx * sy) / (cells * sxx - sx * sx);
            (present ? st.slope_present_ms : st.slope_absent_ms)[r] = slope;
        }
    }
    if (!amplitudes.empty()) {
        std::nth_element(amplitudes.begin(), amplitudes.begin() + amplitudes.size() / 2, amplitudes.end());
        st.median_amplitude_deg = amplitudes[amplitudes.size() / 2];
    }
    for (int r = 0; r < kRegimeCount; ++r)
        st.miss_rate_regime[r] = regime_present[r] > 0 ? static_cast<double>(regime_misses[r]) / regime_present[r] : 0.0;
    st.miss_rate = present_trials > 0 ? static_cast<double>(misses) / present_trials : 0.0;
    const BehaviourVector b = meanBehaviour(strings, std::vector<int>(strings.size(), -1));
    st.search_share = b.search_share;
    st.refixation_share = b.refixation_share;
    st.revisit_share = b.revisit_share;
    st.mean_length = b.length;
    return st;
}

}  // namespace attnlab::oat
