// Scanpath metrics on object strings (torch-free, OpenCV-free), following OAT's evaluation
// (reference/vision.md §1.6) with the protocol choices of §4a.5 stated beside each function.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace attnlab::oat {

// Needleman-Wunsch with match 1, mismatch 0, gap 0 (so the score is the longest common
// subsequence), normalised by the longer string. Two empty strings score 1.
double sequenceScore(const std::vector<int>& a, const std::vector<int>& b);

// Levenshtein distance with unit costs.
int editDistance(const std::vector<int>& a, const std::vector<int>& b);

struct Point2 {
    float x = 0, y = 0;
};

// MultiMatch-style similarity (Jarodzka et al. 2010, without the simplification step and without
// durations): both scanpaths become saccade vectors (the caller prepends the common start point),
// saccades are aligned by the monotone path through the saccade-pair matrix that minimises the summed
// vector difference (MultiMatch's Dijkstra on its DAG), and four similarities in [0,1] are averaged
// over the aligned pairs: vector (1 - |u-v| / 2diag), direction (1 - angle / pi), length
// (1 - ||u|-|v|| / diag), position (1 - |start_u - start_v| / diag). A path with fewer than two
// points has no saccade; two such paths score 1 on every dimension, one such path scores 0.
struct MultiMatch {
    double vector = 0, direction = 0, length = 0, position = 0;
    double mean() const { return 0.25 * (vector + direction + length + position); }
};
MultiMatch multiMatch(const std::vector<Point2>& a, const std::vector<Point2>& b, double diag_px);

// OAT's behavioural statistics of one object string. A run is a maximal stretch of fixations on
// one object. search: runs on an object not seen before; revisit: runs on an object seen in an
// earlier run; refixation: the extra fixations inside runs. Each share is divided by the length,
// so the three sum to 1 for a non-empty string. found: the last fixation is the target (present
// trials only; target_index < 0 means absent and leaves found out of the found rate).
struct BehaviourVector {
    double found = 0;  // target-found rate over present trials
    double length = 0;
    double search_share = 0, refixation_share = 0, revisit_share = 0;
    int present_count = 0;  // how many strings entered the found rate
};
BehaviourVector behaviourOf(const std::vector<int>& path, int target_index);
// Means over strings (found over present ones only).
BehaviourVector meanBehaviour(const std::vector<std::vector<int>>& paths, const std::vector<int>& target_indices);
// OAT's delta: the mean over the five statistics of |model - reference| / reference; statistics
// whose reference is 0 (e.g. found on an all-absent set) are left out. 0 is perfect.
double behaviourDelta(const BehaviourVector& model, const BehaviourVector& reference);

// Percentile bootstrap (resampling units with replacement). stat maps a resample (indices into
// 0..n-1, with repeats) to a value. Deterministic in seed.
struct Interval {
    double value = 0;  // stat on the full sample
    double lo = 0, hi = 0;
};
Interval bootstrap(int n, const std::function<double(const std::vector<int>&)>& stat, int resamples = 1000,
                   uint64_t seed = 1);
Interval bootstrapMean(const std::vector<double>& values, int resamples = 1000, uint64_t seed = 1);

}  // namespace attnlab::oat
