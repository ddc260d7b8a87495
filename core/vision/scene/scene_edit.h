// A scene being planned, edited and rendered (issue 10): shared by `attnlab-cli scene`, the layout
// view and the re-render benchmark. Torch-free header.
//
// The layout is a list of tokens (attributes + quantised ground position). Every render rasterises
// it with renderLayout() (amodal/visible masks, depth) and runs the trained renderer on the
// back-to-front tokens, keeping the token->pixel attention of every modulation layer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/util/result.h"
#include "core/vision/scene/scene.h"
#include "core/vision/scene/scene_model.h"

namespace attnlab::scene {

struct SceneFrame {
    std::vector<Token> tokens;     // back to front, as rendered (tokens[i] <-> instance id i + 1)
    std::vector<int> source_index; // tokens[i] came from the editor's token source_index[i]
    RenderedScene raster;          // the rasteriser's image, masks, instance and depth maps
    RendererOutput output;         // the renderer's image (CHW in [-1, 1]) and attention maps
    std::vector<uint8_t> image;    // the renderer's image as RGB bytes (64 x 64 x 3)
    double raster_ms = 0, render_ms = 0;
};

// Named attribute values (shapeName() etc.) <-> indices; -1 when unknown.
int shapeIndex(const std::string& name);
int colourIndex(const std::string& name);
int sizeIndex(const std::string& name);
int materialIndex(const std::string& name);

// Layout JSON: {"objects": [{"shape": "cube", "colour": "red", "size": "large", "material": "metal",
// "qx": 0..31, "qy": 0..31}, ...]} (attributes by name or index; "u"/"v" in [0,1] instead of qx/qy).
// Errors name `source` (a file name) and the object and field at fault.
Result<std::vector<Token>> layoutFromJson(const std::string& text, const std::string& source);
std::string layoutToJson(const std::vector<Token>& tokens);

// Standard-normal style noise of (1 + kMaxObjects) x dim values from a seed (portable); seed 0 = zeros.
std::vector<float> styleNoise(uint64_t seed, int dim);

class SceneEditor {
public:
    explicit SceneEditor(const SceneModel* model) : m_model(model) {}

    const std::vector<Token>& tokens() const { return m_tokens; }
    void setTokens(std::vector<Token> tokens);  // clamped into range; at most kMaxObjects kept
    // Planner draft: the tokens in the order the planner emitted them (back to front).
    void plan(uint64_t seed, float temperature = 1.f);

    // Edits of token i (index into tokens()); false if i is out of range (nothing changes).
    bool move(int i, int qx, int qy);
    bool remove(int i);
    bool recolour(int i, int colour);
    bool add(const Token& t);

    void setNoiseSeed(uint64_t seed) { m_noise_seed = seed; }
    uint64_t noiseSeed() const { return m_noise_seed; }

    // Rasterise + render the current tokens (the first `prefix` tokens if prefix >= 0: the planner's
    // drawing order). Needs a model unless render_model is false.
    SceneFrame render(bool keep_attention = true, int prefix = -1, bool render_model = true) const;

private:
    const SceneModel* m_model = nullptr;
    std::vector<Token> m_tokens;
    uint64_t m_noise_seed = 0;
};

}  // namespace attnlab::scene
