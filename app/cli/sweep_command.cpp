#include "app/cli/sweep_command.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/analysis/budget_sweep.h"
#include "core/engine/compare.h"
#include "core/engine/model.h"
#include "core/strategy/registry.h"
#include "core/tasks/tasks.h"
#ifdef ATTNLAB_WITH_SWEEP_FIGURE
#include "views/sweep_export.h"
#endif

namespace attnlab::cli {

namespace {

struct Usage : std::runtime_error {
    using std::runtime_error::runtime_error;
};

constexpr const char* kUsage =
    "  attnlab-cli sweep --model DIR --strategy SPEC [--strategy SPEC ...] [--budgets LIST]\n"
    "                    (--task SPEC [--trials N] | --prompt TEXT | --prompt-file F) [--max-new-tokens N]\n"
    "                    [--device ...] [--dtype ...] [--json] [--out FILE.json] [--quiet]\n"
    "                    [--figure FILE.{svg,png,pdf} [--metric accuracy|kl|top1] [--time decode|prefill]\n"
    "                     [--figure-size WxH] [--figure-dpi N]]\n"
    "  attnlab-cli sweep --from-quality-json FILE [--length N] [--json] [--figure FILE ...]\n"
    "      SPEC values may list alternatives: snapkv:budget=10%|25%|50%; --budgets 10%,25%,50% sets the\n"
    "      budget of every strategy that has one\n";

long long parseInt(const std::string& s, const std::string& what) {
    try {
        size_t used = 0;
        const long long v = std::stoll(s, &used);
        if (used != s.size()) throw std::invalid_argument(s);
        return v;
    } catch (const std::exception&) {
        throw Usage(what + " needs an integer, got '" + s + "'");
    }
}

double parseNumber(const std::string& s, const std::string& what) {
    try {
        size_t used = 0;
        const double v = std::stod(s, &used);
        if (used != s.size()) throw std::invalid_argument(s);
        return v;
    } catch (const std::exception&) {
        throw Usage(what + " needs a number, got '" + s + "'");
    }
}

std::string readText(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Usage(path + ": cannot be read");
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string cell(double v, int precision = 3) {
    if (!std::isfinite(v)) return "-";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", precision, v);
    return buf;
}

void printTable(const SweepResult& r) {
    std::cout << "model " << r.model << " · " << r.input << " · " << r.prompt_tokens << " prompt tokens · "
              << r.trials << " trial(s) · full keeps " << cell(r.fullKvBytes() / 1024.0, 1) << " KiB\n";
    std::printf("%-48s %10s %8s %9s %8s %7s %11s %11s\n", "strategy", "kv_KiB", "kv_share", "accuracy", "kl",
                "top1", "prefill_ms", "decode_ms");
    for (const SweepPoint& p : r.points)
        std::printf("%-48s %10s %8s %9s %8s %7s %11s %11s\n", p.spec.c_str(), cell(p.kv_bytes / 1024.0, 1).c_str(),
                    cell(p.kv_share).c_str(), cell(p.accuracy, 2).c_str(), cell(p.kl_vs_full, 4).c_str(),
                    cell(p.top1_vs_full, 2).c_str(), cell(p.prefill_ms, 1).c_str(),
                    cell(p.decode_ms_per_token, 2).c_str());
    std::fflush(stdout);
}

}  // namespace

const char* sweepUsage() { return kUsage; }

int runSweep(int argc, char** argv, const SweepCommandContext& context) {
    try {
        const std::map<std::string, bool> allowed = {
            {"model", true},       {"strategy", true},   {"budgets", true},     {"task", true},
            {"trials", true},      {"prompt", true},     {"prompt-file", true}, {"max-new-tokens", true},
            {"device", true},      {"dtype", true},      {"json", false},       {"out", true},
            {"figure", true},      {"metric", true},     {"time", true},        {"figure-size", true},
            {"figure-dpi", true},  {"from-quality-json", true}, {"length", true}, {"quiet", false}};
        std::map<std::string, std::string> a;
        std::vector<std::string> specs;
        for (int i = 2; i < argc; ++i) {
            std::string k = argv[i];
            if (k.rfind("--", 0) != 0) throw Usage("unexpected argument '" + k + "'");
            k = k.substr(2);
            std::string value;
            bool has_inline = false;
            if (auto eq = k.find('='); eq != std::string::npos) {
                value = k.substr(eq + 1);
                k = k.substr(0, eq);
                has_inline = true;
            }
            auto it = allowed.find(k);
            if (it == allowed.end()) throw Usage("unknown option '--" + k + "'");
            if (it->second && !has_inline) {
                if (i + 1 >= argc) throw Usage("option '--" + k + "' needs a value");
                value = argv[++i];
            } else if (!it->second && has_inline) {
                throw Usage("option '--" + k + "' takes no value");
            }
            if (k == "strategy") {
                specs.push_back(value);
            } else {
                if (a.count(k)) throw Usage("option '--" + k + "' given twice");
                a[k] = value;
            }
        }
        const bool is_json = a.count("json") > 0;
        const bool is_from_file = a.count("from-quality-json") > 0;
        if (is_from_file && a.count("model"))
            throw Usage("give either --model (run a sweep) or --from-quality-json (draw saved results)");

#ifdef ATTNLAB_WITH_SWEEP_FIGURE
        SweepFigureRequest figure;
        if (a.count("metric")) figure.quality_metric = a["metric"];
        if (a.count("time")) figure.time_metric = a["time"];
        if (figure.quality_metric != "auto" && figure.quality_metric != "accuracy" && figure.quality_metric != "kl" &&
            figure.quality_metric != "top1")
            throw Usage("--metric must be accuracy, kl or top1, got '" + figure.quality_metric + "'");
        if (figure.time_metric != "decode" && figure.time_metric != "prefill")
            throw Usage("--time must be decode or prefill, got '" + figure.time_metric + "'");
        if (a.count("figure-size")) {
            const std::string s = a["figure-size"];
            const auto x = s.find_first_of("xX");
            if (x == std::string::npos) throw Usage("--figure-size needs WxH, got '" + s + "'");
            figure.width = static_cast<int>(parseInt(s.substr(0, x), "--figure-size"));
            figure.height = static_cast<int>(parseInt(s.substr(x + 1), "--figure-size"));
            if (figure.width < 64 || figure.height < 64 || figure.width > 8192 || figure.height > 8192)
                throw Usage("--figure-size needs WxH between 64 and 8192, got '" + s + "'");
        }
        if (a.count("figure-dpi")) {
            figure.dpi = parseNumber(a["figure-dpi"], "--figure-dpi");
            if (figure.dpi < 10 || figure.dpi > 2400) throw Usage("--figure-dpi must be between 10 and 2400");
        }
        if (a.count("figure")) {
            const std::string f = a["figure"];
            const auto dot = f.find_last_of('.');
            std::string ext = dot == std::string::npos ? "" : f.substr(dot + 1);
            for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (ext != "svg" && ext != "png" && ext != "pdf")
                throw Usage("--figure: '" + f + "' is not a .svg, .png or .pdf file");
        }
#else
        for (const char* k : {"figure", "metric", "time", "figure-size", "figure-dpi"})
            if (a.count(k)) throw Usage(std::string("--") + k + " needs the Qt build (configure with ATTNLAB_GUI=ON)");
#endif

        SweepResult result;
        if (is_from_file) {
            for (const char* k : {"strategy", "budgets", "task", "trials", "prompt", "prompt-file", "max-new-tokens",
                                  "device", "dtype"})
                if (a.count(k) || (std::string(k) == "strategy" && !specs.empty()))
                    throw Usage(std::string("--") + k + " runs a sweep; it cannot be combined with --from-quality-json");
            const int64_t length = a.count("length") ? parseInt(a["length"], "--length") : -1;
            auto loaded = loadSweepJson(a["from-quality-json"], length);
            if (!loaded) throw std::runtime_error(loaded.error());
            result = std::move(*loaded);
        } else {
            if (a.count("length")) throw Usage("--length picks a prompt length of --from-quality-json results");
            if (!a.count("model")) throw Usage("option '--model' is required (or --from-quality-json FILE)");
            if (specs.empty())
                throw Usage("give at least one --strategy (e.g. --strategy snapkv:budget=10%|25%|50%; see "
                            "attnlab-cli strategies)");
            auto expanded = expandSweepSpecs(specs);
            if (!expanded) throw Usage(expanded.error());
            auto registry = context.make_registry();
            std::vector<std::string> runs;
            std::vector<std::string> budgets;
            if (a.count("budgets")) {
                auto list = parseBudgetList(a["budgets"]);
                if (!list) throw Usage("--budgets: " + list.error());
                budgets = *list;
            }
            for (const std::string& spec : *expanded) {
                auto probe = registry->create(spec);  // bad specs fail before the model loads
                if (!probe) throw Usage(probe.error());
                bool has_budget = false;
                for (const auto& p : probe->info.params) has_budget = has_budget || p.name == "budget";
                if (budgets.empty() || !has_budget) {
                    if (!budgets.empty() && probe->info.name != "full")
                        std::cerr << "attnlab-cli sweep: " << probe->info.name
                                  << " has no budget parameter: it runs once, as given\n";
                    runs.push_back(spec);
                    continue;
                }
                for (const std::string& b : budgets) {
                    const std::string s = withSweepSpecParam(spec, "budget", b);
                    auto check = registry->create(s);
                    if (!check) throw Usage("--budgets: " + check.error());
                    runs.push_back(s);
                }
            }
            const int inputs = int(a.count("task")) + int(a.count("prompt")) + int(a.count("prompt-file"));
            if (inputs != 1) throw Usage("give exactly one of --task, --prompt and --prompt-file");
            const int64_t trials = a.count("trials") ? parseInt(a["trials"], "--trials") : 1;
            if (trials < 1 || trials > 1000) throw Usage("--trials must be 1..1000");
            if (trials > 1 && !a.count("task")) throw Usage("--trials needs a --task (its seed changes per trial)");
            SweepOptions options;
            options.max_new_tokens = a.count("max-new-tokens") ? parseInt(a["max-new-tokens"], "--max-new-tokens") : 32;
            if (options.max_new_tokens < 0) throw Usage("--max-new-tokens must not be negative");

            LoadOptions load;
            load.device = a.count("device") ? a["device"] : "cpu";
            load.dtype = a.count("dtype") ? a["dtype"] : "";
            auto model = Model::open(a["model"], load);
            if (!model) throw std::runtime_error(model.error());
            const std::string task_folder = findTaskFolder(context.exe_path);
            std::vector<RunInput> run_inputs;
            if (a.count("task")) {
                const int64_t bos =
                    (*model)->config().bos_token_ids.empty() ? -1 : (*model)->config().bos_token_ids.front();
                // Trials are the task at consecutive seeds, from the one given (default 0).
                const std::string given_seed = sweepSpecParam(a["task"], "seed");
                const int64_t seed0 = given_seed.empty() ? 0 : parseInt(given_seed, "--task seed");
                for (int64_t t = 0; t < trials; ++t) {
                    const std::string spec = trials == 1 ? a["task"] : taskSpecWithSeed(a["task"], seed0 + t);
                    auto task = makeTask(spec, task_folder, (*model)->tokenizer(), bos);
                    if (!task) throw Usage(task.error());
                    RunInput in;
                    in.has_task = true;
                    in.task = *task;
                    in.prompt_ids = task->prompt_ids;
                    run_inputs.push_back(std::move(in));
                }
            } else {
                RunInput in;
                in.prompt_text = a.count("prompt") ? a["prompt"] : readText(a["prompt-file"]);
                auto ids = (*model)->encode(in.prompt_text, true);
                if (!ids) throw std::runtime_error(ids.error());
                in.prompt_ids = *ids;
                run_inputs.push_back(std::move(in));
            }
            options.task_folder = task_folder;
            options.on_note = [](const std::string& note) { std::cerr << "attnlab-cli sweep: " << note << "\n"; };
            if (!a.count("quiet"))
                options.on_progress = [](const SweepProgress& p) {
                    if (p.spec.empty()) return;
                    std::cerr << "\rattnlab-cli sweep: " << p.runs_done << "/" << p.runs_total << " runs · trial "
                              << p.trial << " · " << p.spec << "\x1b[K" << std::flush;
                };
            auto swept = runBudgetSweep(**model, *registry, run_inputs, runs, options);
            if (!a.count("quiet")) std::cerr << "\r\x1b[K" << std::flush;
            if (!swept) throw std::runtime_error(swept.error());
            result = std::move(*swept);
        }

        if (a.count("out")) {
            std::ofstream out(a["out"], std::ios::binary);
            if (!out || !(out << sweepJsonText(result, 1) << "\n"))
                throw std::runtime_error(a["out"] + ": cannot be written");
        }
#ifdef ATTNLAB_WITH_SWEEP_FIGURE
        if (a.count("figure")) {
            std::string error;
            if (!exportSweepFigure(result, a["figure"], figure, &error)) throw std::runtime_error(error);
        }
#endif
        if (is_json) {
            std::cout << sweepJsonText(result) << "\n";
        } else {
            printTable(result);
            for (const std::string& note : result.notes) std::cout << "note: " << note << "\n";
            if (a.count("figure")) std::cout << "figure: " << a["figure"] << "\n";
        }
        return 0;
    } catch (const Usage& e) {
        std::cerr << "attnlab-cli sweep: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::string what = e.what();
        std::cerr << "attnlab-cli sweep: " << what.substr(0, what.find('\n')) << "\n";
        return 1;
    }
}

}  // namespace attnlab::cli
