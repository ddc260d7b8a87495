// Scoring predicted object scanpaths against the simulated subjects of held-out displays, with
// baselines, the leave-one-subject-out ceiling and bootstrap 95% intervals over displays.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/vision/oat/baselines.h"
#include "core/vision/oat/display.h"
#include "core/vision/oat/metrics.h"
#include "core/vision/oat/observer.h"

namespace attnlab::oat {

// One held-out display with every subject's simulated scanpath.
struct Trial {
    Display display;
    std::vector<Scanpath> subjects;
};
Trial makeTrial(const Display& display, const std::vector<ObserverParams>& subjects);

// A method's scanpaths: per trial, one or more object strings (several for sampled decoding;
// metrics average over them).
struct MethodPaths {
    std::string name;
    bool is_oracle = false;
    std::vector<std::vector<std::vector<int>>> paths;  // [trial][sample] -> object string
};

struct MethodResult {
    std::string name;
    bool is_oracle = false;
    Interval ss, ed, mm, delta;  // sequence score, edit distance, MultiMatch mean, behavioural delta
    BehaviourVector behaviour;
};

struct EvalOptions {
    int resamples = 1000;
    uint64_t seed = 1;
};

// Compares each method to every subject on each display (pairwise, averaged; protocol stated in the
// report). The ceiling row ("subjects (leave-one-out)") scores each subject against the other ones.
std::vector<MethodResult> evaluateMethods(const std::vector<Trial>& trials, const std::vector<MethodPaths>& methods,
                                          const EvalOptions& options, bool with_ceiling = true);

MethodPaths baselineMethod(Baseline b, const std::vector<Trial>& trials, const BaselineOptions& options,
                           int samples = 1);

// The behaviour of all subjects' paths on these trials (the reference for delta).
BehaviourVector subjectBehaviour(const std::vector<Trial>& trials);

std::string resultsJson(const std::string& split, const std::vector<MethodResult>& results, int trials);
std::string resultsMarkdown(const std::string& split, const std::vector<MethodResult>& results, int trials);

}  // namespace attnlab::oat
