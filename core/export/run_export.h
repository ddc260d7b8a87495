// Exports of a session's runs for notebooks and papers: JSON Lines (one run a line: spec, metrics,
// outputs, blob descriptions), CSV (metrics table) and NumPy .npy (token ids and every array blob).
// Files are named by run id: run-12.jsonl, run-12.csv, run-12-attn_l0_h3.npy; an export of several
// runs writes <session stem>.jsonl / <session stem>.csv. Every file is written under a temporary name
// and renamed into place, so a failed export leaves no partial file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/session/session_store.h"
#include "core/util/result.h"

namespace attnlab {

enum class ExportFormat { Invalid = 0, Jsonl, Csv, Npy };

Result<ExportFormat> parseExportFormat(const std::string& name);  // "jsonl", "csv", "npy"
const char* exportFormatName(ExportFormat format);

// One JSON object (no trailing newline). spec_json and versions_json are embedded as JSON when they
// parse, else as strings; NaN/inf metrics become null; invalid UTF-8 is replaced by U+FFFD.
std::string runJsonLine(const RunRecord& run);
Status writeRunsJsonl(const std::vector<RunRecord>& runs, const std::string& path);
// What `attnlab-cli sessions FILE --json` prints: a JSON array of run summaries (id, name, status,
// strategy, started(_unix_ms), ended(_unix_ms), device, model, metrics, tags, note, blob_count).
std::string runSummariesJson(const std::vector<RunSummary>& runs);

// RFC 4180 field: quoted when it holds a comma, quote, CR or LF (quotes doubled).
std::string csvField(const std::string& text);
// Header: id,name,status,strategy,model,device,started,ended, then every metric name of any run, sorted
// (a metric whose name equals a fixed column is written as "metric:<name>"). One row per run, CRLF line
// ends, numbers in shortest round-trip form, NaN as "nan", infinities as "inf"/"-inf", missing empty.
Status writeMetricsCsv(const std::vector<RunRecord>& runs, const std::string& path);

struct ExportedFile {
    int64_t run_id = 0;  // 0 for a file covering several runs
    std::string path;
    ExportFormat format = ExportFormat::Invalid;
};

// prompt_ids and output_ids as '<i4' vectors (when non-empty) and every blob with a numeric dtype;
// blobs of other dtypes are skipped and named in *notes. File names are run-<id>-<name>.npy with
// characters outside [A-Za-z0-9._-] replaced by '_' (and -2, -3, ... on a clash).
Result<std::vector<ExportedFile>> writeRunNpy(const RunRecord& run, const std::string& out_dir,
                                              std::vector<std::string>* notes);

struct ExportRequest {
    std::vector<int64_t> run_ids;  // empty = every run in the session
    ExportFormat format = ExportFormat::Invalid;
    std::string out_dir;           // created if missing
    bool record_artifacts = true;  // add an artifacts row per file (skipped with a note if read-only)
};

struct ExportReport {
    std::vector<ExportedFile> files;
    std::vector<std::string> notes;  // skipped blobs, artifacts not recorded, ...
};

// What `attnlab-cli export --session FILE [--run ID] --format jsonl|csv|npy --out DIR` does. Loads one run
// at a time (blob bytes only for npy), so memory stays bounded by the largest run.
Result<ExportReport> exportSession(SessionStore& store, const ExportRequest& request);

}  // namespace attnlab
