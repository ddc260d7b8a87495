#include "views/scene_layout_model.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace attnlab {

using namespace scene;
namespace fs = std::filesystem;

namespace {

RgbaImage blank() {
    RgbaImage im;
    im.width = im.height = kImageSize;
    im.pixels.assign(size_t(kImageSize * kImageSize * 4), 255);
    im.version = nextImageVersion();
    return im;
}

RgbaImage fromRgb(const std::vector<uint8_t>& rgb) {
    RgbaImage im = blank();
    if (rgb.size() != size_t(kImageSize * kImageSize * 3)) return im;
    for (int i = 0; i < kImageSize * kImageSize; ++i)
        for (int c = 0; c < 3; ++c) im.pixels[size_t(i) * 4 + c] = rgb[size_t(i) * 3 + c];
    return im;
}

}  // namespace

SceneLayoutModel::SceneLayoutModel() = default;
SceneLayoutModel::~SceneLayoutModel() = default;

Status SceneLayoutModel::loadModel(const std::string& dir) {
    auto model = SceneModel::load(dir);
    if (!model) return Status::fail(model.error());
    m_model = std::move(model.value());
    m_model_dir = dir;
    const std::vector<Token> keep = m_editor.tokens();
    const uint64_t noise = m_editor.noiseSeed();
    m_editor = SceneEditor(m_model.get());
    m_editor.setTokens(keep);
    m_editor.setNoiseSeed(noise);
    rerender();
    return Status::ok();
}

std::string SceneLayoutModel::findDefaultModelDir(const std::string& exe_dir) {
    auto ok = [](const fs::path& p) { return fs::exists(p / "config.json") && fs::exists(p / "model.safetensors"); };
    if (const char* env = std::getenv("ATTNLAB_SCENE_MODEL"); env && *env && ok(env)) return env;
    std::error_code ec;
    if (ok(fs::current_path(ec) / "assets/models/scene")) return (fs::current_path(ec) / "assets/models/scene").string();
    for (fs::path p = fs::absolute(exe_dir.empty() ? "." : exe_dir, ec); !p.empty(); p = p.parent_path()) {
        if (ok(p / "assets/models/scene")) return (p / "assets/models/scene").string();
        if (ok(p / "share/attnlab/models/scene")) return (p / "share/attnlab/models/scene").string();
        if (p == p.parent_path()) break;
    }
    return "";
}

void SceneLayoutModel::plan(uint64_t seed, float temperature) {
    if (!m_model) return;
    m_editor.plan(seed, temperature);
    m_plan_seed = seed;
    m_is_planned = true;
    m_edit_count = 0;
    m_selected = -1;
    m_step = stepCount();
    rerender();
}

void SceneLayoutModel::setTokens(const std::vector<Token>& tokens) {
    m_editor.setTokens(tokens);
    m_is_planned = false;
    m_edit_count = 0;
    m_selected = -1;
    m_step = stepCount();
    rerender();
}

void SceneLayoutModel::select(int token) {
    m_selected = (token >= 0 && token < stepCount()) ? token : -1;
    ++m_version;
}

int SceneLayoutModel::tokenAt(int x, int y) const {
    if (x < 0 || y < 0 || x >= kImageSize || y >= kImageSize || m_frame.raster.instance.empty()) return -1;
    const int id = m_frame.raster.instance[size_t(y * kImageSize + x)];
    if (id <= 0 || id > int(m_frame.source_index.size())) return -1;
    return m_frame.source_index[size_t(id - 1)];
}

void SceneLayoutModel::tokenBasePoint(const Token& t, double* x, double* y) {
    float fx = 0, fy = 0, r = 0;
    projectObject(fromToken(t), &fx, &fy, &r);
    *x = fx;
    *y = fy;
}

void SceneLayoutModel::binsNearPixel(double x, double y, int* qx, int* qy) {
    double best = 1e30;
    for (int by = 0; by < kPosBins; ++by)
        for (int bx = 0; bx < kPosBins; ++bx) {
            Token t;
            t.qx = bx;
            t.qy = by;
            double px = 0, py = 0;
            tokenBasePoint(t, &px, &py);
            const double d = (px - x) * (px - x) + (py - y) * (py - y);
            if (d < best) {
                best = d;
                *qx = bx;
                *qy = by;
            }
        }
}

bool SceneLayoutModel::moveSelected(int qx, int qy) {
    if (!m_editor.move(m_selected, qx, qy)) return false;
    ++m_edit_count;
    rerender();
    return true;
}

bool SceneLayoutModel::deleteSelected() {
    if (!m_editor.remove(m_selected)) return false;
    ++m_edit_count;
    m_selected = -1;
    m_step = std::min(m_step, stepCount());
    if (m_step == stepCount() + 1) m_step = stepCount();
    rerender();
    return true;
}

bool SceneLayoutModel::recolourSelected(int colour) {
    if (!m_editor.recolour(m_selected, colour)) return false;
    ++m_edit_count;
    rerender();
    return true;
}

void SceneLayoutModel::setStep(int step) {
    step = std::clamp(step, 0, stepCount());
    if (step == m_step) return;
    m_step = step;
    if (m_selected >= m_step) m_selected = -1;
    rerender();
}

void SceneLayoutModel::setNoiseSeed(uint64_t seed) {
    m_editor.setNoiseSeed(seed);
    rerender();
}

void SceneLayoutModel::setLayer(int layer) {
    m_layer = std::clamp(layer, 0, std::max(0, layerCount() - 1));
    ++m_version;
}

void SceneLayoutModel::setShowAmodal(bool amodal) {
    m_show_amodal = amodal;
    ++m_version;
}

void SceneLayoutModel::rerender() {
    m_frame = m_editor.render(true, m_step, bool(m_model));
    if (m_model) ++m_render_count;
    if (layerCount() > 0) m_layer = std::clamp(m_layer, 0, layerCount() - 1);
    ++m_version;
}

int SceneLayoutModel::selectedSlot() const {
    for (size_t i = 0; i < m_frame.source_index.size(); ++i)
        if (m_frame.source_index[i] == m_selected && m_selected >= 0) return int(i);
    return -1;
}

Rgba8 SceneLayoutModel::instanceColour(int slot) {
    static const Rgba8 kColours[9] = {{40, 40, 46, 255},   {230, 25, 75, 255},  {60, 180, 75, 255},
                                      {255, 225, 25, 255}, {0, 130, 200, 255},  {245, 130, 48, 255},
                                      {145, 30, 180, 255}, {70, 240, 240, 255}, {240, 50, 230, 255}};
    return kColours[std::clamp(slot, 0, 8)];
}

RgbaImage SceneLayoutModel::renderedImage() const { return fromRgb(m_frame.image); }
RgbaImage SceneLayoutModel::rasterImage() const { return fromRgb(m_frame.raster.image); }

RgbaImage SceneLayoutModel::maskImage() const {
    RgbaImage im = blank();
    const int P = kImageSize * kImageSize;
    if (m_frame.raster.instance.size() != size_t(P)) return im;
    for (int i = 0; i < P; ++i) {
        const Rgba8 c = instanceColour(m_show_amodal ? 0 : m_frame.raster.instance[size_t(i)]);
        im.pixels[size_t(i) * 4] = c.r;
        im.pixels[size_t(i) * 4 + 1] = c.g;
        im.pixels[size_t(i) * 4 + 2] = c.b;
    }
    if (m_show_amodal) {
        // Whole shapes, back to front, each blended at half strength: occluded parts show through.
        for (size_t k = 0; k < m_frame.raster.objects.size(); ++k) {
            const Rgba8 c = instanceColour(int(k) + 1);
            const std::vector<uint8_t>& a = m_frame.raster.objects[k].amodal;
            for (int i = 0; i < P; ++i) {
                if (!a[size_t(i)]) continue;
                uint8_t* p = &im.pixels[size_t(i) * 4];
                p[0] = uint8_t((p[0] + c.r) / 2);
                p[1] = uint8_t((p[1] + c.g) / 2);
                p[2] = uint8_t((p[2] + c.b) / 2);
            }
        }
    }
    im.version = nextImageVersion();
    return im;
}

RgbaImage SceneLayoutModel::depthImage() const {
    RgbaImage im = blank();
    const std::vector<float>& d = m_frame.raster.depth;
    if (d.size() != size_t(kImageSize * kImageSize)) return im;
    const auto [mn, mx] = std::minmax_element(d.begin(), d.end());
    for (size_t i = 0; i < d.size(); ++i) {
        const double t = (*mx - d[i]) / std::max(1e-6, double(*mx - *mn));
        const Rgba8 c = viridis(t);
        im.pixels[i * 4] = c.r;
        im.pixels[i * 4 + 1] = c.g;
        im.pixels[i * 4 + 2] = c.b;
    }
    return im;
}

std::vector<float> SceneLayoutModel::attention(int layer, int slot, int* res) const {
    *res = 0;
    if (layer < 0 || layer >= layerCount() || slot < 0 || slot > int(m_frame.tokens.size())) return {};
    const int r = m_frame.output.attention_res[size_t(layer)];
    const int T = 1 + kMaxObjects;
    std::vector<float> out(size_t(r * r));
    for (int px = 0; px < r * r; ++px) out[size_t(px)] = m_frame.output.attention[size_t(layer)][size_t(px) * T + slot];
    *res = r;
    return out;
}

RgbaImage SceneLayoutModel::attentionImage(int layer, int slot, float* max_value) const {
    int r = 0;
    const std::vector<float> a = attention(layer, slot, &r);
    RgbaImage im;
    *max_value = 0;
    if (r == 0) return im;
    im.width = im.height = r;
    im.pixels.assign(size_t(r * r * 4), 255);
    for (int i = 0; i < r * r; ++i) {
        const Rgba8 c = viridis(a[size_t(i)]);  // attention weights are in [0, 1]: one fixed scale
        im.pixels[size_t(i) * 4] = c.r;
        im.pixels[size_t(i) * 4 + 1] = c.g;
        im.pixels[size_t(i) * 4 + 2] = c.b;
        *max_value = std::max(*max_value, a[size_t(i)]);
    }
    im.version = nextImageVersion();
    return im;
}

std::vector<RgbaImage> SceneLayoutModel::stepThumbnails() const {
    std::vector<RgbaImage> out;
    const std::vector<Token>& all = tokens();
    for (size_t k = 1; k <= all.size(); ++k) {
        SceneEditor e(nullptr);
        e.setTokens(std::vector<Token>(all.begin(), all.begin() + long(k)));
        out.push_back(fromRgb(e.render(false, -1, false).raster.image));
    }
    return out;
}

std::string SceneLayoutModel::describeToken(int token) const {
    if (token < 0 || token >= stepCount()) return "";
    const Token& t = tokens()[size_t(token)];
    std::ostringstream s;
    s << colourName(t.colour) << " " << sizeName(t.size) << " " << materialName(t.material) << " "
      << shapeName(t.shape) << " @ (" << t.qx << ", " << t.qy << ")";
    return s.str();
}

std::string SceneLayoutModel::caption() const {
    std::ostringstream s;
    s << "GANformer2-inspired plan/execute renderer (attnlab scene model";
    if (!m_model_dir.empty()) s << ", " << fs::path(m_model_dir).filename().string();
    s << "); ";
    if (m_is_planned) s << "planner seed " << m_plan_seed;
    else s << "given layout";
    if (m_edit_count > 0) s << " + " << m_edit_count << (m_edit_count == 1 ? " edit" : " edits");
    s << ", " << m_step << "/" << stepCount() << " objects drawn, style noise seed " << noiseSeed();
    if (layerCount() > 0)
        s << "; attention layer " << m_layer + 1 << " of " << layerCount() << " (" << m_frame.output.attention_res[size_t(m_layer)] << " px)";
    return s.str();
}

}  // namespace attnlab
