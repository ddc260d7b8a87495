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

#include "core/engine/model.h"

namespace {

using Json = nlohmann::json;

constexpr const char* kUsage = R"(usage:
  attnlab-cli generate --model DIR (--prompt TEXT | --prompt-file F) [--max-new-tokens N]
                       [--greedy | --temperature T [--top-k K] [--top-p P] [--seed S]]
                       [--device cpu|cuda] [--dtype f32|bf16|f16] [--json]
  attnlab-cli tokenize --model DIR (--text T | --text-file F) [--no-special] [--json]
  attnlab-cli info --model DIR [--device ...] [--dtype ...] [--json]
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
               {"timings", {{"prefill_ms", r.prefill_ms}, {"decode_ms_per_token", r.decode_ms_per_token}}},
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
        std::cerr << "attnlab-cli: unknown command '" << command << "' (generate, tokenize, info)\n";
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
