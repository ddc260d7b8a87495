#include "core/vision/scene/scene_edit.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

namespace attnlab::scene {

namespace {

int indexOf(const std::string& name, int n, const char* (*fn)(int)) {
    for (int i = 0; i < n; ++i)
        if (name == fn(i)) return i;
    return -1;
}

Token clampToken(Token t) {
    t.shape = std::clamp(t.shape, 0, kNumShapes - 1);
    t.colour = std::clamp(t.colour, 0, kNumColours - 1);
    t.size = std::clamp(t.size, 0, kNumSizes - 1);
    t.material = std::clamp(t.material, 0, kNumMaterials - 1);
    t.qx = std::clamp(t.qx, 0, kPosBins - 1);
    t.qy = std::clamp(t.qy, 0, kPosBins - 1);
    return t;
}

double msSince(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int shapeIndex(const std::string& n) { return indexOf(n, kNumShapes, shapeName); }
int colourIndex(const std::string& n) { return indexOf(n, kNumColours, colourName); }
int sizeIndex(const std::string& n) { return indexOf(n, kNumSizes, sizeName); }
int materialIndex(const std::string& n) { return indexOf(n, kNumMaterials, materialName); }

Result<std::vector<Token>> layoutFromJson(const std::string& text, const std::string& source) {
    using R = Result<std::vector<Token>>;
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const std::exception& e) {
        return R::fail(source + ": not valid JSON: " + e.what());
    }
    const nlohmann::json* objs = &j;
    if (j.is_object()) {
        if (!j.contains("objects")) return R::fail(source + ": no \"objects\" array");
        objs = &j["objects"];
    }
    if (!objs->is_array()) return R::fail(source + ": \"objects\" must be an array");
    if (objs->size() > size_t(kMaxObjects))
        return R::fail(source + ": " + std::to_string(objs->size()) + " objects; at most " +
                       std::to_string(kMaxObjects) + " are supported");
    std::vector<Token> out;
    int idx = 0;
    for (const auto& o : *objs) {
        const std::string where = source + ": object " + std::to_string(idx++);
        if (!o.is_object()) return R::fail(where + " is not an object");
        Token t;
        struct Field {
            const char* key;
            int n;
            int (*byName)(const std::string&);
            int* dst;
        } fields[] = {{"shape", kNumShapes, shapeIndex, &t.shape},
                      {"colour", kNumColours, colourIndex, &t.colour},
                      {"size", kNumSizes, sizeIndex, &t.size},
                      {"material", kNumMaterials, materialIndex, &t.material}};
        for (const Field& f : fields) {
            const char* key = f.key;
            if (!o.contains(key) && std::string(key) == "colour" && o.contains("color")) key = "color";
            if (!o.contains(key)) {
                *f.dst = 0;
                continue;
            }
            const auto& v = o[key];
            int val = -1;
            if (v.is_string()) val = f.byName(v.get<std::string>());
            else if (v.is_number_integer()) val = v.get<int>();
            if (val < 0 || val >= f.n)
                return R::fail(where + ": bad " + f.key + " " + v.dump() + " (a name or 0.." + std::to_string(f.n - 1) + ")");
            *f.dst = val;
        }
        auto pos = [&](const char* q, const char* uv, int* dst) -> std::string {
            if (o.contains(q)) {
                if (!o[q].is_number_integer() || o[q].get<int>() < 0 || o[q].get<int>() >= kPosBins)
                    return where + ": " + q + " must be an integer in 0.." + std::to_string(kPosBins - 1);
                *dst = o[q].get<int>();
            } else if (o.contains(uv)) {
                if (!o[uv].is_number() || o[uv].get<double>() < 0 || o[uv].get<double>() > 1)
                    return where + ": " + uv + " must be a number in [0, 1]";
                *dst = std::clamp(int(std::floor(o[uv].get<double>() * kPosBins)), 0, kPosBins - 1);
            } else {
                return where + ": needs " + q + " (or " + uv + ")";
            }
            return "";
        };
        if (std::string e = pos("qx", "u", &t.qx); !e.empty()) return R::fail(e);
        if (std::string e = pos("qy", "v", &t.qy); !e.empty()) return R::fail(e);
        out.push_back(t);
    }
    return out;
}

std::string layoutToJson(const std::vector<Token>& tokens) {
    nlohmann::json arr = nlohmann::json::array();
    for (const Token& t : tokens)
        arr.push_back({{"shape", shapeName(t.shape)}, {"colour", colourName(t.colour)}, {"size", sizeName(t.size)},
                       {"material", materialName(t.material)}, {"qx", t.qx}, {"qy", t.qy}});
    return nlohmann::json({{"objects", arr}}).dump(1);
}

std::vector<float> styleNoise(uint64_t seed, int dim) {
    std::vector<float> out(size_t(1 + kMaxObjects) * size_t(std::max(0, dim)), 0.f);
    if (seed == 0) return out;
    Rng rng(seed * 0x9E3779B97F4A7C15ull + 1);
    for (size_t i = 0; i < out.size(); i += 2) {  // Box-Muller pairs
        const double u1 = std::max(rng.uniform(), 1e-12), u2 = rng.uniform();
        const double r = std::sqrt(-2.0 * std::log(u1));
        out[i] = float(r * std::cos(2 * M_PI * u2));
        if (i + 1 < out.size()) out[i + 1] = float(r * std::sin(2 * M_PI * u2));
    }
    return out;
}

void SceneEditor::setTokens(std::vector<Token> tokens) {
    if (tokens.size() > size_t(kMaxObjects)) tokens.resize(kMaxObjects);
    for (Token& t : tokens) t = clampToken(t);
    m_tokens = std::move(tokens);
}

void SceneEditor::plan(uint64_t seed, float temperature) {
    if (!m_model) throw Error("scene editor: no model loaded to plan with");
    setTokens(m_model->samplePlanner(seed, temperature));
}

bool SceneEditor::move(int i, int qx, int qy) {
    if (i < 0 || i >= int(m_tokens.size())) return false;
    m_tokens[i].qx = std::clamp(qx, 0, kPosBins - 1);
    m_tokens[i].qy = std::clamp(qy, 0, kPosBins - 1);
    return true;
}

bool SceneEditor::remove(int i) {
    if (i < 0 || i >= int(m_tokens.size())) return false;
    m_tokens.erase(m_tokens.begin() + i);
    return true;
}

bool SceneEditor::recolour(int i, int colour) {
    if (i < 0 || i >= int(m_tokens.size()) || colour < 0 || colour >= kNumColours) return false;
    m_tokens[i].colour = colour;
    return true;
}

bool SceneEditor::add(const Token& t) {
    if (m_tokens.size() >= size_t(kMaxObjects)) return false;
    m_tokens.push_back(clampToken(t));
    return true;
}

SceneFrame SceneEditor::render(bool keep_attention, int prefix, bool render_model) const {
    const auto t0 = std::chrono::steady_clock::now();
    const size_t n = prefix < 0 ? m_tokens.size() : std::min(m_tokens.size(), size_t(prefix));
    Layout layout;
    for (size_t i = 0; i < n; ++i) layout.push_back(fromToken(m_tokens[i]));
    SceneFrame f;
    f.raster = renderLayout(layout);
    // renderLayout sorts back to front stably by v; recover which input token each object is.
    std::vector<bool> used(n, false);
    for (const RenderedObject& o : f.raster.objects) {
        const Token t = toToken(o.object);
        int src = -1;
        for (size_t i = 0; i < n && src < 0; ++i)
            if (!used[i] && m_tokens[i].qx == t.qx && m_tokens[i].qy == t.qy && m_tokens[i].shape == t.shape &&
                m_tokens[i].colour == t.colour && m_tokens[i].size == t.size && m_tokens[i].material == t.material)
                src = int(i);
        if (src >= 0) used[size_t(src)] = true;
        f.tokens.push_back(t);
        f.source_index.push_back(src);
    }
    f.raster_ms = msSince(t0);
    if (!render_model) return f;
    if (!m_model) throw Error("scene editor: no model loaded to render with");
    const auto t1 = std::chrono::steady_clock::now();
    f.output = m_model->render(f.tokens, f.raster.instance, styleNoise(m_noise_seed, m_model->noiseDim()), keep_attention);
    const int P = kImageSize * kImageSize;
    f.image.resize(size_t(P) * 3);
    for (int c = 0; c < 3; ++c)
        for (int k = 0; k < P; ++k)
            f.image[size_t(k) * 3 + c] =
                uint8_t(std::lround(std::clamp((f.output.image[size_t(c) * P + k] + 1.f) * 127.5f, 0.f, 255.f)));
    f.render_ms = msSince(t1);
    return f;
}

}  // namespace attnlab::scene
