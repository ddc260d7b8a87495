// Session run records built from engine results, shared by attnlab-cli and the desktop app, and read
// back into results for the app's session browser. Torch-free: it reads the engine's plain result
// structs; what needs the engine (versions, the model's content hash) the caller passes in.
//
// Layout of one comparison (one `run` command or one Run in the app) in a session:
// - one run row per strategy column, in column order, all with the comparison's start and end;
// - spec_json: the run's `attnlab-cli run --json` entry (strategy, outputs, metrics, kl_per_token,
//   timings, trace with kept positions and evictions, head_roles) plus "input", "model", "settings",
//   "notes" and "comparison": {"key", "column", "columns"} that groups the columns again;
// - blobs kept_l{L}_h{H}[_s{step}] (I64 kept positions of each trace decision);
// - with view data (the app): view_tokens (json: prompt/output/reference token texts), view_captures
//   (json: which exact attention matrices exist and their query/key positions) and attn_l{L}_h{H}
//   (F32 [rows, cols] prefill attention probabilities). A column whose matrices equal column 0's
//   stores none and says so ("shared_with_column": 0), so a comparison keeps one copy.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/engine/compare.h"
#include "core/session/session_store.h"
#include "core/strategy/trace.h"
#include "core/util/result.h"

namespace attnlab {

// What every record of one comparison shares.
struct RecordContext {
    ModelInfo model;
    std::string content_hash;  // e.g. "fnv1a64:..."; empty if unknown (only the (path, hash) match is lost)
    std::string attnlab_version;
    std::string libtorch_version;
    int64_t started_unix_ms = 0;
    int64_t ended_unix_ms = 0;
    std::map<std::string, std::string> strategy_origins;  // strategy name -> "built-in" or plugin file
    std::string comparison_key;  // groups the columns; empty = made from the start time and a counter
};

// Token texts and exact attention a viewer needs to redraw one column without recomputing.
struct RunViewData {
    std::vector<std::string> prompt_tokens;
    std::vector<std::string> output_tokens;
    std::vector<std::string> reference_tokens;  // full's continuation (what kl_per_token refers to)
    std::vector<AttentionMatrix> captures;
};

// JSON text for the store; invalid UTF-8 in decoded output is replaced rather than thrown on.
std::string jsonText(const nlohmann::json& j);
nlohmann::json modelInfoJson(const ModelInfo& info);
nlohmann::json traceJson(const StrategyTrace& trace);
nlohmann::json strategyRunJson(const StrategyRun& run);  // one entry of `run --json`'s "runs"
nlohmann::json runInputJson(const RunInput& input);      // `run --json`'s "input"
// A plain generation: ids, text, stop reason, timings, KV bytes and the model (`generate --json`, and the
// spec of its session record).
nlohmann::json generationJson(const GenerationResult& result, const ModelInfo& model);

ModelRecord modelRecord(const RecordContext& context);
std::string deviceText(const ModelInfo& info);  // "cpu (f32)"
std::string versionsJson(const RecordContext& context, const std::string& strategy_origin);
// Kept positions of every trace decision as I64 vectors: kept_l{layer}_h{kv_head} for prefill, with
// _s{step} for decode-time decisions (and _2, _3, ... should a name repeat).
std::vector<BlobRecord> keptPositionBlobs(const StrategyTrace& trace);

// One record per run, in order (see the layout above). `views`, when given, must hold one entry per run.
std::vector<RunRecord> comparisonRecords(const RecordContext& context, const RunInput& input,
                                         const std::vector<StrategyRun>& runs, const std::vector<std::string>& notes,
                                         int64_t max_new_tokens, const std::vector<RunViewData>* views = nullptr);

// `attnlab-cli generate --session`: one plain generation with full attention.
RunRecord generationRecord(const RecordContext& context, const std::string& prompt, const GenerationResult& result,
                           const GenerationSettings& settings);

// Saves the runs in order into the session at `path` (created if missing). Returns the new ids, or one
// line naming what was not saved (and how many were). The records are not consumed.
Result<std::vector<int64_t>> saveRunsToSession(const std::string& path, const std::vector<RunRecord>& runs);

// Attention matrices repeat across comparisons of the same prompt (Live re-runs change a parameter,
// not the prefill): a record can point at an earlier run of the session that stores the same ones.
// Fingerprint of the matrices a record stores itself (its attn_* blobs and view_captures), 0 if none.
uint64_t captureFingerprint(const RunRecord& record);
// True when both store the same matrices (names, shapes, positions, bytes).
bool sameStoredCaptures(const RunRecord& a, const RunRecord& b);
// Drops the matrices `record` stores and points its view_captures at run `owner_run_id` instead
// ({"shared_with_run": id}); the owner must keep them (runs are never deleted by the app).
void shareCapturesWithRun(RunRecord& record, int64_t owner_run_id);

// ---- reading back ---------------------------------------------------------------------------------

// One column of a saved comparison, as the app shows it again.
struct SavedColumn {
    int64_t run_id = 0;
    std::string spec;
    std::string output_text;
    std::string stop_reason;
    std::map<std::string, double> metrics;
    int64_t kv_bytes = 0;
    int64_t kv_peak_bytes = 0;
    double prefill_ms = 0;
    double decode_ms_per_token = 0;
    int64_t decode_tokens = 0;
    std::vector<double> kl_per_token;
    StrategyTrace trace;  // decisions (kept positions, budgets), evictions, head roles; no scores
    RunViewData view;     // token texts fall back to "[id]" when the run stored none
    bool has_view_data = false;
};

struct SavedComparison {
    std::string key;
    std::string model_dir;
    std::string model_name;
    int64_t layers = 0;
    int64_t heads = 0;
    int64_t kv_heads = 0;
    std::string task_spec;
    std::string answer;
    std::string prompt;  // free prompt text; empty for a task
    int64_t started_unix_ms = 0;
    std::vector<SavedColumn> columns;  // in column order
};

// One line of the session browser: a comparison and its columns.
struct SessionEntry {
    std::string key;  // comparison key; "run:<id>" for runs saved without one
    std::vector<int64_t> run_ids;
    std::vector<std::string> strategies;
    std::string model;       // model directory name
    std::string input;       // task spec or the prompt's first line
    int64_t started_unix_ms = 0;
    std::vector<std::map<std::string, double>> metrics;  // per column
    bool has_view_data = false;
};

// Every comparison in the session, oldest first. Reads spec_json of each run (no blob bytes).
Result<std::vector<SessionEntry>> listSessionEntries(SessionStore& store);

// The comparison that run `run_id` belongs to, every column with its blobs. A damaged record (bad
// spec JSON, blob of the wrong size) fails with a message naming the run and what is wrong.
Result<SavedComparison> loadSavedComparison(SessionStore& store, int64_t run_id);

}  // namespace attnlab
