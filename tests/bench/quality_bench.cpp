// Quality benchmark (issue 4): needle accuracy of every strategy over a parameter sweep against the
// KV bytes it actually kept, on the bundled demo model. One full-attention prefill per prompt is
// shared by all strategies (GenerationHooks::reuse_prefill; equal to fresh runs, see
// SharedPrefillTest). Prints one JSON object per (strategy, length, depth, trial) and a summary.
//   attnlab-quality-bench --model DIR --lengths 1024,2048,4096 --depths 0,0.25,0.5,0.75,1 --trials 20
//                         --strategy SPEC [--strategy SPEC ...] --out results.json [--device cuda] [--dtype bf16]
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/engine/model.h"
#include "core/strategy/calibration.h"
#include "core/strategy/registry.h"
#include "core/strategy/trace.h"
#include "core/tasks/tasks.h"
#include "core/util/files.h"

namespace {

std::vector<double> parseList(const std::string& s) {
    std::vector<double> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) out.push_back(std::stod(item));
    return out;
}

std::string exePath() { return attnlab::executablePath(); }

}  // namespace

int main(int argc, char** argv) {
    std::string model_dir = "assets/models/attnlab-demo", out_path = "quality_bench.json";
    attnlab::LoadOptions load;  // CPU float32 unless --device / --dtype say otherwise
    std::vector<double> lengths{1024, 2048, 4096}, depths{0, 0.25, 0.5, 0.75, 1};
    int64_t trials = 20;
    std::vector<std::string> specs;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--model") model_dir = v;
        else if (k == "--lengths") lengths = parseList(v);
        else if (k == "--depths") depths = parseList(v);
        else if (k == "--trials") trials = std::stoll(v);
        else if (k == "--strategy") specs.push_back(v);
        else if (k == "--out") out_path = v;
        else if (k == "--device") load.device = v;
        else if (k == "--dtype") load.dtype = v;
        else {
            std::cerr << "unknown option " << k << "\n";
            return 2;
        }
    }
    auto model = attnlab::Model::open(model_dir, load);
    if (!model) {
        std::cerr << model.error() << "\n";
        return 1;
    }
    attnlab::StrategyRegistry registry;
    registry.loadDefaultPlugins(exePath());
    const std::string tasks = attnlab::findTaskFolder(exePath());
    attnlab::CalibrationOptions cal;
    cal.task_folder = tasks;
    cal.on_note = [](const std::string& n) { std::cerr << n << "\n"; };
    std::map<std::string, attnlab::HeadScores> calibrations;
    for (const auto& spec : specs) {
        auto inst = registry.create(spec);
        if (!inst) {
            std::cerr << inst.error() << "\n";
            return 2;
        }
        const std::string kind = inst->info.calibration;
        if (!kind.empty() && !calibrations.count(kind)) {
            auto s = attnlab::ensureCalibration(**model, kind, cal);
            if (!s) {
                std::cerr << s.error() << "\n";
                return 1;
            }
            calibrations[kind] = *s;
        }
    }
    const int64_t bos = (*model)->config().bos_token_ids.empty() ? -1 : (*model)->config().bos_token_ids.front();
    nlohmann::json rows = nlohmann::json::array();
    auto start = std::chrono::steady_clock::now();
    for (double length : lengths)
        for (double depth : depths)
            for (int64_t trial = 0; trial < trials; ++trial) {
                std::ostringstream task_spec;
                task_spec << "needle:length=" << int64_t(length) << ",depth=" << depth << ",seed=" << trial;
                auto task = attnlab::makeTask(task_spec.str(), tasks, (*model)->tokenizer(), bos);
                if (!task) {
                    std::cerr << task.error() << "\n";
                    return 1;
                }
                auto snapshot = (*model)->prefill(task->prompt_ids);
                if (!snapshot) {
                    std::cerr << snapshot.error() << "\n";
                    return 1;
                }
                attnlab::GenerationSettings settings;
                settings.max_new_tokens = task->max_new_tokens;
                std::vector<std::string> all{"full"};
                all.insert(all.end(), specs.begin(), specs.end());
                for (const auto& spec : all) {
                    auto inst = registry.create(spec);
                    attnlab::GenerationHooks hooks;
                    hooks.strategy = inst->strategy.get();
                    hooks.reuse_prefill = snapshot->get();
                    if (!inst->info.calibration.empty()) hooks.calibration = &calibrations[inst->info.calibration];
                    auto r = (*model)->generate(task->prompt_ids, settings, hooks);
                    if (!r) {
                        std::cerr << spec << ": " << r.error() << "\n";
                        return 1;
                    }
                    nlohmann::json row{{"strategy", inst->canonical_spec},
                                       {"length", int64_t(length)},
                                       {"depth", depth},
                                       {"trial", trial},
                                       {"correct", attnlab::isCorrect(*task, r->output_text)},
                                       {"kv_bytes", r->kv_bytes},
                                       {"decode_ms_per_token", r->decode_ms_per_token}};
                    rows.push_back(row);
                }
                const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                std::cerr << task_spec.str() << " done after " << s << " s\n";
            }
    // Summary per (strategy, length): accuracy and KV bytes relative to full.
    std::map<std::pair<std::string, int64_t>, std::array<double, 4>> sums;  // correct, kv, decode, n
    for (const auto& r : rows) {
        auto& a = sums[{r["strategy"].get<std::string>(), r["length"].get<int64_t>()}];
        a[0] += r["correct"].get<bool>();
        a[1] += r["kv_bytes"].get<double>();
        a[2] += r["decode_ms_per_token"].get<double>();
        a[3] += 1;
    }
    nlohmann::json summary = nlohmann::json::array();
    for (const auto& [key, a] : sums) {
        const auto& full = sums[{std::string("full"), key.second}];
        summary.push_back({{"strategy", key.first},
                           {"length", key.second},
                           {"accuracy", a[0] / a[3]},
                           {"accuracy_vs_full", full[0] > 0 ? (a[0] / a[3]) / (full[0] / full[3]) : 0.0},
                           {"kv_fraction_of_full", (a[1] / a[3]) / (full[1] / full[3])},
                           {"decode_ms_per_token", a[2] / a[3]},
                           {"trials", a[3]}});
    }
    std::ofstream(out_path) << nlohmann::json{{"model", model_dir}, {"trials_per_cell", trials}, {"summary", summary},
                                             {"rows", rows}}
                                   .dump(1)
                            << "\n";
    for (const auto& s : summary) std::cout << s.dump() << "\n";
    return 0;
}
