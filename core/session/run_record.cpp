#include "core/session/run_record.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

namespace attnlab {

namespace {

using Json = nlohmann::json;

std::string firstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

std::string newComparisonKey(int64_t started_unix_ms) {
    static std::atomic<uint64_t> counter{0};
    std::random_device device;
    const uint64_t salt = (uint64_t(device()) << 32) ^ device() ^ (counter.fetch_add(1) * 0x9E3779B97F4A7C15ull);
    char buffer[64];
    std::snprintf(buffer, sizeof(buffer), "%lld-%016llx", static_cast<long long>(started_unix_ms),
                  static_cast<unsigned long long>(salt));
    return buffer;
}

// Little-endian hosts only (x86-64, aarch64), as the store's byte layout.
template <class T>
BlobRecord arrayBlob(const std::string& name, const char* dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
    BlobRecord blob;
    blob.name = name;
    blob.dtype = dtype;
    blob.shape = std::move(shape);
    blob.bytes.resize(values.size() * sizeof(T));
    if (!blob.bytes.empty()) std::memcpy(blob.bytes.data(), values.data(), blob.bytes.size());
    return blob;
}

BlobRecord jsonBlob(const std::string& name, const Json& j) {
    const std::string text = jsonText(j);
    BlobRecord blob;
    blob.name = name;
    blob.dtype = "json";
    blob.shape = {static_cast<int64_t>(text.size())};
    blob.bytes.assign(text.begin(), text.end());
    return blob;
}

std::string captureBlobName(const AttentionMatrix& m) {
    return "attn_l" + std::to_string(m.layer) + "_h" + std::to_string(m.head);
}

bool sameCapture(const AttentionMatrix& a, const AttentionMatrix& b) {
    return a.layer == b.layer && a.head == b.head && a.rows == b.rows && a.cols == b.cols && a.probs == b.probs &&
           a.query_positions == b.query_positions && a.key_positions == b.key_positions;
}

bool sameCaptures(const std::vector<AttentionMatrix>& a, const std::vector<AttentionMatrix>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (!sameCapture(a[i], b[i])) return false;
    return true;
}

// view_tokens, view_captures and the attn_* matrices of one column.
void addViewBlobs(RunRecord& record, const RunViewData& view, bool is_shared_with_column0) {
    record.blobs.push_back(jsonBlob(
        "view_tokens",
        Json{{"prompt", view.prompt_tokens}, {"output", view.output_tokens}, {"reference", view.reference_tokens}}));
    Json index{{"matrices", Json::array()}};
    if (is_shared_with_column0) {
        index["shared_with_column"] = 0;
    } else {
        for (const AttentionMatrix& m : view.captures) {
            index["matrices"].push_back({{"layer", m.layer},
                                         {"head", m.head},
                                         {"rows", m.rows},
                                         {"cols", m.cols},
                                         {"query_positions", m.query_positions},
                                         {"key_positions", m.key_positions},
                                         {"blob", captureBlobName(m)}});
            record.blobs.push_back(arrayBlob(captureBlobName(m), "F32", {m.rows, m.cols}, m.probs));
        }
    }
    record.blobs.push_back(jsonBlob("view_captures", index));
}

template <class T>
T jsonOr(const Json& j, const char* key, T fallback) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    return it->get<T>();
}

StrategyTrace traceFromJson(const Json& j) {
    StrategyTrace trace;
    if (!j.is_object()) return trace;
    for (const Json& d : jsonOr<Json>(j, "decisions", Json::array())) {
        HeadDecision h;
        h.layer = jsonOr<int64_t>(d, "layer", 0);
        h.kv_head = jsonOr<int64_t>(d, "kv_head", 0);
        h.stage = jsonOr<std::string>(d, "stage", "");
        h.step = jsonOr<int64_t>(d, "step", -1);
        h.budget = jsonOr<int64_t>(d, "budget", 0);
        h.kept_positions = jsonOr<std::vector<int64_t>>(d, "kept_positions", {});
        trace.decisions.push_back(std::move(h));
    }
    for (const Json& e : jsonOr<Json>(j, "evictions", Json::array())) {
        EvictionEvent ev;
        ev.step = jsonOr<int64_t>(e, "step", 0);
        ev.layer = jsonOr<int64_t>(e, "layer", 0);
        ev.kv_head = jsonOr<int64_t>(e, "kv_head", 0);
        ev.evicted_positions = jsonOr<std::vector<int64_t>>(e, "evicted_positions", {});
        trace.evictions.push_back(std::move(ev));
    }
    return trace;
}

std::vector<std::string> idTexts(const std::vector<int32_t>& ids) {
    std::vector<std::string> out;
    out.reserve(ids.size());
    for (int32_t id : ids) out.push_back("[" + std::to_string(id) + "]");
    return out;
}

const BlobRecord* findBlob(const RunRecord& record, const std::string& name) {
    for (const BlobRecord& b : record.blobs)
        if (b.name == name) return &b;
    return nullptr;
}

Result<Json> blobJson(const RunRecord& record, const std::string& name) {
    const BlobRecord* blob = findBlob(record, name);
    if (!blob) return Json();
    Json j = Json::parse(blob->bytes.begin(), blob->bytes.end(), nullptr, false);
    if (j.is_discarded())
        return Result<Json>::fail("run " + std::to_string(record.id) + ": blob '" + name + "' is not valid JSON");
    return j;
}

// Captures of one column from its view_captures index (matrices of `source`, which may be column 0).
Status readCaptures(const RunRecord& source, const Json& index, std::vector<AttentionMatrix>* out) {
    const std::string where = "run " + std::to_string(source.id);
    try {
        for (const Json& m : index.at("matrices")) {
            AttentionMatrix a;
            a.layer = m.at("layer").get<int64_t>();
            a.head = m.at("head").get<int64_t>();
            a.rows = m.at("rows").get<int64_t>();
            a.cols = m.at("cols").get<int64_t>();
            a.query_positions = m.at("query_positions").get<std::vector<int64_t>>();
            a.key_positions = m.at("key_positions").get<std::vector<int64_t>>();
            const std::string name = m.at("blob").get<std::string>();
            const BlobRecord* blob = findBlob(source, name);
            if (!blob) return Status::fail(where + ": attention matrix blob '" + name + "' is missing");
            if (blob->dtype != "F32" || a.rows < 0 || a.cols < 0 ||
                blob->bytes.size() != size_t(a.rows) * size_t(a.cols) * sizeof(float) ||
                int64_t(a.query_positions.size()) != a.rows || int64_t(a.key_positions.size()) != a.cols)
                return Status::fail(where + ": attention matrix blob '" + name + "' does not match its shape");
            a.probs.resize(size_t(a.rows) * size_t(a.cols));
            if (!a.probs.empty()) std::memcpy(a.probs.data(), blob->bytes.data(), blob->bytes.size());
            out->push_back(std::move(a));
        }
    } catch (const Json::exception& e) {
        return Status::fail(where + ": view_captures is malformed (" + std::string(e.what()) + ")");
    }
    return Status::ok();
}

struct ParsedSpec {
    Json spec;
    std::string key;
    int64_t column = 0;
    int64_t columns = 1;
};

Result<ParsedSpec> parseSpec(const RunRecord& record) {
    ParsedSpec p;
    p.spec = Json::parse(record.spec_json, nullptr, false);
    if (p.spec.is_discarded() || !p.spec.is_object())
        return Result<ParsedSpec>::fail("run " + std::to_string(record.id) + ": its spec is not a JSON object");
    const Json c = jsonOr<Json>(p.spec, "comparison", Json());
    if (c.is_object() && c.contains("key") && c["key"].is_string()) {
        p.key = c["key"].get<std::string>();
        p.column = c.value("column", int64_t(0));
        p.columns = std::max<int64_t>(1, c.value("columns", int64_t(1)));
    } else {
        p.key = "run:" + std::to_string(record.id);
    }
    return p;
}

std::string inputText(const Json& spec) {
    const Json in = jsonOr<Json>(spec, "input", Json::object());
    if (in.contains("task") && in["task"].is_string()) return in["task"].get<std::string>();
    if (in.contains("prompt") && in["prompt"].is_string()) return firstLine(in["prompt"].get<std::string>());
    return "";
}

}  // namespace

std::string jsonText(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

Json modelInfoJson(const ModelInfo& i) {
    return Json{{"dir", i.dir},
                {"architecture", i.architecture},
                {"parameters", i.parameters},
                {"layers", i.layers},
                {"heads", i.heads},
                {"kv_heads", i.kv_heads},
                {"head_dim", i.head_dim},
                {"hidden_size", i.hidden_size},
                {"vocab_size", i.vocab_size},
                {"context_tokens", i.context_tokens},
                {"sliding_window", i.sliding_window},
                {"weight_bytes", i.weight_bytes},
                {"device", i.device},
                {"dtype", i.dtype}};
}

Json traceJson(const StrategyTrace& trace) {
    Json decisions = Json::array();
    for (const auto& d : trace.decisions)
        decisions.push_back({{"layer", d.layer},
                             {"kv_head", d.kv_head},
                             {"stage", d.stage},
                             {"step", d.step},
                             {"budget", d.budget},
                             {"kept_positions", d.kept_positions}});
    Json evictions = Json::array();
    for (const auto& e : trace.evictions)
        evictions.push_back(
            {{"step", e.step}, {"layer", e.layer}, {"kv_head", e.kv_head}, {"evicted_positions", e.evicted_positions}});
    return Json{{"decisions", decisions}, {"evictions", evictions}};
}

Json strategyRunJson(const StrategyRun& r) {
    return Json{{"strategy", r.spec},
                {"output_ids", r.result.output_ids},
                {"output_text", r.result.output_text},
                {"stop_reason", r.result.stop_reason},
                {"metrics", r.metrics},
                {"kl_per_token", r.kl_per_token},
                {"kv_bytes", r.result.kv_bytes},
                {"kv_peak_bytes", r.result.kv_peak_bytes},
                {"timings",
                 {{"prefill_ms", r.result.prefill_ms},
                  {"decode_ms_per_token", r.result.decode_ms_per_token},
                  {"decode_setup_ms", r.result.decode_setup_ms}}},
                {"trace", traceJson(r.trace)},
                {"head_roles", Json(r.trace.head_roles)}};
}

Json runInputJson(const RunInput& input) {
    Json in{{"prompt_tokens", input.prompt_ids.size()}, {"prompt_ids", input.prompt_ids}};
    if (input.has_task) {
        in["task"] = input.task.spec;
        in["answer"] = input.task.answer;
        for (const auto& [k, v] : input.task.numbers) in[k] = v;
    } else {
        in["prompt"] = input.prompt_text;
    }
    return in;
}

ModelRecord modelRecord(const RecordContext& context) {
    ModelRecord model;
    model.path = context.model.dir;
    model.architecture = context.model.architecture;
    model.content_hash = context.content_hash;
    return model;
}

std::string deviceText(const ModelInfo& info) { return info.device + " (" + info.dtype + ")"; }

std::string versionsJson(const RecordContext& context, const std::string& strategy_origin) {
    Json versions{{"attnlab", context.attnlab_version}, {"libtorch", context.libtorch_version}};
    if (!strategy_origin.empty()) versions["strategy_origin"] = strategy_origin;
    return jsonText(versions);
}

std::vector<BlobRecord> keptPositionBlobs(const StrategyTrace& trace) {
    std::vector<BlobRecord> blobs;
    std::set<std::string> names;
    for (const auto& d : trace.decisions) {
        std::string name = "kept_l" + std::to_string(d.layer) + "_h" + std::to_string(d.kv_head);
        if (d.step >= 0) name += "_s" + std::to_string(d.step);
        const std::string base = name;
        for (int n = 2; names.count(name); ++n) name = base + "_" + std::to_string(n);
        names.insert(name);
        blobs.push_back(arrayBlob(name, "I64", {static_cast<int64_t>(d.kept_positions.size())}, d.kept_positions));
    }
    return blobs;
}

std::vector<RunRecord> comparisonRecords(const RecordContext& context, const RunInput& input,
                                         const std::vector<StrategyRun>& runs, const std::vector<std::string>& notes,
                                         int64_t max_new_tokens, const std::vector<RunViewData>* views) {
    const std::string key =
        context.comparison_key.empty() ? newComparisonKey(context.started_unix_ms) : context.comparison_key;
    const Json in = runInputJson(input);
    const Json model = modelInfoJson(context.model);
    const ModelRecord model_record = modelRecord(context);
    std::vector<RunRecord> records;
    for (size_t i = 0; i < runs.size(); ++i) {
        const StrategyRun& r = runs[i];
        Json spec = strategyRunJson(r);
        spec["input"] = in;
        spec["model"] = model;
        spec["settings"] = {{"max_new_tokens", max_new_tokens}};
        spec["notes"] = notes;
        spec["comparison"] = {{"key", key}, {"column", i}, {"columns", runs.size()}};
        RunRecord record;
        record.spec_json = jsonText(spec);
        record.strategy = r.spec;
        record.status = "done";
        record.started_unix_ms = context.started_unix_ms;
        record.ended_unix_ms = context.ended_unix_ms;
        record.device = deviceText(context.model);
        const std::string name = r.spec.substr(0, r.spec.find(':'));
        auto origin = context.strategy_origins.find(name);
        record.versions_json = versionsJson(context, origin != context.strategy_origins.end() ? origin->second : "");
        record.model = model_record;
        record.prompt_ids = input.prompt_ids;
        record.output_ids = r.result.output_ids;
        record.output_text = r.result.output_text;
        record.metrics = r.metrics;
        record.blobs = keptPositionBlobs(r.trace);
        if (views && i < views->size()) {
            const bool shared = i > 0 && !(*views)[i].captures.empty() && sameCaptures((*views)[i].captures, (*views)[0].captures);
            addViewBlobs(record, (*views)[i], shared);
        }
        records.push_back(std::move(record));
    }
    return records;
}

Json generationJson(const GenerationResult& r, const ModelInfo& model) {
    return Json{{"prompt_ids", r.prompt_ids},
                {"output_ids", r.output_ids},
                {"output_text", r.output_text},
                {"stop_reason", r.stop_reason},
                {"timings",
                 {{"prefill_ms", r.prefill_ms},
                  {"decode_ms_per_token", r.decode_ms_per_token},
                  {"decode_setup_ms", r.decode_setup_ms}}},
                {"kv_bytes", r.kv_bytes},
                {"kv_peak_bytes", r.kv_peak_bytes},
                {"model", modelInfoJson(model)}};
}

RunRecord generationRecord(const RecordContext& context, const std::string& prompt, const GenerationResult& r,
                           const GenerationSettings& settings) {
    Json spec = generationJson(r, context.model);
    spec["input"] = {{"prompt", prompt}, {"prompt_ids", r.prompt_ids}};
    spec["settings"] = {{"max_new_tokens", settings.max_new_tokens},
                        {"greedy", settings.sampling.is_greedy},
                        {"temperature", settings.sampling.temperature},
                        {"top_k", settings.sampling.top_k},
                        {"top_p", settings.sampling.top_p},
                        {"seed", settings.sampling.seed}};
    RunRecord run;
    run.spec_json = jsonText(spec);
    run.strategy = "full";
    run.status = "done";
    run.started_unix_ms = context.started_unix_ms;
    run.ended_unix_ms = context.ended_unix_ms;
    run.device = deviceText(context.model);
    run.versions_json = versionsJson(context, "built-in");
    run.model = modelRecord(context);
    run.prompt_ids = r.prompt_ids;
    run.output_ids = r.output_ids;
    run.output_text = r.output_text;
    run.metrics = {{"prefill_ms", r.prefill_ms},
                   {"decode_ms_per_token", r.decode_ms_per_token},
                   {"kv_bytes", double(r.kv_bytes)},
                   {"kv_peak_bytes", double(r.kv_peak_bytes)}};
    return run;
}

Result<std::vector<int64_t>> saveRunsToSession(const std::string& path, const std::vector<RunRecord>& runs) {
    using R = Result<std::vector<int64_t>>;
    SessionOpenOptions options;
    options.create_if_missing = true;
    auto store = SessionStore::open(path, options);
    if (!store) return R::fail(firstLine(store.error()));
    std::vector<int64_t> ids;
    for (const auto& run : runs) {
        auto id = store->saveRun(run);
        if (!id) {
            std::string why = "run '" + run.strategy + "': " + firstLine(id.error());
            if (!ids.empty()) why += " (" + std::to_string(ids.size()) + " of " + std::to_string(runs.size()) + " runs saved)";
            return R::fail(why);
        }
        ids.push_back(*id);
    }
    return ids;
}

namespace {

bool isCaptureBlob(const BlobRecord& b) { return b.name.rfind("attn_l", 0) == 0 || b.name == "view_captures"; }

bool storesOwnCaptures(const RunRecord& record) {
    for (const BlobRecord& b : record.blobs)
        if (b.name.rfind("attn_l", 0) == 0) return true;
    return false;
}

}  // namespace

uint64_t captureFingerprint(const RunRecord& record) {
    if (!storesOwnCaptures(record)) return 0;
    uint64_t h = 1469598103934665603ull;  // FNV-1a 64
    auto mix = [&](const uint8_t* p, size_t n) {
        for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    };
    for (const BlobRecord& b : record.blobs) {
        if (!isCaptureBlob(b)) continue;
        mix(reinterpret_cast<const uint8_t*>(b.name.data()), b.name.size());
        mix(reinterpret_cast<const uint8_t*>(b.shape.data()), b.shape.size() * sizeof(int64_t));
        mix(b.bytes.data(), b.bytes.size());
    }
    return h == 0 ? 1 : h;
}

bool sameStoredCaptures(const RunRecord& a, const RunRecord& b) {
    std::vector<const BlobRecord*> x, y;
    for (const BlobRecord& blob : a.blobs)
        if (isCaptureBlob(blob)) x.push_back(&blob);
    for (const BlobRecord& blob : b.blobs)
        if (isCaptureBlob(blob)) y.push_back(&blob);
    if (x.size() != y.size() || x.empty()) return false;
    auto byName = [](const BlobRecord* l, const BlobRecord* r) { return l->name < r->name; };
    std::sort(x.begin(), x.end(), byName);
    std::sort(y.begin(), y.end(), byName);
    for (size_t i = 0; i < x.size(); ++i)
        if (x[i]->name != y[i]->name || x[i]->dtype != y[i]->dtype || x[i]->shape != y[i]->shape ||
            x[i]->bytes != y[i]->bytes)
            return false;
    return true;
}

void shareCapturesWithRun(RunRecord& record, int64_t owner_run_id) {
    std::vector<BlobRecord> kept;
    for (BlobRecord& b : record.blobs)
        if (!isCaptureBlob(b)) kept.push_back(std::move(b));
    record.blobs = std::move(kept);
    record.blobs.push_back(jsonBlob("view_captures", Json{{"matrices", Json::array()}, {"shared_with_run", owner_run_id}}));
}

Result<std::vector<SessionEntry>> listSessionEntries(SessionStore& store) {
    using R = Result<std::vector<SessionEntry>>;
    auto ids = store.runIds();
    if (!ids) return R::fail(ids.error());
    std::vector<SessionEntry> entries;
    std::map<std::string, size_t> by_key;
    for (int64_t id : *ids) {
        auto run = store.loadRun(id, false);
        if (!run) return R::fail(run.error());
        auto parsed = parseSpec(*run);
        SessionEntry* entry = nullptr;
        if (parsed) {
            auto it = by_key.find(parsed->key);
            if (it != by_key.end()) entry = &entries[it->second];
        }
        if (!entry) {
            SessionEntry e;
            e.key = parsed ? parsed->key : "run:" + std::to_string(id);
            e.model = std::filesystem::path(run->model.path).filename().string();
            e.input = parsed ? inputText(parsed->spec) : "";
            e.started_unix_ms = run->started_unix_ms;
            by_key[e.key] = entries.size();
            entries.push_back(std::move(e));
            entry = &entries.back();
        }
        entry->run_ids.push_back(id);
        entry->strategies.push_back(run->strategy);
        entry->metrics.push_back(run->metrics);
        for (const BlobRecord& b : run->blobs)
            if (b.name == "view_tokens") entry->has_view_data = true;
    }
    return entries;
}

Result<SavedComparison> loadSavedComparison(SessionStore& store, int64_t run_id) {
    using R = Result<SavedComparison>;
    auto first = store.loadRun(run_id, false);
    if (!first) return R::fail(first.error());
    auto parsed = parseSpec(*first);
    if (!parsed) return R::fail(parsed.error());

    // Columns are saved one after another: look next to the run first, scan the session if that fails.
    std::vector<std::pair<int64_t, int64_t>> found;  // (column, run id)
    auto collect = [&](const std::vector<int64_t>& candidates) -> Status {
        found.clear();
        for (int64_t id : candidates) {
            auto run = id == run_id ? Result<RunRecord>(*first) : store.loadRun(id, false);
            if (!run) continue;
            auto p = parseSpec(*run);
            if (p && p->key == parsed->key) found.emplace_back(p->column, id);
        }
        return Status::ok();
    };
    std::vector<int64_t> near;
    for (int64_t c = 0; c < parsed->columns; ++c) near.push_back(run_id - parsed->column + c);
    collect(near);
    auto distinctColumns = [&] {
        std::set<int64_t> columns;
        for (const auto& f : found) columns.insert(f.first);
        return static_cast<int64_t>(columns.size());
    };
    if (distinctColumns() != parsed->columns) {
        auto ids = store.runIds();
        if (!ids) return R::fail(ids.error());
        collect(*ids);
    }
    std::sort(found.begin(), found.end());
    // A column saved twice (a retried save): the newest copy.
    std::vector<std::pair<int64_t, int64_t>> unique;
    for (const auto& f : found) {
        if (!unique.empty() && unique.back().first == f.first) unique.back() = f;
        else unique.push_back(f);
    }
    found = std::move(unique);

    SavedComparison out;
    out.key = parsed->key;
    RunRecord column0;
    for (size_t i = 0; i < found.size(); ++i) {
        auto run = store.loadRun(found[i].second, true);
        if (!run) return R::fail(run.error());
        auto p = parseSpec(*run);
        if (!p) return R::fail(p.error());
        const Json& spec = p->spec;
        const std::string where = "run " + std::to_string(run->id);
        SavedColumn col;
        col.run_id = run->id;
        col.spec = run->strategy;
        col.output_text = run->output_text;
        col.metrics = run->metrics;
        try {
            col.stop_reason = jsonOr<std::string>(spec, "stop_reason", "");
            col.kv_bytes = jsonOr<int64_t>(spec, "kv_bytes", 0);
            col.kv_peak_bytes = jsonOr<int64_t>(spec, "kv_peak_bytes", 0);
            const Json timings = jsonOr<Json>(spec, "timings", Json::object());
            col.prefill_ms = jsonOr<double>(timings, "prefill_ms", 0.0);
            col.decode_ms_per_token = jsonOr<double>(timings, "decode_ms_per_token", 0.0);
            // Not stored on its own: decode_ms_per_token is set exactly when decode steps ran.
            col.decode_tokens = col.decode_ms_per_token > 0 ? static_cast<int64_t>(run->output_ids.size()) : 0;
            col.kl_per_token = jsonOr<std::vector<double>>(spec, "kl_per_token", {});
            col.trace = traceFromJson(jsonOr<Json>(spec, "trace", Json()));
            col.trace.head_roles = jsonOr<std::vector<std::vector<int>>>(spec, "head_roles", {});
            if (i == 0) {
                const Json model = jsonOr<Json>(spec, "model", Json::object());
                out.model_dir = jsonOr<std::string>(model, "dir", run->model.path);
                out.model_name = std::filesystem::path(out.model_dir).filename().string();
                out.layers = jsonOr<int64_t>(model, "layers", 0);
                out.heads = jsonOr<int64_t>(model, "heads", 0);
                out.kv_heads = jsonOr<int64_t>(model, "kv_heads", 0);
                const Json in = jsonOr<Json>(spec, "input", Json::object());
                out.task_spec = jsonOr<std::string>(in, "task", "");
                out.answer = jsonOr<std::string>(in, "answer", "");
                out.prompt = jsonOr<std::string>(in, "prompt", "");
                out.started_unix_ms = run->started_unix_ms;
            }
        } catch (const Json::exception& e) {
            return R::fail(where + ": its spec has a field of the wrong type (" + std::string(e.what()) + ")");
        }
        auto tokens = blobJson(*run, "view_tokens");
        if (!tokens) return R::fail(tokens.error());
        auto index = blobJson(*run, "view_captures");
        if (!index) return R::fail(index.error());
        if (tokens->is_object()) {
            col.has_view_data = true;
            try {
                col.view.prompt_tokens = tokens->at("prompt").get<std::vector<std::string>>();
                col.view.output_tokens = tokens->at("output").get<std::vector<std::string>>();
                col.view.reference_tokens = tokens->at("reference").get<std::vector<std::string>>();
            } catch (const Json::exception& e) {
                return R::fail(where + ": view_tokens is malformed (" + std::string(e.what()) + ")");
            }
        } else {
            col.view.prompt_tokens = idTexts(run->prompt_ids);
            col.view.output_tokens = idTexts(run->output_ids);
        }
        if (index->is_object() && index->contains("shared_with_run")) {
            // The matrices of an earlier comparison on the same prompt.
            int64_t owner_id = 0;
            try {
                owner_id = index->at("shared_with_run").get<int64_t>();
            } catch (const Json::exception&) {
                return R::fail(where + ": view_captures is malformed (shared_with_run)");
            }
            auto owner = store.loadRun(owner_id, true);
            if (!owner)
                return R::fail(where + ": its attention matrices are stored with run " + std::to_string(owner_id) +
                               ", which cannot be read: " + firstLine(owner.error()));
            auto owner_index = blobJson(*owner, "view_captures");
            if (!owner_index) return R::fail(owner_index.error());
            if (!owner_index->is_object() || owner_index->contains("shared_with_run") ||
                owner_index->contains("shared_with_column"))
                return R::fail(where + ": run " + std::to_string(owner_id) + " does not hold the attention matrices it should");
            Status read = readCaptures(*owner, *owner_index, &col.view.captures);
            if (!read.isOk()) return R::fail(read.error());
        } else if (index->is_object()) {
            const bool shared = index->contains("shared_with_column");
            if (shared && i == 0) return R::fail(where + ": column 0 cannot share another column's attention");
            Status read = shared ? Status::ok() : readCaptures(*run, *index, &col.view.captures);
            if (!read.isOk()) return R::fail(read.error());
            if (shared) col.view.captures = out.columns.front().view.captures;
        }
        out.columns.push_back(std::move(col));
    }
    if (out.columns.empty()) return R::fail("run " + std::to_string(run_id) + " is not in the session");
    return out;
}

}  // namespace attnlab
