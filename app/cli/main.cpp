// attnlab-cli: the headless client of core. Whatever the GUI can run, this can run.
// Bad input: non-zero exit and one clear line on stderr.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/engine/compare.h"
#include "core/engine/model.h"
#include "core/strategy/registry.h"
#include "core/tasks/tasks.h"

namespace {

using Json = nlohmann::json;

constexpr const char* kUsage = R"(usage:
  attnlab-cli generate --model DIR (--prompt TEXT | --prompt-file F) [--max-new-tokens N]
                       [--greedy | --temperature T [--top-k K] [--top-p P] [--seed S]]
                       [--device cpu|cuda] [--dtype f32|bf16|f16] [--json]
  attnlab-cli tokenize --model DIR (--text T | --text-file F) [--no-special] [--json]
  attnlab-cli info --model DIR [--device ...] [--dtype ...] [--json]
  attnlab-cli strategies [--json]
  attnlab-cli calibrate --model DIR --strategy duo|razor [--device ...] [--dtype ...] [--json]
  attnlab-cli run --model DIR --strategy SPEC [--strategy SPEC ...]
                  (--task needle:length=N,depth=D[,seed=S] | --prompt TEXT | --prompt-file F)
                  [--max-new-tokens N] [--include-full] [--device ...] [--dtype ...] [--json]
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

Json infoJson(const attnlab::ModelInfo& i) {
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

int cmdGenerate(int argc, char** argv) {
    Args args(argc, argv, 2,
              {{"model", true}, {"prompt", true}, {"prompt-file", true}, {"max-new-tokens", true}, {"greedy", false},
               {"temperature", true}, {"top-k", true}, {"top-p", true}, {"seed", true}, {"device", true},
               {"dtype", true}, {"json", false}});
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

    auto model = openModel(args);
    auto ids = model->encode(prompt, true);
    if (!ids) throw std::runtime_error(ids.error());
    auto result = model->generate(*ids, settings);
    if (!result) throw std::runtime_error(result.error());
    const attnlab::GenerationResult& r = *result;
    if (args.has("json")) {
        Json j{{"prompt_ids", r.prompt_ids},
               {"output_ids", r.output_ids},
               {"output_text", r.output_text},
               {"stop_reason", r.stop_reason},
               {"timings",
                {{"prefill_ms", r.prefill_ms},
                 {"decode_ms_per_token", r.decode_ms_per_token},
                 {"decode_setup_ms", r.decode_setup_ms}}},
               {"kv_bytes", r.kv_bytes},
               {"kv_peak_bytes", r.kv_peak_bytes},
               {"model", infoJson(model->info())}};
        std::cout << j.dump() << "\n";
    } else {
        std::cout << r.output_text << "\n";
    }
    return 0;
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

std::string exePath() {
    char buf[4096];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("attnlab-cli");
}

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

Json traceJson(const attnlab::StrategyTrace& trace) {
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
               {"include-full", false}, {"device", true}, {"dtype", true}, {"json", false}});
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
    auto comparison = attnlab::runComparison(*model, *registry, input, specs, options);
    if (!comparison) throw std::runtime_error(comparison.error());

    Json in{{"prompt_tokens", input.prompt_ids.size()}, {"prompt_ids", input.prompt_ids}};
    if (input.has_task) {
        in["task"] = input.task.spec;
        in["answer"] = input.task.answer;
        for (const auto& [k, v] : input.task.numbers) in[k] = v;
    } else {
        in["prompt"] = input.prompt_text;
    }
    Json runs = Json::array();
    auto rolesJson = [](const attnlab::StrategyTrace& t) { return Json(t.head_roles); };
    for (const auto& r : comparison->runs) {
        runs.push_back({{"strategy", r.spec},
                        {"output_ids", r.result.output_ids},
                        {"output_text", r.result.output_text},
                        {"stop_reason", r.result.stop_reason},
                        {"metrics", r.metrics},
                        {"kv_bytes", r.result.kv_bytes},
                        {"kv_peak_bytes", r.result.kv_peak_bytes},
                        {"timings",
                         {{"prefill_ms", r.result.prefill_ms},
                          {"decode_ms_per_token", r.result.decode_ms_per_token},
                          {"decode_setup_ms", r.result.decode_setup_ms}}},
                        {"trace", traceJson(r.trace)},
                        {"head_roles", rolesJson(r.trace)}});
    }
    if (args.has("json")) {
        std::cout << Json{{"input", in}, {"runs", runs}, {"notes", comparison->notes}, {"model", infoJson(model->info())}}
                         .dump()
                  << "\n";
    } else {
        for (const auto& r : comparison->runs) {
            std::cout << r.spec << ": " << r.result.output_text << "\n   ";
            for (const auto& [k, v] : r.metrics) std::cout << " " << k << "=" << v;
            std::cout << "\n";
        }
    }
    return 0;
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

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
        std::cout << kUsage;
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
        std::cerr << "attnlab-cli: unknown command '" << command << "' (generate, tokenize, info, strategies, run, calibrate)\n";
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
