// oat-data: writes the OAT training/evaluation splits, prints the simulator's sanity statistics, and
// scores predicted scanpaths against the simulated subjects with baselines and bootstrap intervals.
// OpenCV core+imgproc only, so it also builds with a plain g++ line (see recipe/train_gpu.sh).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/vision/oat/dataset.h"
#include "core/vision/oat/eval.h"
#include "core/vision/oat/npy_io.h"

using namespace attnlab::oat;

namespace {

int usage() {
    std::fprintf(stderr,
                 "usage:\n"
                 "  oat-data gen --split train|val|test_layout|test_target|test_large --count N --out DIR\n"
                 "               [--subjects 10] [--threads 1]\n"
                 "  oat-data sanity [--per-cell 20] [--subjects 10]\n"
                 "  oat-data eval --split NAME --count N [--pred FILE.npy --name LABEL] [--subjects 10]\n"
                 "               [--resamples 1000] [--json FILE] [--md FILE]\n"
                 "     FILE.npy: integer object indices [N, K, L] or [N, L], -1 after a path's end\n");
    return 2;
}

bool parseArgs(int argc, char** argv, std::map<std::string, std::string>* out) {
    for (int i = 2; i < argc; ++i) {
        std::string k = argv[i];
        if (k.rfind("--", 0) != 0 || i + 1 >= argc) {
            std::fprintf(stderr, "oat-data: expected --option value, got '%s'\n", k.c_str());
            return false;
        }
        (*out)[k.substr(2)] = argv[++i];
    }
    return true;
}

long long intArg(const std::map<std::string, std::string>& a, const char* key, long long fallback) {
    const auto it = a.find(key);
    if (it == a.end()) return fallback;
    char* end = nullptr;
    const long long v = std::strtoll(it->second.c_str(), &end, 10);
    if (!end || *end != '\0') {
        std::fprintf(stderr, "oat-data: --%s wants an integer, got '%s'\n", key, it->second.c_str());
        std::exit(2);
    }
    return v;
}

bool writeText(const std::string& path, const std::string& text) {
    std::ofstream f(path);
    f << text;
    if (!f) std::fprintf(stderr, "oat-data: %s: write failed\n", path.c_str());
    return static_cast<bool>(f);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    const std::string cmd = argv[1];
    std::map<std::string, std::string> a;
    if (!parseArgs(argc, argv, &a)) return 2;
    const int subjects = static_cast<int>(intArg(a, "subjects", 10));
    if (subjects < 1 || subjects > 64) {
        std::fprintf(stderr, "oat-data: --subjects must be 1..64\n");
        return 2;
    }

    if (cmd == "sanity") {
        const SanityStats s = computeSanity(static_cast<int>(intArg(a, "per-cell", 20)), subjects);
        std::printf("{\"trials\": %d, \"median_amplitude_deg\": %.3f, \"miss_rate\": %.4f, \"mean_length\": %.3f,\n"
                    " \"search_share\": %.4f, \"refixation_share\": %.4f, \"revisit_share\": %.4f,\n",
                    s.trials, s.median_amplitude_deg, s.miss_rate, s.mean_length, s.search_share, s.refixation_share,
                    s.revisit_share);
        for (int r = 0; r < kRegimeCount; ++r)
            std::printf(" \"%s\": {\"slope_present_ms_per_item\": %.2f, \"slope_absent_ms_per_item\": %.2f, "
                        "\"miss_rate\": %.4f,\n   \"fixations_present_8_16_24_32\": [%.2f, %.2f, %.2f, %.2f], "
                        "\"fixations_absent_8_16_24_32\": [%.2f, %.2f, %.2f, %.2f]}%s\n",
                        regimeName(static_cast<Regime>(r)), s.slope_present_ms[r], s.slope_absent_ms[r],
                        s.miss_rate_regime[r], s.mean_fixations[r][1][0], s.mean_fixations[r][1][1],
                        s.mean_fixations[r][1][2], s.mean_fixations[r][1][3], s.mean_fixations[r][0][0],
                        s.mean_fixations[r][0][1], s.mean_fixations[r][0][2], s.mean_fixations[r][0][3],
                        r + 1 < kRegimeCount ? "," : "}");
        return 0;
    }

    Split split = Split::Train;
    if (!parseSplit(a.count("split") ? a["split"] : "", &split)) {
        std::fprintf(stderr, "oat-data: --split must be train, val, test_layout, test_target or test_large\n");
        return 2;
    }
    const long long count = intArg(a, "count", -1);
    if (count <= 0) {
        std::fprintf(stderr, "oat-data: --count N (N > 0) is required\n");
        return 2;
    }

    if (cmd == "gen") {
        if (!a.count("out")) return usage();
        DatasetOptions opt;
        opt.split = split;
        opt.count = count;
        opt.subjects = subjects;
        opt.threads = static_cast<int>(intArg(a, "threads", 1));
        std::string error;
        if (!writeDataset(a["out"], opt, &error)) {
            std::fprintf(stderr, "oat-data: %s\n", error.c_str());
            return 1;
        }
        std::printf("oat-data: wrote %lld %s displays x %d subjects to %s\n", count, splitName(split), subjects,
                    a["out"].c_str());
        return 0;
    }

    if (cmd == "eval") {
        const auto people = makeSubjects(subjects);
        std::vector<Trial> trials;
        for (long long i = 0; i < count; ++i) trials.push_back(makeTrial(generateDisplay(splitDisplaySpec(split, i)), people));
        // Baseline lengths come from the validation split, never from the scored subjects.
        BaselineOptions bopt;
        {
            double absent_sum = 0;
            int absent_n = 0;
            for (int i = 0; i < 200; ++i) {
                const Trial t = makeTrial(generateDisplay(splitDisplaySpec(Split::Val, i)), people);
                for (const auto& s : t.subjects) {
                    bopt.length_pool.push_back(static_cast<int>(s.fixations.size()));
                    if (t.display.target_index < 0) absent_sum += s.fixations.size(), ++absent_n;
                }
            }
            bopt.max_length = absent_n > 0 ? static_cast<int>(std::lround(absent_sum / absent_n)) : 12;
        }
        std::vector<MethodPaths> methods;
        if (a.count("pred")) {
            std::vector<int64_t> shape, values;
            std::string error;
            if (!readNpyInts(a["pred"], &shape, &values, &error)) {
                std::fprintf(stderr, "oat-data: %s\n", error.c_str());
                return 1;
            }
            if (shape.size() == 2) shape.insert(shape.begin() + 1, 1);
            if (shape.size() != 3 || shape[0] != count) {
                std::fprintf(stderr, "oat-data: %s: want shape [%lld, K, L] (or [%lld, L]), got %zu dims with first %lld\n",
                             a["pred"].c_str(), count, count, shape.size(),
                             shape.empty() ? -1LL : static_cast<long long>(shape[0]));
                return 1;
            }
            MethodPaths m;
            m.name = a.count("name") ? a["name"] : "model";
            for (long long d = 0; d < count; ++d) {
                const int n = static_cast<int>(trials[d].display.objects.size());
                std::vector<std::vector<int>> per;
                for (int64_t k = 0; k < shape[1]; ++k) {
                    std::vector<int> p;
                    for (int64_t t = 0; t < shape[2]; ++t) {
                        const int64_t v = values[(d * shape[1] + k) * shape[2] + t];
                        if (v < 0) break;
                        if (v >= n) {
                            std::fprintf(stderr, "oat-data: %s: display %lld sample %lld step %lld points at object %lld "
                                                 "but the display has %d objects\n",
                                         a["pred"].c_str(), d, static_cast<long long>(k), static_cast<long long>(t),
                                         static_cast<long long>(v), n);
                            return 1;
                        }
                        p.push_back(static_cast<int>(v));
                    }
                    per.push_back(p);
                }
                m.paths.push_back(per);
            }
            methods.push_back(m);
        }
        for (int b = 0; b < kBaselineCount; ++b)
            methods.push_back(baselineMethod(static_cast<Baseline>(b), trials, bopt, 10));
        EvalOptions eopt;
        eopt.resamples = static_cast<int>(intArg(a, "resamples", 1000));
        const auto results = evaluateMethods(trials, methods, eopt);
        const std::string md = resultsMarkdown(splitName(split), results, static_cast<int>(count));
        std::printf("%s", md.c_str());
        if (a.count("json") && !writeText(a["json"], resultsJson(splitName(split), results, static_cast<int>(count))))
            return 1;
        if (a.count("md") && !writeText(a["md"], md)) return 1;
        return 0;
    }
    return usage();
}
