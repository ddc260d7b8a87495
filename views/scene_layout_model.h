// View model of the scene layout view (issue 10): a planned or edited layout, its rasterisation
// (amodal/visible masks, depth), the trained renderer's image and token->pixel attention, the
// planner's drawing order, and the edits (move, delete, recolour) that re-render. Qt-free, so the
// fast tests drive it without a GUI. Header is torch-free (the model lives in core's scene library).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/util/result.h"
#include "core/vision/scene/scene_edit.h"
#include "views/colormap.h"

namespace attnlab {

class SceneLayoutModel {
public:
    SceneLayoutModel();
    ~SceneLayoutModel();

    // Loads config.json + model.safetensors from dir (see core/vision/scene/scene_model.h).
    Status loadModel(const std::string& dir);
    bool hasModel() const { return bool(m_model); }
    const std::string& modelDir() const { return m_model_dir; }
    // The first of: $ATTNLAB_SCENE_MODEL, then assets/models/scene (with a config.json) in the
    // current folder or any folder above exe_dir. "" when none is found.
    static std::string findDefaultModelDir(const std::string& exe_dir);

    // Layout sources. Both re-render and show every planned object (step = count).
    void plan(uint64_t seed, float temperature = 1.f);
    void setTokens(const std::vector<scene::Token>& tokens);
    const std::vector<scene::Token>& tokens() const { return m_editor.tokens(); }
    uint64_t planSeed() const { return m_plan_seed; }
    bool isPlanned() const { return m_is_planned; }

    // Selection: an index into tokens(), or -1.
    int selected() const { return m_selected; }
    void select(int token);
    // The token whose visible mask covers image pixel (x, y) of the 64x64 frame, else -1.
    int tokenAt(int x, int y) const;
    // The position bins whose projected floor point is nearest to image pixel (x, y).
    static void binsNearPixel(double x, double y, int* qx, int* qy);
    // Floor point of a token in image pixels (what a drag moves).
    static void tokenBasePoint(const scene::Token& t, double* x, double* y);

    // Edits of the selected token; false (nothing changes) without a selection. Each re-renders.
    bool moveSelected(int qx, int qy);
    bool deleteSelected();
    bool recolourSelected(int colour);

    // Planner drawing order: the first `step` tokens are drawn (0..count); the frame follows.
    int step() const { return m_step; }
    int stepCount() const { return int(tokens().size()); }
    void setStep(int step);

    void setNoiseSeed(uint64_t seed);
    uint64_t noiseSeed() const { return m_editor.noiseSeed(); }

    // Attention layer on display (0 .. layerCount()-1).
    int layer() const { return m_layer; }
    int layerCount() const { return int(m_frame.output.attention.size()); }
    void setLayer(int layer);
    bool showAmodal() const { return m_show_amodal; }
    void setShowAmodal(bool amodal);

    // The current frame: tokens back to front, raster, renderer output, timings.
    const scene::SceneFrame& frame() const { return m_frame; }
    // Display index (into frame().tokens) of the selected token, or -1.
    int selectedSlot() const;
    // Images of the frame, 64x64 RGBA.
    RgbaImage renderedImage() const;
    RgbaImage rasterImage() const;
    RgbaImage maskImage() const;   // visible: instance colours; amodal: every amodal outline + fill
    RgbaImage depthImage() const;  // near = bright
    // Attention of `layer` to token slot (0 = background, 1 + i = frame().tokens[i]): res x res values.
    std::vector<float> attention(int layer, int slot, int* res) const;
    RgbaImage attentionImage(int layer, int slot, float* max_value) const;
    // Rasteriser thumbnails of the planner's drawing order: image k shows the first k + 1 tokens.
    std::vector<RgbaImage> stepThumbnails() const;
    static Rgba8 instanceColour(int slot);  // slot 0 = background

    std::string describeToken(int token) const;  // "red large metal cube @ (12, 20)"
    std::string caption() const;
    uint64_t version() const { return m_version; }
    double lastRenderMs() const { return m_frame.raster_ms + m_frame.render_ms; }
    int renderCount() const { return m_render_count; }
    int editCount() const { return m_edit_count; }

private:
    void rerender();

    std::unique_ptr<scene::SceneModel> m_model;
    std::string m_model_dir;
    scene::SceneEditor m_editor{nullptr};
    scene::SceneFrame m_frame;
    uint64_t m_plan_seed = 0;
    bool m_is_planned = false;
    int m_selected = -1;
    int m_step = 0;
    int m_layer = 6;
    bool m_show_amodal = false;
    uint64_t m_version = 0;
    int m_render_count = 0;
    int m_edit_count = 0;
};

}  // namespace attnlab
