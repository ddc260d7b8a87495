// Engine benchmark: prefill and decode timings for one checkpoint at given prompt lengths,
// from random prompt ids. Prints one JSON object per line. Used by tests/bench/run_engine_bench.py.
//   attnlab-engine-bench --model DIR --prompt-tokens 4096,32768 --new-tokens 128 --device cuda --repeat 3
//                        [--strategy SPEC]   (a strategy from the built plugins, e.g. streaming:lambda_prefill=true)
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/engine/model.h"
#include "core/strategy/registry.h"
#include "core/util/files.h"

namespace {

std::vector<int64_t> parseList(const std::string& s) {
    std::vector<int64_t> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) out.push_back(std::stoll(item));
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::string model_dir, device = "cpu", dtype, strategy_spec;
    std::vector<int64_t> lengths{512};
    int64_t new_tokens = 32, repeat = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--model") model_dir = v;
        else if (k == "--device") device = v;
        else if (k == "--dtype") dtype = v;
        else if (k == "--prompt-tokens") lengths = parseList(v);
        else if (k == "--new-tokens") new_tokens = std::stoll(v);
        else if (k == "--repeat") repeat = std::stoll(v);
        else if (k == "--strategy") strategy_spec = v;
        else {
            std::cerr << "unknown option " << k << "\n";
            return 2;
        }
    }
    auto model = attnlab::Model::open(model_dir, attnlab::LoadOptions{device, dtype});
    if (!model) {
        std::cerr << model.error() << "\n";
        return 1;
    }
    attnlab::StrategyRegistry registry;
    registry.loadDefaultPlugins(attnlab::executablePath("attnlab-engine-bench"));
    attnlab::GenerationHooks hooks;
    std::shared_ptr<attnlab::Strategy> strategy;
    if (!strategy_spec.empty()) {
        auto inst = registry.create(strategy_spec);
        if (!inst) {
            std::cerr << inst.error() << "\n";
            return 1;
        }
        strategy = std::move(inst->strategy);
        hooks.strategy = strategy.get();
    }
    const int64_t vocab = (*model)->tokenizer().vocabSize();
    std::mt19937 rng(1234);
    for (int64_t n : lengths) {
        std::vector<int32_t> ids(static_cast<size_t>(n));
        for (auto& id : ids) id = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
        attnlab::GenerationSettings settings;
        settings.max_new_tokens = new_tokens;
        settings.stop_at_eos = false;
        (*model)->generate(ids, settings, hooks);  // warm-up (allocator, kernels)
        double best_prefill = 1e30, best_decode = 1e30, setup = 0;
        int64_t kv_bytes = 0;
        for (int64_t r = 0; r < repeat; ++r) {
            auto result = (*model)->generate(ids, settings, hooks);
            if (!result) {
                std::cerr << result.error() << "\n";
                return 1;
            }
            best_prefill = std::min(best_prefill, result->prefill_ms);
            best_decode = std::min(best_decode, result->decode_ms_per_token);
            kv_bytes = result->kv_bytes;
            setup = result->decode_setup_ms;
        }
        nlohmann::json j{{"engine", "attnlab"},
                         {"model", model_dir},
                         {"strategy", strategy_spec.empty() ? "full" : strategy_spec},
                         {"prompt_tokens", n},
                         {"new_tokens", new_tokens},
                         {"prefill_ms", best_prefill},
                         {"prefill_tokens_per_s", n / best_prefill * 1e3},
                         {"decode_ms_per_token", best_decode},
                         {"decode_setup_ms", setup},
                         {"kv_bytes", kv_bytes},
                         {"weight_bytes", (*model)->info().weight_bytes}};
        std::cout << j.dump() << std::endl;
    }
    return 0;
}
