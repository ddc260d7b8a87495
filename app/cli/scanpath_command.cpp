#include "app/cli/scanpath_command.h"

#include <cstdio>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "core/vision/oat/metrics.h"
#include "core/vision/oat/oat_model.h"
#include "core/vision/oat/scanpath_case.h"

namespace attnlab::cli {

namespace {

using Json = nlohmann::json;
using namespace attnlab::oat;

struct Usage : std::runtime_error {
    using std::runtime_error::runtime_error;
};

constexpr const char* kUsage =
    "  attnlab-cli scanpath [--model DIR] [--seed S] [--regime feature|conjunction|configuration]\n"
    "                       [--set-size N] [--absent] [--decode mbr|greedy|sample] [--samples K]\n"
    "                       [--subjects S] [--png FILE [--scale K]] [--trace] [--no-model]\n";

long long parseInt(const std::string& s, const std::string& what) {
    try {
        size_t used = 0;
        const long long v = std::stoll(s, &used);
        if (used != s.size()) throw std::invalid_argument(s);
        return v;
    } catch (const std::exception&) {
        throw Usage(what + ": '" + s + "' is not an integer");
    }
}

Json pathJson(const std::vector<int>& p) { return Json(p); }

}  // namespace

const char* scanpathUsage() { return kUsage; }

int runScanpath(int argc, char** argv) {
    try {
        const std::map<std::string, bool> allowed = {
            {"model", true}, {"seed", true},    {"regime", true}, {"set-size", true}, {"absent", false},
            {"decode", true}, {"samples", true}, {"subjects", true}, {"png", true},    {"scale", true},
            {"trace", false}, {"no-model", false}};
        std::map<std::string, std::string> a;
        for (int i = 2; i < argc; ++i) {
            std::string k = argv[i];
            if (k.rfind("--", 0) != 0) throw Usage("unexpected argument '" + k + "'");
            k = k.substr(2);
            auto it = allowed.find(k);
            if (it == allowed.end()) throw Usage("unknown option '--" + k + "'");
            if (it->second) {
                if (i + 1 >= argc) throw Usage("option '--" + k + "' needs a value");
                a[k] = argv[++i];
            } else {
                a[k] = "1";
            }
        }
        DisplaySpec spec;
        spec.seed = a.count("seed") ? static_cast<uint64_t>(parseInt(a["seed"], "--seed")) : 1;
        spec.set_size = a.count("set-size") ? static_cast<int>(parseInt(a["set-size"], "--set-size")) : 16;
        if (spec.set_size < 1 || spec.set_size > 64) throw Usage("--set-size must be 1..64");
        if (a.count("regime") && !parseRegime(a["regime"], &spec.regime))
            throw Usage("--regime must be feature, conjunction or configuration, got '" + a["regime"] + "'");
        spec.target_present = !a.count("absent");
        const int subjects = a.count("subjects") ? static_cast<int>(parseInt(a["subjects"], "--subjects")) : 10;
        if (subjects < 1 || subjects > 64) throw Usage("--subjects must be 1..64");
        const std::string decode = a.count("decode") ? a["decode"] : "mbr";
        if (decode != "mbr" && decode != "greedy" && decode != "sample")
            throw Usage("--decode must be mbr, greedy or sample, got '" + decode + "'");
        const int samples = a.count("samples") ? static_cast<int>(parseInt(a["samples"], "--samples")) : 16;
        if (samples < 1 || samples > 256) throw Usage("--samples must be 1..256");
        const int scale = a.count("scale") ? static_cast<int>(parseInt(a["scale"], "--scale")) : 2;
        if (scale < 1 || scale > 8) throw Usage("--scale must be 1..8");

        const ScanpathCase c = makeScanpathCase(spec, subjects);
        const Display& d = c.display;
        Json out;
        out["display"] = {{"seed", spec.seed},
                          {"regime", regimeName(spec.regime)},
                          {"set_size", spec.set_size},
                          {"target_present", spec.target_present},
                          {"target_index", d.target_index},
                          {"target", {{"shape", d.target.shape}, {"colour", d.target.colour}, {"size", d.target.size},
                                      {"orient_deg", d.target.orient_deg}}}};
        Json objects = Json::array();
        for (const SearchObject& o : d.objects)
            objects.push_back({{"x", o.x_px}, {"y", o.y_px}, {"w", o.w_px}, {"h", o.h_px}, {"shape", o.attrs.shape},
                               {"colour", o.attrs.colour}, {"size", o.attrs.size}, {"orient_deg", o.attrs.orient_deg},
                               {"salience", o.salience}});
        out["display"]["objects"] = objects;
        Json subj = Json::array();
        for (const Scanpath& s : c.subjects)
            subj.push_back({{"objects", objectString(s)}, {"found", s.target_found}, {"quit", s.quit}, {"rt_ms", s.rt_ms}});
        out["subjects"] = subj;
        Json base = Json::array();
        for (const NamedPath& b : c.baselines)
            base.push_back({{"name", b.name}, {"objects", b.objects},
                            {"sequence_score", meanSequenceScore(b.objects, c.subjects)}});
        out["baselines"] = base;

        std::vector<DrawnPath> drawn;
        if (!a.count("no-model")) {
            const std::string dir = a.count("model") ? a["model"] : "assets/models/oat";
            auto model = OatModel::load(dir);
            if (!model.isOk()) throw std::runtime_error(model.error());
            const OatInputs in = modelInputs(d);
            Result<std::vector<int>> path = decode == "greedy" ? (*model)->greedy(in)
                                            : decode == "mbr"  ? (*model)->mbr(in, samples, spec.seed)
                                                               : (*model)->sample(in, spec.seed);
            if (!path.isOk()) throw std::runtime_error(path.error());
            Json m = {{"decode", decode}, {"objects", *path}, {"sequence_score", meanSequenceScore(*path, c.subjects)},
                      {"found", d.target_index >= 0 && !path->empty() && path->back() == d.target_index}};
            if (decode == "mbr") m["samples"] = samples;
            if (a.count("trace")) {
                auto t = (*model)->trace(in, *path);
                if (!t.isOk()) throw std::runtime_error(t.error());
                Json steps = Json::array();
                const int n = t->objects;
                for (int s = 0; s < t->steps; ++s) {
                    std::vector<float> ptr(t->pointer.begin() + s * (n + 1), t->pointer.begin() + (s + 1) * (n + 1));
                    std::vector<float> att(t->attention.begin() + s * (n + 2), t->attention.begin() + (s + 1) * (n + 2));
                    steps.push_back({{"pointer", ptr}, {"attention", att}});
                }
                m["trace"] = {{"note", "pointer: softmax over objects then STOP; attention: last decoder layer's "
                                       "cross-attention (mean over heads) over objects, cue, STOP"},
                              {"steps", steps}};
            }
            out["model"] = m;
            drawn.push_back({*path, {255, 0, 255}, "model (" + decode + ")"});
        }
        if (a.count("png")) {
            DrawnPath s0{objectString(c.subjects[0]), {255, 255, 0}, "subject 1"};
            drawn.insert(drawn.begin(), s0);  // the model on top
            cv::Mat image;
            drawScanpaths(d, drawn, scale, &image);
            if (!cv::imwrite(a["png"], image)) throw std::runtime_error(a["png"] + ": cannot write the PNG");
            out["png"] = a["png"];
        }
        std::cout << out.dump(2) << "\n";
        return 0;
    } catch (const Usage& e) {
        std::cerr << "attnlab-cli scanpath: " << e.what() << "\nusage:\n" << kUsage;
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "attnlab-cli scanpath: " << e.what() << "\n";
        return 1;
    }
}

}  // namespace attnlab::cli
