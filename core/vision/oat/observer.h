// Simulated observers grounded in Guided Search 6 (Wolfe 2021) and Competitive Guided Search's quit
// unit (Moran et al. 2013), as worked out in reference/vision.md §4a.2. They are a stand-in for eye
// tracking: parameter ranges follow standard search findings and are not fitted to any data.
#pragma once

#include <cstdint>
#include <vector>

#include "core/vision/oat/display.h"

namespace attnlab::oat {

struct ObserverParams {
    float a_guide = 4.0f;        // weight of target similarity (top-down guidance)
    float b_salience = 1.0f;     // weight of bottom-up salience
    float c_ecc_per_deg = 0.12f; // priority cost of eccentricity from the current fixation
    float sigma0 = 0.35f;        // priority noise at the fovea ...
    float e2_deg = 4.0f;         // ... growing as sigma0 * (1 + ecc / e2)
    float tau = 0.45f;           // softmax temperature of the saccade choice
    float amp_mode_deg = 4.0f;   // mode of the gamma saccade-amplitude prior
    float amp_shape = 3.0f;      // its shape parameter (> 1)
    int memory_size = 6;         // inhibition-of-return memory of fixated objects (FIFO)
    float p_forget = 0.1f;       // per fixation, each remembered object is forgotten with this probability
    float rejected_penalty = 2.5f; // priority cost of a covertly rejected (unforgotten) object
    float p_refix = 0.07f;       // identification unfinished: fixate the same object again
    float fvf_scale = 1.0f;      // scales the functional-viewing-field radius of each regime
    float det_prob = 0.95f;      // detection probability of the target at the fovea
    float quit_threshold = 0.8f; // quit when the quit unit exceeds this ...
    float quit_gain = 1.0f;      // ... which grows by gain * (rejected share) ...
    float quit_drift = 0.02f;   // ... plus a drift per fixation ...
    float quit_noise = 0.08f;    // ... plus noise
    int max_fixations = 25;      // hard cap (the final saccade to a detected target may add one)
    float dur_mean_ms = 230.0f;  // mean fixation duration (gamma, shape 6) ...
    float dur_per_item_ms = 3.0f;  // ... plus this per item inside the FVF
    GuideWeights weights;
};

// About 10 subjects drawn from plausible ranges; deterministic in seed.
std::vector<ObserverParams> makeSubjects(int count, uint64_t seed = 7);

// FVF radius (deg) of the covert processing around fixation, per regime, before fvf_scale.
float fvfRadiusDeg(Regime regime);

struct Fixation {
    int object = -1;          // index into Display::objects
    float x_px = 0, y_px = 0; // landing point (object centre + landing error)
    float duration_ms = 0;
};

struct Scanpath {
    std::vector<Fixation> fixations;
    bool target_found = false;  // present trial and the last fixation is on the target (OAT's definition)
    bool quit = false;          // ended by the quit unit or the cap, not by a detection
    float rt_ms = 0;            // response time: latency + fixations + saccades + response
};

// One trial; deterministic in (display, params, seed). The eyes start at the display centre.
Scanpath simulateObserver(const Display& display, const ObserverParams& params, uint64_t seed);

// Seed of subject s on a display: used by the data tool and by evaluation alike.
uint64_t trialSeed(const Display& display, int subject);

// The object strings of a scanpath.
std::vector<int> objectString(const Scanpath& path);

// Sanity statistics over simulated trials (reference/vision.md §4a.2 "Sanity checks").
struct SanityStats {
    // RT x set-size slope (ms/item), per regime, for present and absent trials.
    double slope_present_ms[kRegimeCount] = {0, 0, 0};
    double slope_absent_ms[kRegimeCount] = {0, 0, 0};
    double median_amplitude_deg = 0;
    double miss_rate = 0;           // present trials ending without the target
    double miss_rate_regime[kRegimeCount] = {0, 0, 0};
    double mean_fixations[kRegimeCount][2][4] = {};  // [regime][absent, present][set size 8, 16, 24, 32]
    double mean_rt_ms[kRegimeCount][2][4] = {};
    double search_share = 0, refixation_share = 0, revisit_share = 0;
    double mean_length = 0;
    int trials = 0;
};
SanityStats computeSanity(int displays_per_cell, int subjects, uint64_t seed = 11);

}  // namespace attnlab::oat
