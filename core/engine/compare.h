// Runs several strategies on the same input and measures each against `full`: the shared path of
// the CLI's `run` and the GUI's comparison. `full` runs once per input when a comparison needs it
// and is listed only if asked.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/engine/model.h"
#include "core/strategy/calibration.h"
#include "core/strategy/registry.h"
#include "core/strategy/trace.h"
#include "core/tasks/tasks.h"

namespace attnlab {

struct RunInput {
    std::vector<int32_t> prompt_ids;
    std::string prompt_text;  // free prompts
    bool has_task = false;
    TaskInstance task;
};

struct StrategyRun {
    std::string spec;  // canonical
    GenerationResult result;
    StrategyTrace trace;
    std::map<std::string, double> metrics;  // accuracy, kl_vs_full, top1_vs_full, kv_bytes_vs_full, ...
    // KL(full || strategy) at each decode step of full's continuation (teacher forced), nats; for
    // tinting output tokens. Its mean is metrics["kl_vs_full"].
    std::vector<double> kl_per_token;
};

struct Comparison {
    RunInput input;
    std::vector<StrategyRun> runs;
    std::vector<std::string> notes;  // e.g. "no duo calibration for this model yet: running it first"
    std::vector<int32_t> reference_ids;  // full's continuation: the tokens kl_per_token refers to
};

struct CompareOptions {
    GenerationSettings settings;
    bool list_full = false;  // add the reference `full` run to the results
    CaptureRequest capture;  // exact prefill attention to keep, for every listed run
    CalibrationOptions calibration;  // for strategies that need one (run first when missing)
    std::function<void(const std::string& spec, const Progress&)> on_progress;
    const std::atomic<bool>* cancel = nullptr;
};

// Per-token KL(full || other) in nats (clamped at 0) and top-1 agreement over the decode steps of two
// [steps, vocab] step-logit tables (steps = the shorter table's; 0 when either is empty).
struct DistributionAgreement {
    int64_t steps = 0;
    std::vector<double> kl_per_token;
    double kl_mean = 0, top1 = 0;
};
DistributionAgreement compareDistributions(const std::vector<float>& full, const std::vector<float>& other,
                                            int64_t vocab);

// `spec` (a valid spec) on full's continuation `reference_ids` (teacher forcing, step logits kept),
// for per-token KL and top-1 agreement with full: the second run of every strategy in a comparison
// and in a budget sweep. reuse_prefill: a shared full prefill of the same prompt, or null.
Result<GenerationResult> runTeacherForced(Model& model, const StrategyRegistry& registry, const std::string& spec,
                                          const std::vector<int32_t>& prompt_ids, const GenerationSettings& settings,
                                          const std::vector<int32_t>& reference_ids, const HeadScores* calibration,
                                          const std::atomic<bool>* cancel,
                                          const PrefillSnapshot* reuse_prefill = nullptr);

// Checks every spec first (errors list the valid choices), then runs them.
Result<Comparison> runComparison(Model& model, const StrategyRegistry& registry, const RunInput& input,
                                 const std::vector<std::string>& specs, const CompareOptions& options);

}  // namespace attnlab
