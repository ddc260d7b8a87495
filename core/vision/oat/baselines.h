// Object-level scanpath baselines (reference/vision.md §4a.4), all ending in STOP.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/vision/oat/display.h"

namespace attnlab::oat {

enum class Baseline : int {
    Random = 0,     // random order without replacement, length drawn from a length pool
    Nearest,        // greedy nearest unvisited object from the current point
    Saliency,       // descending salience
    Similarity,     // descending target similarity, ties broken by distance
    SimMinusDist,   // argmax a*similarity + b*salience - c*distance: shares the simulator's rules (oracle-ish)
};
constexpr int kBaselineCount = 5;
const char* baselineName(Baseline b);
bool isOracleBaseline(Baseline b);

struct BaselineOptions {
    std::vector<int> length_pool;  // lengths to draw from (Random); e.g. the validation split's lengths
    int max_length = 12;           // the others stop on the target or after this many fixations
    float a_guide = 4.0f, b_salience = 1.0f, c_per_deg = 0.12f;  // SimMinusDist weights (a mean subject)
};

// Every deterministic baseline stops when it fixates the target; seed only matters for Random.
std::vector<int> baselinePath(Baseline b, const Display& display, const BaselineOptions& options, uint64_t seed);

}  // namespace attnlab::oat
