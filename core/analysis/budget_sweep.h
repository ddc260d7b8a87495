// Budget sweep (issue 7): strategies over several budgets on one input (or several trials of a task),
// each measured against `full` the way `attnlab-cli run` measures it (free run: output, accuracy, KV
// bytes, times; teacher-forced on full's continuation: KL and top-1 agreement), as points of a chart of
// quality against KV bytes and time. Every run of one input starts from one shared full-attention
// prefill (GenerationHooks::reuse_prefill, equal to fresh runs: SharedPrefillTest).
// Torch-free header. The runner lives in attnlab_core, the spec and JSON helpers in attnlab_base.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/util/result.h"

namespace attnlab {

class Model;
class StrategyRegistry;
struct RunInput;

constexpr double kSweepMissing = std::numeric_limits<double>::quiet_NaN();

// One strategy at one setting, averaged over the sweep's trials. NaN: not measured (e.g. accuracy of a
// free prompt, KL in a quality-benchmark file).
struct SweepPoint {
    std::string strategy;  // name, e.g. "snapkv"; "full" for the reference
    std::string spec;      // canonical, every parameter spelled out
    std::string budget;    // the spec's budget value as written ("25%", "128"); "" when it has none
    double kv_bytes = 0;   // K/V bytes kept at the end (mean over trials)
    double kv_share = kSweepMissing;  // kv_bytes / full's kv_bytes
    double accuracy = kSweepMissing;
    double kl_vs_full = kSweepMissing;  // mean over decode steps of KL(full || strategy), nats
    double top1_vs_full = kSweepMissing;
    double prefill_ms = kSweepMissing;
    double decode_ms_per_token = kSweepMissing;
    int64_t trials = 0;

    bool isFull() const { return strategy == "full"; }
};

struct SweepResult {
    std::string model;   // model directory name
    std::string input;   // task spec (the first trial's) or "free prompt"
    int64_t prompt_tokens = 0;
    int64_t trials = 0;
    std::string source;  // "run", or the JSON file the points came from
    std::vector<SweepPoint> points;  // full first (when known), then in spec order
    std::vector<std::string> notes;

    const SweepPoint* full() const;
    double fullKvBytes() const;  // 0 when unknown
};

// ---- specs (attnlab_base) ---------------------------------------------------------------------------

// "name" of "name:key=value,...".
std::string sweepStrategyName(const std::string& spec);
// The value of `key` in a spec ("" when absent).
std::string sweepSpecParam(const std::string& spec, const std::string& key);
// The spec with key=value set (replaced in place, or appended).
std::string withSweepSpecParam(const std::string& spec, const std::string& key, const std::string& value);
// Alternatives separated by '|' in any value expand to one spec each (every combination, in order):
// "snapkv:budget=10%|25%|50%" -> three specs. Fails on an empty list or an empty alternative.
Result<std::vector<std::string>> expandSweepSpecs(const std::vector<std::string>& specs);
// "10%,25%,50%" (or '|' separated) -> the list; fails on empty items.
Result<std::vector<std::string>> parseBudgetList(const std::string& text);
// Task spec with its seed set: "needle:length=512,depth=0.5" + 3 -> "needle:length=512,depth=0.5,seed=3".
std::string taskSpecWithSeed(const std::string& task_spec, int64_t seed);

// A point from one run's metrics as runComparison names them (kv_bytes, kv_bytes_vs_full, accuracy,
// kl_vs_full, top1_vs_full, prefill_ms, decode_ms_per_token).
SweepPoint sweepPointFromMetrics(const std::string& spec, const std::map<std::string, double>& metrics);

// ---- JSON (attnlab_base) ----------------------------------------------------------------------------

// {"model", "input", "prompt_tokens", "trials", "source", "full_kv_bytes", "points": [{strategy, spec,
// budget, kv_bytes, kv_share, accuracy, kl_vs_full, top1_vs_full, prefill_ms, decode_ms_per_token,
// trials}], "notes"}; NaN as null.
std::string sweepJsonText(const SweepResult& result, int indent = -1);
// Reads that JSON back, or a quality-benchmark file (tests/bench/quality_bench.cpp: "summary" per
// strategy and prompt length, "rows" per trial). For a benchmark file `length` picks the prompt length
// (-1: the longest in the file). The file may be gzip-compressed (*.json.gz). Errors name the file
// and the problem.
Result<SweepResult> sweepFromJsonText(const std::string& text, const std::string& source, int64_t length = -1);
Result<SweepResult> loadSweepJson(const std::string& path, int64_t length = -1);

// ---- running (attnlab_core) -------------------------------------------------------------------------

struct SweepProgress {
    int64_t runs_done = 0;  // generations finished (full, then two per spec, per trial)
    int64_t runs_total = 0;
    std::string spec;       // the one running now
    int64_t trial = 0;
};

struct SweepOptions {
    int64_t max_new_tokens = 32;  // free prompts; a task brings its own
    std::string task_folder;      // for calibrations (findTaskFolder)
    std::function<void(const std::string&)> on_note;  // e.g. "no duo calibration yet: running it first"
    std::function<void(const SweepProgress&)> on_progress;  // called on the running thread
    const std::atomic<bool>* cancel = nullptr;              // between generations and inside them
};

// Checks every spec first (errors list the valid choices), then per input: one full prefill, `full`
// on it (the reference), and each spec freely and teacher-forced. `inputs` are the trials (one
// prompt each; e.g. a task at several seeds). Points are means over the trials; full comes first
// (a `full` spec or a repeated spec is not run twice).
Result<SweepResult> runBudgetSweep(Model& model, const StrategyRegistry& registry, const std::vector<RunInput>& inputs,
                                   const std::vector<std::string>& specs, const SweepOptions& options);

}  // namespace attnlab
