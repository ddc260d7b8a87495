// Budget sweep specs and JSON (torch-free part of core/analysis/budget_sweep.h, in attnlab_base).
#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <zlib.h>

#include "core/analysis/budget_sweep.h"
#include "core/strategy/params.h"

namespace attnlab {

namespace {

using Json = nlohmann::json;

std::string trimmed(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

std::vector<std::string> splitOn(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string item;
    std::stringstream ss(s);
    while (std::getline(ss, item, sep)) out.push_back(trimmed(item));
    if (!s.empty() && s.back() == sep) out.push_back("");
    return out;
}

std::string joinSpec(const std::string& name, const std::vector<std::pair<std::string, std::string>>& args) {
    std::string out = name;
    for (size_t i = 0; i < args.size(); ++i) out += (i == 0 ? ":" : ",") + args[i].first + "=" + args[i].second;
    return out;
}

Json number(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

double numberOr(const Json& j, const char* key, double fallback) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number()) return fallback;
    return it->get<double>();
}

}  // namespace

const SweepPoint* SweepResult::full() const {
    for (const SweepPoint& p : points)
        if (p.isFull()) return &p;
    return nullptr;
}

double SweepResult::fullKvBytes() const {
    if (const SweepPoint* f = full(); f && f->kv_bytes > 0) return f->kv_bytes;
    for (const SweepPoint& p : points)  // from any point that knows its share
        if (p.kv_bytes > 0 && std::isfinite(p.kv_share) && p.kv_share > 0) return p.kv_bytes / p.kv_share;
    return 0;
}

std::string sweepStrategyName(const std::string& spec) { return trimmed(spec.substr(0, spec.find(':'))); }

std::string sweepSpecParam(const std::string& spec, const std::string& key) {
    auto parsed = parseStrategySpec(spec);
    if (!parsed) return "";
    for (const auto& [k, v] : parsed->args)
        if (k == key) return v;
    return "";
}

std::string withSweepSpecParam(const std::string& spec, const std::string& key, const std::string& value) {
    auto parsed = parseStrategySpec(spec);
    if (!parsed) return spec;
    bool is_set = false;
    for (auto& [k, v] : parsed->args)
        if (k == key) {
            v = value;
            is_set = true;
        }
    if (!is_set) parsed->args.emplace_back(key, value);
    return joinSpec(parsed->name, parsed->args);
}

Result<std::vector<std::string>> expandSweepSpecs(const std::vector<std::string>& specs) {
    using R = Result<std::vector<std::string>>;
    if (specs.empty()) return R::fail("no strategy given (e.g. --strategy snapkv:budget=10%|25%|50%)");
    std::vector<std::string> out;
    for (const std::string& text : specs) {
        if (trimmed(text).empty()) return R::fail("empty strategy spec");
        auto parsed = parseStrategySpec(text);
        if (!parsed) return R::fail(parsed.error());
        // Cartesian product over the keys whose value lists alternatives.
        std::vector<std::vector<std::pair<std::string, std::string>>> combos{{}};
        for (const auto& [key, value] : parsed->args) {
            const std::vector<std::string> values = splitOn(value, '|');
            std::vector<std::vector<std::pair<std::string, std::string>>> next;
            for (const std::string& v : values) {
                if (v.empty())
                    return R::fail("strategy spec '" + text + "': '" + key + "' has an empty value in '" + value + "'");
                for (auto c : combos) {
                    c.emplace_back(key, v);
                    next.push_back(std::move(c));
                }
            }
            combos = std::move(next);
        }
        for (const auto& c : combos) out.push_back(joinSpec(parsed->name, c));
    }
    return out;
}

Result<std::vector<std::string>> parseBudgetList(const std::string& text) {
    using R = Result<std::vector<std::string>>;
    const char sep = text.find('|') != std::string::npos ? '|' : ',';
    std::vector<std::string> out = splitOn(text, sep);
    if (trimmed(text).empty()) return R::fail("the budget list is empty (e.g. 10%,25%,50%)");
    for (const std::string& b : out)
        if (b.empty()) return R::fail("the budget list '" + text + "' has an empty item (e.g. 10%,25%,50%)");
    return out;
}

std::string taskSpecWithSeed(const std::string& task_spec, int64_t seed) {
    const auto colon = task_spec.find(':');
    const std::string name = trimmed(task_spec.substr(0, colon));
    std::vector<std::string> items;
    if (colon != std::string::npos)
        for (const std::string& item : splitOn(task_spec.substr(colon + 1), ','))
            if (!item.empty() && trimmed(item.substr(0, item.find('='))) != "seed") items.push_back(item);
    items.push_back("seed=" + std::to_string(seed));
    std::string out = name;
    for (size_t i = 0; i < items.size(); ++i) out += (i == 0 ? ":" : ",") + items[i];
    return out;
}

SweepPoint sweepPointFromMetrics(const std::string& spec, const std::map<std::string, double>& metrics) {
    auto get = [&](const char* key) {
        auto it = metrics.find(key);
        return it == metrics.end() ? kSweepMissing : it->second;
    };
    SweepPoint p;
    p.spec = spec;
    p.strategy = sweepStrategyName(spec);
    p.budget = sweepSpecParam(spec, "budget");
    const double kv = get("kv_bytes");
    p.kv_bytes = std::isfinite(kv) ? kv : 0;
    p.kv_share = p.isFull() ? 1.0 : get("kv_bytes_vs_full");
    p.accuracy = get("accuracy");
    p.kl_vs_full = p.isFull() ? 0.0 : get("kl_vs_full");
    p.top1_vs_full = p.isFull() ? 1.0 : get("top1_vs_full");
    p.prefill_ms = get("prefill_ms");
    p.decode_ms_per_token = get("decode_ms_per_token");
    p.trials = 1;
    return p;
}

std::string sweepJsonText(const SweepResult& r, int indent) {
    Json points = Json::array();
    for (const SweepPoint& p : r.points)
        points.push_back({{"strategy", p.strategy},
                          {"spec", p.spec},
                          {"budget", p.budget},
                          {"kv_bytes", p.kv_bytes},
                          {"kv_share", number(p.kv_share)},
                          {"accuracy", number(p.accuracy)},
                          {"kl_vs_full", number(p.kl_vs_full)},
                          {"top1_vs_full", number(p.top1_vs_full)},
                          {"prefill_ms", number(p.prefill_ms)},
                          {"decode_ms_per_token", number(p.decode_ms_per_token)},
                          {"trials", p.trials}});
    Json j{{"kind", "attnlab-budget-sweep"},
           {"model", r.model},
           {"input", r.input},
           {"prompt_tokens", r.prompt_tokens},
           {"trials", r.trials},
           {"source", r.source},
           {"full_kv_bytes", r.fullKvBytes()},
           {"points", points},
           {"notes", r.notes}};
    return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

namespace {

Result<SweepResult> fromSweepJson(const Json& j, const std::string& source) {
    using R = Result<SweepResult>;
    SweepResult r;
    r.model = j.value("model", "");
    r.input = j.value("input", "");
    r.prompt_tokens = j.value("prompt_tokens", int64_t(0));
    r.trials = j.value("trials", int64_t(0));
    r.source = source;
    if (!j["points"].is_array()) return R::fail(source + ": \"points\" is not an array");
    for (const Json& e : j["points"]) {
        if (!e.is_object() || !e.contains("spec") || !e["spec"].is_string())
            return R::fail(source + ": a point has no \"spec\" string");
        SweepPoint p;
        p.spec = e["spec"].get<std::string>();
        p.strategy = e.contains("strategy") && e["strategy"].is_string() ? e["strategy"].get<std::string>()
                                                                         : sweepStrategyName(p.spec);
        p.budget = e.contains("budget") && e["budget"].is_string() ? e["budget"].get<std::string>() : "";
        p.kv_bytes = numberOr(e, "kv_bytes", 0);
        p.kv_share = numberOr(e, "kv_share", kSweepMissing);
        p.accuracy = numberOr(e, "accuracy", kSweepMissing);
        p.kl_vs_full = numberOr(e, "kl_vs_full", kSweepMissing);
        p.top1_vs_full = numberOr(e, "top1_vs_full", kSweepMissing);
        p.prefill_ms = numberOr(e, "prefill_ms", kSweepMissing);
        p.decode_ms_per_token = numberOr(e, "decode_ms_per_token", kSweepMissing);
        p.trials = static_cast<int64_t>(numberOr(e, "trials", 1));
        r.points.push_back(std::move(p));
    }
    if (j.contains("notes") && j["notes"].is_array())
        for (const Json& n : j["notes"])
            if (n.is_string()) r.notes.push_back(n.get<std::string>());
    return r;
}

// tests/bench/quality_bench.cpp's output: "summary" [{strategy, length, accuracy, kv_fraction_of_full,
// decode_ms_per_token, trials}], "rows" [{strategy, length, kv_bytes, ...}].
Result<SweepResult> fromQualityBench(const Json& j, const std::string& source, int64_t length) {
    using R = Result<SweepResult>;
    const Json& summary = j["summary"];
    if (!summary.is_array() || summary.empty()) return R::fail(source + ": \"summary\" is empty or not an array");
    std::set<int64_t> lengths;
    for (const Json& s : summary) {
        if (!s.is_object() || !s.contains("strategy") || !s["strategy"].is_string() || !s.contains("length") ||
            !s["length"].is_number())
            return R::fail(source + ": a summary entry has no \"strategy\" or \"length\"");
        lengths.insert(s["length"].get<int64_t>());
    }
    if (length < 0) length = *lengths.rbegin();
    if (!lengths.count(length)) {
        std::string have;
        for (int64_t l : lengths) have += (have.empty() ? "" : ", ") + std::to_string(l);
        return R::fail(source + ": no results for prompt length " + std::to_string(length) + " (the file has " +
                       have + ")");
    }
    // Mean K/V bytes per strategy at this length, from the per-trial rows.
    std::map<std::string, std::pair<double, int64_t>> kv;
    if (j.contains("rows") && j["rows"].is_array())
        for (const Json& row : j["rows"]) {
            if (!row.is_object() || !row.contains("strategy") || !row["strategy"].is_string()) continue;
            if (numberOr(row, "length", -1) != double(length)) continue;
            auto& acc = kv[row["strategy"].get<std::string>()];
            acc.first += numberOr(row, "kv_bytes", 0);
            acc.second += 1;
        }
    SweepResult r;
    r.model = j.value("model", "");
    if (auto slash = r.model.find_last_of('/'); slash != std::string::npos) r.model = r.model.substr(slash + 1);
    r.input = "needle:length=" + std::to_string(length) + " (quality benchmark)";
    r.prompt_tokens = length;
    r.trials = j.value("trials_per_cell", int64_t(0));
    r.source = source;
    for (const Json& s : summary) {
        if (s["length"].get<int64_t>() != length) continue;
        SweepPoint p;
        p.spec = s["strategy"].get<std::string>();
        p.strategy = sweepStrategyName(p.spec);
        p.budget = sweepSpecParam(p.spec, "budget");
        if (auto it = kv.find(p.spec); it != kv.end() && it->second.second > 0)
            p.kv_bytes = it->second.first / double(it->second.second);
        p.kv_share = p.isFull() ? 1.0 : numberOr(s, "kv_fraction_of_full", kSweepMissing);
        p.accuracy = numberOr(s, "accuracy", kSweepMissing);
        if (p.isFull()) {
            p.kl_vs_full = 0;
            p.top1_vs_full = 1;
        }
        p.decode_ms_per_token = numberOr(s, "decode_ms_per_token", kSweepMissing);
        p.trials = static_cast<int64_t>(numberOr(s, "trials", 0));
        r.points.push_back(std::move(p));
    }
    std::stable_sort(r.points.begin(), r.points.end(),
                     [](const SweepPoint& a, const SweepPoint& b) { return a.isFull() && !b.isFull(); });
    const int64_t per_depth = r.trials;
    for (const SweepPoint& p : r.points) r.trials = std::max(r.trials, p.trials);  // prompts per point
    r.notes.push_back("quality benchmark: needle accuracy over " + std::to_string(r.trials) + " prompts per point (" +
                      std::to_string(per_depth) +
                      " seeds at each depth); no KL or top-1 (the benchmark does not measure them)");
    return r;
}

}  // namespace

Result<SweepResult> sweepFromJsonText(const std::string& text, const std::string& source, int64_t length) {
    using R = Result<SweepResult>;
    Json j;
    try {
        j = Json::parse(text);
    } catch (const std::exception& e) {
        std::string what = e.what();
        return R::fail(source + ": not JSON (" + what.substr(0, what.find('\n')) + ")");
    }
    if (!j.is_object()) return R::fail(source + ": not a JSON object");
    try {
        if (j.contains("points")) return fromSweepJson(j, source);
        if (j.contains("summary")) return fromQualityBench(j, source, length);
    } catch (const std::exception& e) {
        std::string what = e.what();
        return R::fail(source + ": " + what.substr(0, what.find('\n')));
    }
    return R::fail(source + ": neither a budget sweep (\"points\") nor a quality benchmark (\"summary\") file");
}

Result<SweepResult> loadSweepJson(const std::string& path, int64_t length) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Result<SweepResult>::fail(path + ": cannot be read");
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    if (text.size() >= 2 && static_cast<unsigned char>(text[0]) == 0x1f && static_cast<unsigned char>(text[1]) == 0x8b) {
        // gzip (committed benchmark results are kept compressed, e.g. *.json.gz).
        z_stream z{};
        if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return Result<SweepResult>::fail(path + ": cannot start gunzip");
        z.next_in = reinterpret_cast<Bytef*>(text.data());
        z.avail_in = static_cast<uInt>(text.size());
        std::string out;
        char buf[1 << 16];
        int rc = Z_OK;
        while (rc == Z_OK) {
            z.next_out = reinterpret_cast<Bytef*>(buf);
            z.avail_out = sizeof buf;
            rc = inflate(&z, Z_NO_FLUSH);
            out.append(buf, sizeof buf - z.avail_out);
            if (out.size() > (size_t(1) << 30)) rc = Z_MEM_ERROR;
        }
        inflateEnd(&z);
        if (rc != Z_STREAM_END) return Result<SweepResult>::fail(path + ": damaged gzip data");
        text = std::move(out);
    }
    return sweepFromJsonText(text, path, length);
}

}  // namespace attnlab
