// attnlab-cli: the headless client of core. Whatever the GUI can run, this can run.
// Bad input: non-zero exit and one clear line on stderr. A run that could not be saved to its
// --session is still printed, and the exit code is kExitNotSaved.
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <set>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>


#include "core/analysis/long_attention.h"
#include "core/engine/compare.h"
#include "core/engine/model.h"
#include "core/export/run_export.h"
#include "core/session/run_record.h"
#include "core/session/session_store.h"
#include "core/strategy/calibration.h"
#include "core/strategy/registry.h"
#include "core/tasks/tasks.h"
#include "core/util/files.h"
#include "app/cli/sweep_command.h"
#ifdef ATTNLAB_WITH_SCENE
#include "app/cli/scene_command.h"
#endif
#ifdef ATTNLAB_WITH_SCANPATH
#include "app/cli/scanpath_command.h"
#endif

namespace {

using Json = nlohmann::json;

// The results were computed and printed, but not saved to the --session file.
constexpr int kExitNotSaved = 3;

constexpr const char* kUsage = R"(usage:
  attnlab-cli generate --model DIR (--prompt TEXT | --prompt-file F) [--max-new-tokens N]
                       [--greedy | --temperature T [--top-k K] [--top-p P] [--seed S]]
                       [--device cpu|cuda] [--dtype f32|bf16|f16] [--session FILE] [--json]
  attnlab-cli tokenize --model DIR (--text T | --text-file F) [--no-special] [--json]
  attnlab-cli info --model DIR [--device ...] [--dtype ...] [--json]
  attnlab-cli strategies [--json]
  attnlab-cli calibrate --model DIR --strategy duo|razor [--device ...] [--dtype ...] [--json]
  attnlab-cli run --model DIR --strategy SPEC [--strategy SPEC ...]
                  (--task needle:length=N,depth=D[,seed=S] | --task mqar[:pairs=P,queries=Q,seed=S]
                   | --task heldout[:length=N,seed=S] | --prompt TEXT | --prompt-file F)
                  [--max-new-tokens N] [--include-full] [--device ...] [--dtype ...]
                  [--session FILE] [--json]
  attnlab-cli sessions FILE [--json]
  attnlab-cli export --session FILE [--run ID ...] --format jsonl|csv|npy --out DIR
  attnlab-cli long-capture (--model DIR (--prompt TEXT | --prompt-file F) --layer L --head H
                            | --synthetic N [--seed S]) --out FILE.safetensors [--pyramid-cells S]
                            [--device ...] [--dtype ...] [--json]
)";

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// --key value pairs and --flags, checked against the command's allowed names.
class Args {
public:
    Args(int argc, char** argv, int first, const std::map<std::string, bool>& allowed) {
        for (int i = first; i < argc; ++i) {
            std::string a = argv[i];
            if (a.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + a + "'");
            std::string key = a.substr(2);
            std::string value;
            bool has_inline = false;
            if (auto eq = key.find('='); eq != std::string::npos) {
                value = key.substr(eq + 1);
                key = key.substr(0, eq);
                has_inline = true;
            }
            auto it = allowed.find(key);
            if (it == allowed.end()) throw UsageError("unknown option '--" + key + "'");
            const bool takes_value = it->second;
            if (takes_value && !has_inline) {
                if (i + 1 >= argc) throw UsageError("option '--" + key + "' needs a value");
                value = argv[++i];
            } else if (!takes_value && has_inline) {
                throw UsageError("option '--" + key + "' takes no value");
            }
            m_values[key] = value;
        }
    }
    bool has(const std::string& k) const { return m_values.count(k) > 0; }
    std::string get(const std::string& k, const std::string& fallback = "") const {
        auto it = m_values.find(k);
        return it == m_values.end() ? fallback : it->second;
    }
    long long getInt(const std::string& k, long long fallback) const {
        if (!has(k)) return fallback;
        const std::string v = get(k);
        try {
            size_t used = 0;
            long long n = std::stoll(v, &used);
            if (used != v.size()) throw std::invalid_argument(v);
            return n;
        } catch (const std::exception&) {
            throw UsageError("option '--" + k + "' needs an integer, got '" + v + "'");
        }
    }
    double getDouble(const std::string& k, double fallback) const {
        if (!has(k)) return fallback;
        const std::string v = get(k);
        try {
            size_t used = 0;
            double d = std::stod(v, &used);
            if (used != v.size()) throw std::invalid_argument(v);
            return d;
        } catch (const std::exception&) {
            throw UsageError("option '--" + k + "' needs a number, got '" + v + "'");
        }
    }
    std::string require(const std::string& k) const {
        if (!has(k)) throw UsageError("option '--" + k + "' is required");
        return get(k);
    }

private:
    std::map<std::string, std::string> m_values;
};

std::string readTextFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw UsageError(path + ": cannot be read");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string textArgument(const Args& args, const std::string& inline_key, const std::string& file_key) {
    if (args.has(inline_key) == args.has(file_key))
        throw UsageError("give exactly one of --" + inline_key + " and --" + file_key);
    return args.has(inline_key) ? args.get(inline_key) : readTextFile(args.get(file_key));
}

std::shared_ptr<attnlab::Model> openModel(const Args& args) {
    attnlab::LoadOptions options;
    options.device = args.get("device", "cpu");
    options.dtype = args.get("dtype", "");
    auto model = attnlab::Model::open(args.require("model"), options);
    if (!model) throw std::runtime_error(model.error());
    return *model;
}

Json infoJson(const attnlab::ModelInfo& i) { return attnlab::modelInfoJson(i); }

// --- sessions -------------------------------------------------------------------------------------

std::string firstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

// What every record of this command's runs shares (the record layout lives in core/session/run_record.h).
attnlab::RecordContext recordContext(const attnlab::ModelInfo& info, int64_t started_ms, int64_t ended_ms) {
    attnlab::RecordContext context;
    context.model = info;
    // An unreadable hash only loses the (path, hash) match; the run itself is still worth keeping.
    if (auto hash = attnlab::modelContentHash(info.dir)) context.content_hash = "fnv1a64:" + *hash;
    context.attnlab_version = attnlab::attnlabVersion();
    context.libtorch_version = attnlab::libtorchVersion();
    context.started_unix_ms = started_ms;
    context.ended_unix_ms = ended_ms;
    return context;
}

// Saves when --session was given and reports the outcome: the "session" object for --json output,
// and a one-line stderr message plus kExitNotSaved when nothing or not everything was saved.
struct SessionOutcome {
    bool is_requested = false;
    bool is_saved = false;
    std::vector<int64_t> run_ids;
    std::string error;

    Json json(const std::string& path) const {
        Json j{{"path", path}, {"run_ids", run_ids}};
        if (!is_saved) j["error"] = error;
        return j;
    }
    int finish(const std::string& command, const std::string& path, bool is_json) const {
        if (!is_requested) return 0;
        if (!is_saved) {
            std::cerr << "attnlab-cli " << command << ": results printed but not saved to session " << path << ": "
                      << error << "\n";
            return kExitNotSaved;
        }
        if (!is_json) {
            std::cout << "saved to " << path << " as run";
            for (int64_t id : run_ids) std::cout << " " << id;
            std::cout << "\n";
        }
        return 0;
    }
};

SessionOutcome saveIfRequested(const std::string& path, const std::vector<attnlab::RunRecord>& runs) {
    SessionOutcome outcome;
    if (path.empty()) return outcome;
    outcome.is_requested = true;
    try {
        auto ids = attnlab::saveRunsToSession(path, runs);
        if (ids) {
            outcome.is_saved = true;
            outcome.run_ids = *ids;
        } else {
            outcome.error = ids.error();
        }
    } catch (const std::exception& e) {  // e.g. bad_alloc: the results must still be printed
        outcome.error = firstLine(e.what());
    }
    return outcome;
}

// --session FILE, or "" when not given.
std::string sessionArgument(const Args& args) {
    if (!args.has("session")) return "";
    if (args.get("session").empty()) throw UsageError("option '--session' needs a file name");
    return args.get("session");
}

int cmdGenerate(int argc, char** argv) {
    Args args(argc, argv, 2,
              {{"model", true}, {"prompt", true}, {"prompt-file", true}, {"max-new-tokens", true}, {"greedy", false},
               {"temperature", true}, {"top-k", true}, {"top-p", true}, {"seed", true}, {"device", true},
               {"dtype", true}, {"session", true}, {"json", false}});
    const std::string prompt = textArgument(args, "prompt", "prompt-file");
    attnlab::GenerationSettings settings;
    settings.max_new_tokens = args.getInt("max-new-tokens", 32);
    const bool sampling = args.has("temperature") || args.has("top-p") || args.has("top-k") || args.has("seed");
    if (sampling && args.has("greedy")) throw UsageError("--greedy cannot be combined with sampling options");
    settings.sampling.is_greedy = !sampling;
    settings.sampling.temperature = args.getDouble("temperature", 1.0);
    settings.sampling.top_k = args.getInt("top-k", 0);
    settings.sampling.top_p = args.getDouble("top-p", 1.0);
    settings.sampling.seed = static_cast<uint64_t>(args.getInt("seed", 0));
    if (settings.max_new_tokens < 0) throw UsageError("--max-new-tokens must not be negative");
    const std::string session_path = sessionArgument(args);

    auto model = openModel(args);
    auto ids = model->encode(prompt, true);
    if (!ids) throw std::runtime_error(ids.error());
    const int64_t started_ms = attnlab::nowUnixMs();
    auto result = model->generate(*ids, settings);
    if (!result) throw std::runtime_error(result.error());
    const int64_t ended_ms = attnlab::nowUnixMs();
    const attnlab::GenerationResult& r = *result;
    const attnlab::ModelInfo info = model->info();
    Json j = attnlab::generationJson(r, info);

    SessionOutcome session;
    if (!session_path.empty()) {
        const attnlab::RunRecord run =
            attnlab::generationRecord(recordContext(info, started_ms, ended_ms), prompt, r, settings);
        session = saveIfRequested(session_path, {run});
        j["session"] = session.json(session_path);
    }
    if (args.has("json")) {
        std::cout << j.dump() << "\n";
    } else {
        std::cout << r.output_text << "\n";
    }
    return session.finish("generate", session_path, args.has("json"));
}

int cmdTokenize(int argc, char** argv) {
    Args args(argc, argv, 2,
              {{"model", true}, {"text", true}, {"text-file", true}, {"no-special", false}, {"json", false}});
    const std::string text = textArgument(args, "text", "text-file");
    const std::string dir = args.require("model");
    auto tokenizer = attnlab::Tokenizer::fromDirectory(dir);
    if (!tokenizer) throw std::runtime_error(tokenizer.error());
    std::vector<int32_t> ids = (*tokenizer)->encode(text, !args.has("no-special"));
    if (args.has("json")) {
        std::cout << Json{{"ids", ids}}.dump() << "\n";
    } else {
        for (int32_t id : ids) std::cout << id << "\t" << (*tokenizer)->tokenText(id) << "\n";
    }
    return 0;
}

// One head's post-RoPE queries/keys of a prompt (or a synthetic 128K-ready head) with its row
// normalisers and pyramid, for the app's long-attention dock (--long-attention FILE).
int cmdLongCapture(int argc, char** argv) {
    Args args(argc, argv, 2,
              {{"model", true}, {"prompt", true}, {"prompt-file", true}, {"layer", true}, {"head", true},
               {"synthetic", true}, {"seed", true}, {"out", true}, {"pyramid-cells", true}, {"device", true},
               {"dtype", true}, {"json", false}});
    const std::string out = args.require("out");
    const long long cells = args.getInt("pyramid-cells", attnlab::kDefaultPyramidCells);
    if (cells <= 0) throw UsageError("--pyramid-cells must be positive");
    if (args.has("synthetic") == args.has("model")) throw UsageError("give exactly one of --model and --synthetic");
    attnlab::LongAttentionCapture capture;
    if (args.has("synthetic")) {
        const long long n = args.getInt("synthetic", 0);
        if (n <= 0) throw UsageError("--synthetic needs a positive token count");
        capture = attnlab::synthesizeLongAttention(n, static_cast<uint64_t>(args.getInt("seed", 1)));
    } else {
        auto model = openModel(args);
        auto ids = model->encode(textArgument(args, "prompt", "prompt-file"));
        if (!ids) throw std::runtime_error(ids.error());
        auto c = attnlab::captureLongAttention(*model, *ids, args.getInt("layer", 0), args.getInt("head", 0));
        if (!c) throw std::runtime_error(c.error());
        capture = std::move(*c);
    }
    // --device cuda: normalisers and pyramid on the GPU (the token count must be a multiple of the cells).
    const std::string device = args.get("device", "cpu");
    if (device == "cpu" && !capture.hasNormalisers())
        if (auto s = attnlab::computeRowNormalisers(capture); !s.isOk()) throw std::runtime_error(s.error());
    auto pyramid = device == "cpu" ? attnlab::buildPyramid(capture, cells)
                                   : attnlab::buildPyramidOnDevice(capture, device, cells);
    if (!pyramid) throw std::runtime_error(pyramid.error());
    if (auto s = attnlab::saveLongAttention(out, capture, &*pyramid); !s.isOk()) throw std::runtime_error(s.error());
    if (args.has("json"))
        std::cout << Json{{"file", out}, {"tokens", capture.tokens}, {"head_dim", capture.head_dim},
                          {"pyramid_cells", pyramid->levels.front().rows}}.dump() << "\n";
    else
        std::cout << out << ": " << capture.tokens << " tokens, head_dim " << capture.head_dim << "\n";
    return 0;
}

std::string exePath() { return attnlab::executablePath("attnlab-cli"); }

// The registry with `full` and every plugin found; refused plugins are reported on stderr.
std::unique_ptr<attnlab::StrategyRegistry> makeRegistry() {
    auto registry = std::make_unique<attnlab::StrategyRegistry>();
    registry->loadDefaultPlugins(exePath());
    for (const auto& p : registry->problems()) std::cerr << "attnlab-cli: plugin " << p.reason << "\n";
    return registry;
}

Json paramsJson(const std::vector<attnlab::ParamSpec>& params) {
    Json out = Json::array();
    for (const auto& p : params)
        out.push_back({{"name", p.name},
                       {"type", attnlab::paramTypeName(p.type)},
                       {"default", p.default_value},
                       {"min", p.min_value},
                       {"max", p.max_value},
                       {"help", p.help}});
    return out;
}

int cmdStrategies(int argc, char** argv) {
    Args args(argc, argv, 2, {{"json", false}});
    auto registry = makeRegistry();
    Json list = Json::array();
    for (const auto& info : registry->list())
        list.push_back({{"name", info.name},
                        {"summary", info.summary},
                        {"params", paramsJson(info.params)},
                        {"calibration", info.calibration},
                        {"origin", info.origin}});
    if (args.has("json")) {
        std::cout << Json{{"strategies", list}}.dump() << "\n";
    } else {
        for (const auto& s : list) {
            std::cout << s["name"].get<std::string>() << ": " << s["summary"].get<std::string>() << "\n";
            for (const auto& p : s["params"])
                std::cout << "    " << p["name"].get<std::string>() << " (" << p["type"].get<std::string>()
                          << ", default " << p["default"].get<std::string>() << "): " << p["help"].get<std::string>()
                          << "\n";
        }
    }
    return 0;
}

int cmdRun(int argc, char** argv) {
    // --strategy may repeat: collect them before the generic parser sees the arguments.
    std::vector<std::string> specs;
    std::vector<char*> rest{argv[0], argv[1]};
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--strategy") {
            if (i + 1 >= argc) throw UsageError("option '--strategy' needs a value");
            specs.push_back(argv[++i]);
        } else if (a.rfind("--strategy=", 0) == 0) {
            specs.push_back(a.substr(11));
        } else {
            rest.push_back(argv[i]);
        }
    }
    Args args(static_cast<int>(rest.size()), rest.data(), 2,
              {{"model", true}, {"task", true}, {"prompt", true}, {"prompt-file", true}, {"max-new-tokens", true},
               {"include-full", false}, {"device", true}, {"dtype", true}, {"session", true}, {"json", false}});
    const std::string session_path = sessionArgument(args);
    if (specs.empty()) throw UsageError("give at least one --strategy (see attnlab-cli strategies)");
    auto registry = makeRegistry();
    for (const auto& spec : specs) {  // bad specs fail before the model loads
        auto probe = registry->create(spec);
        if (!probe) throw UsageError(probe.error());
    }
    const int inputs = int(args.has("task")) + int(args.has("prompt")) + int(args.has("prompt-file"));
    if (inputs != 1) throw UsageError("give exactly one of --task, --prompt and --prompt-file");
    auto model = openModel(args);
    attnlab::RunInput input;
    if (args.has("task")) {
        int64_t bos = model->config().bos_token_ids.empty() ? -1 : model->config().bos_token_ids.front();
        auto task = attnlab::makeTask(args.get("task"), attnlab::findTaskFolder(exePath()), model->tokenizer(), bos);
        if (!task) throw UsageError(task.error());
        input.has_task = true;
        input.task = *task;
        input.prompt_ids = task->prompt_ids;
    } else {
        input.prompt_text = textArgument(args, "prompt", "prompt-file");
        auto ids = model->encode(input.prompt_text, true);
        if (!ids) throw std::runtime_error(ids.error());
        input.prompt_ids = *ids;
    }
    attnlab::CompareOptions options;
    options.settings.max_new_tokens = args.getInt("max-new-tokens", 32);
    options.calibration.task_folder = attnlab::findTaskFolder(exePath());
    options.calibration.on_note = [](const std::string& note) { std::cerr << "attnlab-cli: " << note << "\n"; };
    options.list_full = args.has("include-full");
    const int64_t started_ms = attnlab::nowUnixMs();
    auto comparison = attnlab::runComparison(*model, *registry, input, specs, options);
    if (!comparison) throw std::runtime_error(comparison.error());
    const int64_t ended_ms = attnlab::nowUnixMs();
    const attnlab::ModelInfo info = model->info();

    const Json in = attnlab::runInputJson(input);
    Json runs = Json::array();
    for (const auto& r : comparison->runs) runs.push_back(attnlab::strategyRunJson(r));
    Json out{{"input", in}, {"runs", runs}, {"notes", comparison->notes}, {"model", infoJson(info)}};

    SessionOutcome session;
    if (!session_path.empty()) {
        // The strategies ran one after another inside one comparison (with the shared `full`
        // reference), so every run carries the comparison's start and end.
        attnlab::RecordContext context = recordContext(info, started_ms, ended_ms);
        for (const auto& s : registry->list()) context.strategy_origins[s.name] = s.origin;
        const std::vector<attnlab::RunRecord> records = attnlab::comparisonRecords(
            context, input, comparison->runs, comparison->notes, options.settings.max_new_tokens);
        session = saveIfRequested(session_path, records);
        out["session"] = session.json(session_path);
    }
    if (args.has("json")) {
        std::cout << out.dump() << "\n";
    } else {
        for (const auto& r : comparison->runs) {
            std::cout << r.spec << ": " << r.result.output_text << "\n   ";
            for (const auto& [k, v] : r.metrics) std::cout << " " << k << "=" << v;
            std::cout << "\n";
        }
    }
    return session.finish("run", session_path, args.has("json"));
}

int cmdCalibrate(int argc, char** argv) {
    Args args(argc, argv, 2, {{"model", true}, {"strategy", true}, {"device", true}, {"dtype", true}, {"json", false}});
    const std::string kind = args.require("strategy");
    if (kind != "duo" && kind != "razor") throw UsageError("--strategy must be duo or razor (the strategies with calibrations)");
    auto model = openModel(args);
    attnlab::CalibrationOptions options;
    options.task_folder = attnlab::findTaskFolder(exePath());
    auto scores = attnlab::runCalibration(*model, kind, options);
    if (!scores) throw std::runtime_error(scores.error());
    attnlab::Status saved = attnlab::saveCalibration(model->info().dir, *scores, options);
    if (!saved.isOk()) throw std::runtime_error(saved.error());
    const std::string path = attnlab::calibrationPath(model->info().dir, kind).value();
    if (args.has("json")) {
        std::cout << Json{{"kind", kind}, {"path", path}, {"scores", scores->scores}, {"secondary", scores->secondary}}.dump()
                  << "\n";
    } else {
        std::cout << kind << " calibration saved to " << path << "\n";
        for (size_t l = 0; l < scores->scores.size(); ++l) {
            std::cout << "layer " << l << ":";
            for (double v : scores->scores[l]) std::cout << " " << v;
            std::cout << "\n";
        }
    }
    return 0;
}

int cmdInfo(int argc, char** argv) {
    Args args(argc, argv, 2, {{"model", true}, {"device", true}, {"dtype", true}, {"json", false}});
    auto model = openModel(args);
    Json j = infoJson(model->info());
    if (args.has("json")) {
        std::cout << j.dump() << "\n";
    } else {
        for (auto& [k, v] : j.items()) std::cout << k << ": " << v.dump() << "\n";
    }
    return 0;
}

// A metric value in a table cell: integers in full, others to 4 significant digits.
std::string shortNumber(double v) {
    std::ostringstream ss;
    if (v == std::floor(v) && std::fabs(v) < 1e15)
        ss << static_cast<long long>(v);  // byte counts in full
    else
        ss << std::setprecision(4) << v;
    return ss.str();
}

int cmdSessions(int argc, char** argv) {
    // FILE comes first: `sessions FILE [--json]` (also accepted: --session FILE).
    const bool has_file = argc > 2 && std::string(argv[2]).rfind("--", 0) != 0;
    Args args(argc, argv, has_file ? 3 : 2, {{"session", true}, {"json", false}});
    if (has_file && args.has("session")) throw UsageError("give the session file once");
    const std::string path = has_file ? std::string(argv[2]) : args.get("session");
    if (path.empty()) throw UsageError("give the session file: attnlab-cli sessions FILE [--json]");
    attnlab::SessionOpenOptions options;
    options.read_only = true;
    auto store = attnlab::SessionStore::open(path, options);
    if (!store) throw std::runtime_error(store.error());
    auto runs = store->listRuns();
    if (!runs) throw std::runtime_error(runs.error());
    if (args.has("json")) {
        std::cout << attnlab::runSummariesJson(*runs) << "\n";
        return 0;
    }
    if (runs->empty()) {
        std::cout << path << ": no runs\n";
        return 0;
    }
    std::vector<std::vector<std::string>> rows{{"id", "status", "started", "strategy", "model", "metrics"}};
    for (const auto& run : *runs) {
        std::string metrics;
        for (const auto& [k, v] : run.metrics) metrics += (metrics.empty() ? "" : " ") + k + "=" + shortNumber(v);
        std::string name = run.strategy + (run.name.empty() ? "" : " \"" + run.name + "\"");
        rows.push_back({std::to_string(run.id), run.status, attnlab::isoUtcFromUnixMs(run.started_unix_ms), name,
                        run.model.path, metrics});
    }
    std::vector<size_t> widths(rows.front().size(), 0);
    for (const auto& row : rows)
        for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
    for (const auto& row : rows) {
        std::string line;
        for (size_t c = 0; c < row.size(); ++c) {
            line += row[c];
            if (c + 1 < row.size()) line += std::string(widths[c] - row[c].size() + 2, ' ');
        }
        std::cout << line << "\n";
    }
    return 0;
}

int cmdExport(int argc, char** argv) {
    // --run may repeat: collect the ids before the generic parser sees the arguments.
    std::vector<int64_t> run_ids;
    std::vector<char*> rest{argv[0], argv[1]};
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        std::string value;
        if (a == "--run") {
            if (i + 1 >= argc) throw UsageError("option '--run' needs a value");
            value = argv[++i];
        } else if (a.rfind("--run=", 0) == 0) {
            value = a.substr(6);
        } else {
            rest.push_back(argv[i]);
            continue;
        }
        size_t used = 0;
        long long id = 0;
        try {
            id = std::stoll(value, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != value.size() || value.empty() || id <= 0)
            throw UsageError("option '--run' needs a run id (see attnlab-cli sessions FILE), got '" + value + "'");
        run_ids.push_back(id);
    }
    Args args(static_cast<int>(rest.size()), rest.data(), 2, {{"session", true}, {"format", true}, {"out", true}});
    const std::string path = args.require("session");
    auto format = attnlab::parseExportFormat(args.require("format"));
    if (!format) throw UsageError(format.error());
    attnlab::ExportRequest request;
    request.run_ids = run_ids;
    request.format = *format;
    request.out_dir = args.require("out");
    auto store = attnlab::SessionStore::open(path);
    if (!store) throw std::runtime_error(store.error());
    auto report = attnlab::exportSession(*store, request);
    if (!report) throw std::runtime_error(report.error());
    for (const auto& note : report->notes) std::cerr << "attnlab-cli export: " << firstLine(note) << "\n";
    for (const auto& file : report->files) std::cout << file.path << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
        std::cout << kUsage << attnlab::cli::sweepUsage();
#ifdef ATTNLAB_WITH_SCENE
        std::cout << attnlab::cli::sceneUsage();
#endif
#ifdef ATTNLAB_WITH_SCANPATH
        std::cout << attnlab::cli::scanpathUsage();
#endif
        return argc < 2 ? 2 : 0;
    }
    const std::string command = argv[1];
    try {
        if (command == "generate") return cmdGenerate(argc, argv);
        if (command == "tokenize") return cmdTokenize(argc, argv);
        if (command == "info") return cmdInfo(argc, argv);
        if (command == "strategies") return cmdStrategies(argc, argv);
        if (command == "run") return cmdRun(argc, argv);
        if (command == "calibrate") return cmdCalibrate(argc, argv);
        if (command == "sessions") return cmdSessions(argc, argv);
        if (command == "export") return cmdExport(argc, argv);
        if (command == "long-capture") return cmdLongCapture(argc, argv);
        if (command == "sweep") return attnlab::cli::runSweep(argc, argv, {exePath(), makeRegistry});
#ifdef ATTNLAB_WITH_SCENE
        if (command == "scene") return attnlab::cli::runScene(argc, argv);
#endif
#ifdef ATTNLAB_WITH_SCANPATH
        if (command == "scanpath") return attnlab::cli::runScanpath(argc, argv);
#endif
        std::cerr << "attnlab-cli: unknown command '" << command
                  << "' (generate, tokenize, info, strategies, run, calibrate, sessions, export, long-capture, sweep)\n";
        return 2;
    } catch (const UsageError& e) {
        std::cerr << "attnlab-cli " << command << ": " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::string what = e.what();
        std::cerr << "attnlab-cli " << command << ": " << what.substr(0, what.find('\n')) << "\n";
        return 1;
    }
}
