// Inference of the scene planner and renderer trained by assets/models/scene/recipe/train.py
// (issue 10: a GANformer2-inspired plan/execute renderer; not a reproduction of GANformer2).
// Torch-free header; LibTorch is used only in scene_model.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/util/result.h"
#include "core/vision/scene/scene.h"

namespace attnlab::scene {

struct RendererOutput {
    std::vector<float> image;                   // 3 x 64 x 64 (CHW), RGB in [-1, 1]
    std::vector<std::vector<float>> attention;  // per modulation layer: (res*res) x (1 + kMaxObjects)
    std::vector<int> attention_res;             // resolution of each attention map
};

class SceneModel {
public:
    // dir holds config.json and model.safetensors (weights F16 or F32, names "planner.*", "renderer.*").
    static Result<std::unique_ptr<SceneModel>> load(const std::string& dir);
    ~SceneModel();
    SceneModel(const SceneModel&) = delete;
    SceneModel& operator=(const SceneModel&) = delete;

    int vocab() const;
    int seqLen() const;
    int noiseDim() const;
    int bos() const;

    // Planner: logits (L x vocab, row-major) for a sub-token sequence that starts with BOS.
    // Illegal sub-tokens for each position carry -1e4 (the training-time slot mask).
    std::vector<float> plannerLogits(const std::vector<int64_t>& seq) const;

    // Samples a layout with the planner (objects back to front). Deterministic for a seed.
    std::vector<Token> samplePlanner(uint64_t seed, float temperature = 1.f) const;

    // Renderer: tokens back to front (at most kMaxObjects), the instance map of their rasterisation
    // (0 = background, i+1 = tokens[i]) and (1 + kMaxObjects) x noiseDim() style noise.
    RendererOutput render(const std::vector<Token>& tokens, const std::vector<uint8_t>& instance,
                          const std::vector<float>& noise, bool keep_attention = false) const;

    // Convenience: rasterise the tokens with renderLayout(), render with zero noise, return RGB bytes.
    std::vector<uint8_t> renderLayoutImage(const std::vector<Token>& tokens) const;

private:
    SceneModel();
    struct Impl;
    std::unique_ptr<Impl> m;
};

}  // namespace attnlab::scene
