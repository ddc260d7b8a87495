// Calibration jobs that score heads for head-wise strategies, stored as JSON in the user's cache
// folder keyed by the model's content hash (never in the model folder). Torch-free header.
//   razor: RazorAttention's data-free probe: a random token sequence repeated 4 times; per head,
//          the echo score (attention to earlier occurrences of the same token) and the induction
//          score (attention to the token that followed them).
//   duo:   a documented cheaper proxy for DuoAttention's gate optimisation: on synthetic passkey
//          prompts with their answers appended, the attention mass that the answer rows put
//          outside sink + recent (what a streaming head could not see). High = retrieval head.
// Scores are per KV head ([layer][kv_head]): the maximum over the KV head's query heads, since a
// KV head must keep its cache if any of its query heads needs it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/engine/model.h"
#include "core/strategy/strategy_info.h"

namespace attnlab {

struct CalibrationOptions {
    int64_t razor_repeat_tokens = 512;  // paper: 2500; capped by the model's context (4 copies + BOS)
    int64_t duo_prompts = 4;
    int64_t duo_length = 2048;          // passkey prompt tokens (capped by the context)
    int64_t duo_sink = 64;
    int64_t duo_recent = 256;
    uint64_t seed = 0;
    std::string task_folder;            // assets/tasks, for the duo probe's passkey prompts
    std::function<void(const std::string&)> on_note;  // progress lines
};

// 64-bit FNV-1a over config.json, the tokenizer files and every *.safetensors file, as hex.
Result<std::string> modelContentHash(const std::string& model_dir);
// ATTNLAB_CACHE_DIR, else $XDG_CACHE_HOME/attnlab, else ~/.cache/attnlab.
std::string cacheFolder();
Result<std::string> calibrationPath(const std::string& model_dir, const std::string& kind);

Result<HeadScores> loadCalibration(const std::string& model_dir, const std::string& kind);
Result<HeadScores> runCalibration(Model& model, const std::string& kind, const CalibrationOptions& options);
Status saveCalibration(const std::string& model_dir, const HeadScores& scores, const CalibrationOptions& options);
// Loads the calibration, or runs and saves it first (telling options.on_note so).
Result<HeadScores> ensureCalibration(Model& model, const std::string& kind, const CalibrationOptions& options);

// The `count` highest-scoring KV heads (ties to the lower layer, then head) as a [layer][kv_head]
// 0/1 mask of retrieval heads.
std::vector<std::vector<int>> topHeads(const std::vector<std::vector<double>>& scores, int64_t count);

}  // namespace attnlab
