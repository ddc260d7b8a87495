#include "core/export/run_export.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/export/npy.h"
#include "core/util/files.h"

namespace attnlab {

namespace {

using Json = nlohmann::json;

Json parsedOrString(const std::string& text) {
    Json parsed = Json::parse(text, nullptr, false);
    if (parsed.is_discarded()) return text;
    return parsed;
}

// Writes `text` to `path` through a temporary file renamed into place.
Status writeTextAtomically(const std::string& path, const std::string& text) {
    return writeFileAtomically(path, [&](std::FILE* file) {
        return std::fwrite(text.data(), 1, text.size(), file) == text.size();
    });
}

Json modelJson(const ModelRecord& model) {
    if (model.path.empty() && model.id == 0) return nullptr;
    return {{"id", model.id},
            {"path", model.path},
            {"architecture", model.architecture},
            {"content_hash", model.content_hash}};
}

// JSON has no NaN or infinity: those become null.
Json metricsJson(const std::map<std::string, double>& metrics) {
    Json out = Json::object();
    for (const auto& metric : metrics) {
        if (std::isfinite(metric.second)) {
            out[metric.first] = metric.second;
        } else {
            out[metric.first] = nullptr;
        }
    }
    return out;
}

std::string formatNumber(double value) {
    if (std::isnan(value)) return "nan";
    if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
    char buffer[64];
    const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
    return std::string(buffer, result.ptr);
}

std::string sanitizeName(const std::string& name) {
    std::string out;
    for (char c : name.substr(0, 150)) {
        const bool is_safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                             c == '_' || c == '-';
        out += is_safe ? c : '_';
    }
    return out.empty() ? "_" : out;
}

std::string sessionStem(const std::string& session_path) {
    std::string stem = std::filesystem::path(session_path).stem().string();
    return stem.empty() ? "session" : sanitizeName(stem);
}

}  // namespace

Result<ExportFormat> parseExportFormat(const std::string& name) {
    if (name == "jsonl") return ExportFormat::Jsonl;
    if (name == "csv") return ExportFormat::Csv;
    if (name == "npy") return ExportFormat::Npy;
    return Result<ExportFormat>::fail("unknown export format '" + name + "' (use jsonl, csv or npy)");
}

const char* exportFormatName(ExportFormat format) {
    switch (format) {
        case ExportFormat::Jsonl: return "jsonl";
        case ExportFormat::Csv: return "csv";
        case ExportFormat::Npy: return "npy";
        default: return "invalid";
    }
}

// The fields a run's JSON line and its summary share (RunRecord and RunSummary name them alike).
template <typename Run>
Json runFieldsJson(const Run& run) {
    Json j = Json::object();
    j["id"] = run.id;
    j["name"] = run.name;
    j["status"] = run.status;
    j["strategy"] = run.strategy;
    j["started"] = isoUtcFromUnixMs(run.started_unix_ms);
    j["started_unix_ms"] = run.started_unix_ms;
    j["ended"] = isoUtcFromUnixMs(run.ended_unix_ms);
    j["ended_unix_ms"] = run.ended_unix_ms;
    j["device"] = run.device;
    j["model"] = modelJson(run.model);
    j["metrics"] = metricsJson(run.metrics);
    j["tags"] = run.tags;
    j["note"] = run.note;
    return j;
}

std::string runJsonLine(const RunRecord& run) {
    Json line = runFieldsJson(run);
    line["spec"] = parsedOrString(run.spec_json);
    line["versions"] = parsedOrString(run.versions_json);
    line["prompt_ids"] = run.prompt_ids;
    line["output_ids"] = run.output_ids;
    line["output_text"] = run.output_text;
    Json blobs = Json::array();
    for (const BlobRecord& blob : run.blobs) {
        blobs.push_back({{"name", blob.name}, {"dtype", blob.dtype}, {"shape", blob.shape}});
    }
    line["blobs"] = std::move(blobs);
    return line.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string runSummariesJson(const std::vector<RunSummary>& runs) {
    Json array = Json::array();
    for (const RunSummary& run : runs) {
        Json entry = runFieldsJson(run);
        entry["blob_count"] = run.blob_count;
        array.push_back(std::move(entry));
    }
    return array.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Status writeRunsJsonl(const std::vector<RunRecord>& runs, const std::string& path) {
    std::string text;
    for (const RunRecord& run : runs) text += runJsonLine(run) + "\n";
    return writeTextAtomically(path, text);
}

std::string csvField(const std::string& text) {
    if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
    std::string out = "\"";
    for (char c : text) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

Status writeMetricsCsv(const std::vector<RunRecord>& runs, const std::string& path) {
    static const std::vector<std::string> kFixed = {"id",    "name",   "status",  "strategy",
                                                    "model", "device", "started", "ended"};
    std::set<std::string> metric_names;
    for (const RunRecord& run : runs) {
        for (const auto& metric : run.metrics) metric_names.insert(metric.first);
    }
    std::string text;
    auto endRow = [&](std::vector<std::string>& fields) {
        for (size_t i = 0; i < fields.size(); ++i) text += (i ? "," : "") + csvField(fields[i]);
        text += "\r\n";
        fields.clear();
    };
    std::vector<std::string> fields(kFixed);
    for (const std::string& name : metric_names) {
        const bool clashes = std::find(kFixed.begin(), kFixed.end(), name) != kFixed.end();
        fields.push_back(clashes ? "metric:" + name : name);
    }
    endRow(fields);
    for (const RunRecord& run : runs) {
        fields = {std::to_string(run.id),
                  run.name,
                  run.status,
                  run.strategy,
                  run.model.path,
                  run.device,
                  isoUtcFromUnixMs(run.started_unix_ms),
                  isoUtcFromUnixMs(run.ended_unix_ms)};
        for (const std::string& name : metric_names) {
            auto found = run.metrics.find(name);
            fields.push_back(found != run.metrics.end() ? formatNumber(found->second) : std::string());
        }
        endRow(fields);
    }
    return writeTextAtomically(path, text);
}

Result<std::vector<ExportedFile>> writeRunNpy(const RunRecord& run, const std::string& out_dir,
                                              std::vector<std::string>* notes) {
    std::vector<ExportedFile> files;
    std::set<std::string> used;
    const std::string prefix = out_dir + "/run-" + std::to_string(run.id) + "-";
    auto uniquePath = [&](const std::string& name) {
        const std::string base = sanitizeName(name);
        std::string candidate = base;
        for (int n = 2; used.count(candidate); ++n) candidate = base + "-" + std::to_string(n);
        used.insert(candidate);
        return prefix + candidate + ".npy";
    };
    auto writeIds = [&](const char* name, const std::vector<int32_t>& ids) -> Status {
        if (ids.empty()) return Status::ok();
        const std::string path = uniquePath(name);
        Status status = writeNpy(path, "I32", {static_cast<int64_t>(ids.size())}, ids.data(), ids.size() * 4);
        if (status.isOk()) files.push_back({run.id, path, ExportFormat::Npy});
        return status;
    };
    if (Status status = writeIds("prompt_ids", run.prompt_ids); !status.isOk()) return status;
    if (Status status = writeIds("output_ids", run.output_ids); !status.isOk()) return status;
    for (const BlobRecord& blob : run.blobs) {
        if (!npyDescr(blob.dtype)) {
            if (notes != nullptr) {
                notes->push_back("run " + std::to_string(run.id) + ": blob '" + blob.name + "' (dtype " + blob.dtype +
                                 ") is not a numeric array; not written as .npy");
            }
            continue;
        }
        const std::string path = uniquePath(blob.name);
        Status status = writeNpy(path, blob.dtype, blob.shape, blob.bytes.data(), blob.bytes.size());
        if (!status.isOk()) return status;
        if (blob.dtype == "BF16" && notes != nullptr) {
            notes->push_back(path + ": BF16 blob '" + blob.name + "' written as float32 (NumPy has no bfloat16)");
        }
        files.push_back({run.id, path, ExportFormat::Npy});
    }
    return files;
}

Result<ExportReport> exportSession(SessionStore& store, const ExportRequest& request) {
    if (request.format == ExportFormat::Invalid) return Result<ExportReport>::fail("no export format chosen");
    if (request.out_dir.empty()) return Result<ExportReport>::fail("no output folder given");
    std::error_code error;
    std::filesystem::create_directories(request.out_dir, error);
    if (error) return Result<ExportReport>::fail(request.out_dir + ": cannot create the folder: " + error.message());

    std::vector<int64_t> ids = request.run_ids;
    if (ids.empty()) {
        Result<std::vector<int64_t>> all = store.runIds();
        if (!all) return all.status();
        ids = std::move(*all);
    }
    ExportReport report;
    if (request.format == ExportFormat::Npy) {
        for (int64_t id : ids) {
            Result<RunRecord> run = store.loadRun(id, true);
            if (!run) return run.status();
            Result<std::vector<ExportedFile>> files = writeRunNpy(*run, request.out_dir, &report.notes);
            if (!files) return files.status();
            report.files.insert(report.files.end(), files->begin(), files->end());
        }
    } else {
        std::vector<RunRecord> runs;
        for (int64_t id : ids) {
            Result<RunRecord> run = store.loadRun(id, false);
            if (!run) return run.status();
            runs.push_back(std::move(*run));
        }
        const bool is_single = ids.size() == 1 && !request.run_ids.empty();
        const std::string stem = is_single ? "run-" + std::to_string(ids[0]) : sessionStem(store.path());
        const std::string path = request.out_dir + "/" + stem + "." + exportFormatName(request.format);
        Status status =
            request.format == ExportFormat::Jsonl ? writeRunsJsonl(runs, path) : writeMetricsCsv(runs, path);
        if (!status.isOk()) return status;
        report.files.push_back({is_single ? ids[0] : 0, path, request.format});
    }
    if (request.record_artifacts) {
        if (store.isReadOnly()) {
            report.notes.push_back("the session is open read-only, so the exported files were not recorded in it");
        } else {
            for (const ExportedFile& file : report.files) {
                ArtifactRecord artifact;
                artifact.run_id = file.run_id;
                artifact.path = std::filesystem::absolute(file.path, error).string();
                if (error) artifact.path = file.path;
                artifact.format = exportFormatName(file.format);
                Result<int64_t> added = store.addArtifact(artifact);
                if (!added) report.notes.push_back("not recorded in the session: " + added.error());
            }
        }
    }
    return report;
}

}  // namespace attnlab
