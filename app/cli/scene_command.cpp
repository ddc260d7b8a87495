#include "app/cli/scene_command.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/vision/scene/scene_edit.h"
#include "core/vision/scene/scene_model.h"

namespace attnlab::cli {

namespace {

using Json = nlohmann::json;
using namespace attnlab::scene;
namespace fs = std::filesystem;

struct Usage : std::runtime_error {
    using std::runtime_error::runtime_error;
};

constexpr const char* kSceneUsage =
    "  attnlab-cli scene [--model DIR] (--seed S [--temperature T] | --layout FILE.json)\n"
    "                    [--move I:QX:QY] [--delete I] [--recolour I:COLOUR] [--noise-seed N]\n"
    "                    [--out DIR [--scale K]] [--save-layout FILE.json] [--repeat N]\n";

// Palette for instance maps (index 0 = background).
const uint8_t kPalette[9][3] = {{20, 20, 20},   {230, 25, 75},  {60, 180, 75},  {255, 225, 25}, {0, 130, 200},
                                {245, 130, 48}, {145, 30, 180}, {70, 240, 240}, {240, 50, 230}};

void writePng(const fs::path& path, const cv::Mat& rgb, int scale) {
    cv::Mat out;
    cv::resize(rgb, out, cv::Size(rgb.cols * scale, rgb.rows * scale), 0, 0, cv::INTER_NEAREST);
    if (out.channels() == 3) cv::cvtColor(out, out, cv::COLOR_RGB2BGR);
    if (!cv::imwrite(path.string(), out)) throw std::runtime_error("cannot write " + path.string());
}

cv::Mat rgbMat(const std::vector<uint8_t>& rgb) {
    return cv::Mat(kImageSize, kImageSize, CV_8UC3, const_cast<uint8_t*>(rgb.data())).clone();
}

cv::Mat maskMat(const std::vector<uint8_t>& m) {
    cv::Mat out(kImageSize, kImageSize, CV_8UC1);
    for (int i = 0; i < kImageSize * kImageSize; ++i) out.data[i] = m[size_t(i)] ? 255 : 0;
    return out;
}

int parseInt(const std::string& s, const std::string& what) {
    try {
        size_t used = 0;
        const long long v = std::stoll(s, &used);
        if (used != s.size()) throw std::invalid_argument(s);
        return int(v);
    } catch (const std::exception&) {
        throw Usage(what + ": '" + s + "' is not an integer");
    }
}

std::vector<std::string> split(const std::string& s, char c) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string part;
    while (std::getline(ss, part, c)) out.push_back(part);
    return out;
}

Json tokenJson(const Token& t) {
    return {{"shape", shapeName(t.shape)}, {"colour", colourName(t.colour)}, {"size", sizeName(t.size)},
            {"material", materialName(t.material)}, {"qx", t.qx}, {"qy", t.qy}};
}

int run(int argc, char** argv) {
    std::map<std::string, std::vector<std::string>> opt;
    const std::map<std::string, bool> allowed = {{"model", true},   {"seed", true},        {"temperature", true},
                                                 {"layout", true},  {"move", true},        {"delete", true},
                                                 {"recolour", true}, {"recolor", true},    {"noise-seed", true},
                                                 {"out", true},     {"scale", true},       {"save-layout", true},
                                                 {"repeat", true}};
    std::vector<std::pair<std::string, std::string>> edits;  // in command-line order
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::cout << "usage:\n" << kSceneUsage;
            return 0;
        }
        if (a.rfind("--", 0) != 0) throw Usage("unexpected argument '" + a + "'");
        std::string key = a.substr(2), value;
        if (auto eq = key.find('='); eq != std::string::npos) {
            value = key.substr(eq + 1);
            key = key.substr(0, eq);
        } else {
            if (!allowed.count(key)) throw Usage("unknown option '--" + key + "'");
            if (i + 1 >= argc) throw Usage("option '--" + key + "' needs a value");
            value = argv[++i];
        }
        if (!allowed.count(key)) throw Usage("unknown option '--" + key + "'");
        if (key == "recolor") key = "recolour";
        if (key == "move" || key == "delete" || key == "recolour") edits.emplace_back(key, value);
        else if (opt.count(key)) throw Usage("option '--" + key + "' given twice");
        opt[key].push_back(value);
    }
    auto get = [&](const std::string& k, const std::string& def = "") {
        return opt.count(k) ? opt[k].front() : def;
    };
    if (opt.count("seed") == opt.count("layout")) throw Usage("give exactly one of --seed S or --layout FILE.json");

    std::string model_dir = get("model");
    if (model_dir.empty()) {
        if (fs::exists("assets/models/scene/config.json")) model_dir = "assets/models/scene";
        else throw Usage("no --model DIR given and no assets/models/scene in the current folder");
    }
    auto model = SceneModel::load(model_dir);
    if (!model) throw std::runtime_error(model.error());
    SceneEditor editor(model.value().get());

    Json report;
    report["model"] = model_dir;
    if (opt.count("seed")) {
        const int seed = parseInt(get("seed"), "--seed");
        if (seed < 0) throw Usage("--seed must be >= 0");
        float temp = 1.f;
        if (opt.count("temperature")) {
            try {
                temp = std::stof(get("temperature"));
            } catch (const std::exception&) {
                throw Usage("--temperature: '" + get("temperature") + "' is not a number");
            }
            if (!(temp > 0.f)) throw Usage("--temperature must be > 0");
        }
        editor.plan(uint64_t(seed), temp);
        report["source"] = {{"planner_seed", seed}, {"temperature", temp}};
        report["planned"] = Json::array();
        for (const Token& t : editor.tokens()) report["planned"].push_back(tokenJson(t));
    } else {
        const std::string path = get("layout");
        std::ifstream f(path);
        if (!f) throw std::runtime_error("cannot open layout " + path);
        std::stringstream ss;
        ss << f.rdbuf();
        auto tokens = layoutFromJson(ss.str(), path);
        if (!tokens) throw std::runtime_error(tokens.error());
        editor.setTokens(tokens.value());
        report["source"] = {{"layout", path}};
    }
    Json applied = Json::array();
    for (const auto& [kind, value] : edits) {
        const std::vector<std::string> p = split(value, ':');
        const int n = int(editor.tokens().size());
        const int i = p.empty() ? -1 : parseInt(p[0], "--" + kind);
        if (i < 0 || i >= n)
            throw Usage("--" + kind + " " + value + ": object index out of range (the layout has " + std::to_string(n) + ")");
        if (kind == "move") {
            if (p.size() != 3) throw Usage("--move wants I:QX:QY");
            const int qx = parseInt(p[1], "--move"), qy = parseInt(p[2], "--move");
            if (qx < 0 || qx >= kPosBins || qy < 0 || qy >= kPosBins)
                throw Usage("--move " + value + ": QX and QY must be in 0.." + std::to_string(kPosBins - 1));
            editor.move(i, qx, qy);
        } else if (kind == "delete") {
            if (p.size() != 1) throw Usage("--delete wants I");
            editor.remove(i);
        } else {
            if (p.size() != 2) throw Usage("--recolour wants I:COLOUR");
            int c = colourIndex(p[1]);
            if (c < 0) c = std::all_of(p[1].begin(), p[1].end(), ::isdigit) && !p[1].empty() ? std::atoi(p[1].c_str()) : -1;
            if (c < 0 || c >= kNumColours) throw Usage("--recolour " + value + ": unknown colour '" + p[1] + "'");
            editor.recolour(i, c);
        }
        applied.push_back({{"edit", kind}, {"value", value}});
    }
    if (!applied.empty()) report["edits"] = applied;
    if (opt.count("noise-seed")) {
        const int ns = parseInt(get("noise-seed"), "--noise-seed");
        if (ns < 0) throw Usage("--noise-seed must be >= 0");
        editor.setNoiseSeed(uint64_t(ns));
    }
    report["noise_seed"] = editor.noiseSeed();

    const int repeat = opt.count("repeat") ? parseInt(get("repeat"), "--repeat") : 1;
    if (repeat < 1 || repeat > 1000) throw Usage("--repeat must be in 1..1000");
    SceneFrame frame;
    std::vector<double> ms;
    for (int r = 0; r < repeat; ++r) {
        frame = editor.render(true);
        ms.push_back(frame.raster_ms + frame.render_ms);
    }
    std::sort(ms.begin(), ms.end());
    report["timing_ms"] = {{"raster", frame.raster_ms}, {"render", frame.render_ms},
                           {"median_total", ms[ms.size() / 2]}, {"repeats", repeat}};
    report["objects"] = Json::array();
    for (size_t i = 0; i < frame.tokens.size(); ++i) {
        const RenderedObject& o = frame.raster.objects[i];
        Json j = tokenJson(frame.tokens[i]);
        j["depth_rank"] = o.depth_rank;
        j["depth"] = o.depth;
        j["box"] = {o.box[0], o.box[1], o.box[2], o.box[3]};
        j["amodal_pixels"] = o.amodal_pixels;
        j["visible_pixels"] = o.visible_pixels;
        report["objects"].push_back(j);
    }
    // Attention: for every layer, the share of the image's attention mass each token receives.
    Json layers = Json::array();
    const int T = 1 + kMaxObjects;
    for (size_t l = 0; l < frame.output.attention.size(); ++l) {
        const int res = frame.output.attention_res[l];
        std::vector<double> mass(size_t(1 + frame.tokens.size()), 0.0);
        for (int px = 0; px < res * res; ++px)
            for (size_t t = 0; t < mass.size(); ++t) mass[t] += frame.output.attention[l][size_t(px) * T + t];
        for (double& m : mass) m /= double(res * res);
        layers.push_back({{"layer", l}, {"resolution", res}, {"token_mass", mass}});
    }
    report["attention"] = {{"tokens", "background, then objects back to front"}, {"layers", layers}};

    if (opt.count("save-layout")) {
        std::ofstream f(get("save-layout"));
        if (!f) throw std::runtime_error("cannot write " + get("save-layout"));
        f << layoutToJson(frame.tokens) << "\n";
        report["saved_layout"] = get("save-layout");
    }
    if (opt.count("out")) {
        const fs::path out = get("out");
        std::error_code ec;
        fs::create_directories(out, ec);
        if (ec) throw std::runtime_error("cannot create " + out.string() + ": " + ec.message());
        const int scale = opt.count("scale") ? parseInt(get("scale"), "--scale") : 4;
        if (scale < 1 || scale > 16) throw Usage("--scale must be in 1..16");
        Json files = Json::array();
        auto put = [&](const std::string& name, const cv::Mat& m) {
            writePng(out / name, m, scale);
            files.push_back((out / name).string());
        };
        put("image.png", rgbMat(frame.image));
        put("raster.png", rgbMat(frame.raster.image));
        cv::Mat inst(kImageSize, kImageSize, CV_8UC3);
        for (int i = 0; i < kImageSize * kImageSize; ++i)
            for (int c = 0; c < 3; ++c) inst.data[i * 3 + c] = kPalette[frame.raster.instance[size_t(i)] % 9][c];
        put("instance.png", inst);
        for (size_t i = 0; i < frame.raster.objects.size(); ++i) {
            put("amodal_" + std::to_string(i) + ".png", maskMat(frame.raster.objects[i].amodal));
            put("visible_" + std::to_string(i) + ".png", maskMat(frame.raster.objects[i].visible));
        }
        // Depth: near = bright, over the range of the visible surfaces.
        const auto [mn, mx] = std::minmax_element(frame.raster.depth.begin(), frame.raster.depth.end());
        cv::Mat depth(kImageSize, kImageSize, CV_8UC1);
        for (int i = 0; i < kImageSize * kImageSize; ++i)
            depth.data[i] = uint8_t(std::lround(255.0 * (*mx - frame.raster.depth[size_t(i)]) / std::max(1e-6f, *mx - *mn)));
        put("depth.png", depth);
        // Attention: one PNG per layer, tiles left to right: background, then objects back to front.
        const int tiles = int(1 + frame.tokens.size());
        for (size_t l = 0; l < frame.output.attention.size(); ++l) {
            const int res = frame.output.attention_res[l];
            cv::Mat strip(kImageSize, kImageSize * tiles, CV_8UC1);
            for (int t = 0; t < tiles; ++t) {
                cv::Mat tile(res, res, CV_32FC1);
                for (int px = 0; px < res * res; ++px) tile.at<float>(px / res, px % res) = frame.output.attention[l][size_t(px) * T + t];
                cv::Mat up;
                cv::resize(tile, up, cv::Size(kImageSize, kImageSize), 0, 0, cv::INTER_NEAREST);
                up.convertTo(strip(cv::Rect(t * kImageSize, 0, kImageSize, kImageSize)), CV_8UC1, 255.0);
            }
            cv::Mat colour;
            cv::applyColorMap(strip, colour, cv::COLORMAP_VIRIDIS);
            cv::cvtColor(colour, colour, cv::COLOR_BGR2RGB);
            put("attention_layer" + std::to_string(l) + "_" + std::to_string(res) + "px.png", colour);
        }
        report["files"] = files;
    }
    std::cout << report.dump(1) << "\n";
    return 0;
}

}  // namespace

const char* sceneUsage() { return kSceneUsage; }

int runScene(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const Usage& e) {
        std::cerr << "attnlab-cli scene: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::string what = e.what();
        std::cerr << "attnlab-cli scene: " << what.substr(0, what.find('\n')) << "\n";
        return 1;
    }
}

}  // namespace attnlab::cli
