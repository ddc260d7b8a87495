// C++ (LibTorch) scene planner and renderer vs. fixtures written by assets/models/scene/recipe/train.py.
// The committed model in tests/vision/scene_tiny_model/ is a tiny architecture (--arch tiny) trained
// for a few seconds; it exists to check the port op for op, not the quality.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include "core/io/safetensors.h"
#include "core/vision/scene/scene_model.h"

using namespace attnlab;
using namespace attnlab::scene;

namespace {

const std::string kDir = std::string(ATTNLAB_SOURCE_DIR) + "/tests/vision/scene_tiny_model";
// The trained model, once its GPU run has been committed (then checked against its own fixtures).
const std::string kTrainedDir = std::string(ATTNLAB_SOURCE_DIR) + "/assets/models/scene";

std::vector<float> floats(const TensorView* t) {
    EXPECT_EQ(t->dtype, DType::F32) << t->name;
    const float* p = static_cast<const float*>(t->data);
    return std::vector<float>(p, p + t->numel());
}

std::vector<int64_t> ints(const TensorView* t) {
    EXPECT_EQ(t->dtype, DType::I64) << t->name;
    const int64_t* p = static_cast<const int64_t*>(t->data);
    return std::vector<int64_t>(p, p + t->numel());
}

}  // namespace

void checkPlannerParity(const std::string& kDir) {
    auto model = SceneModel::load(kDir);
    ASSERT_TRUE(model.isOk()) << model.error();
    auto fx = SafetensorsFile::open(kDir + "/fixtures.safetensors");
    ASSERT_TRUE(fx.isOk()) << fx.error();
    const TensorView* in = fx.value()->find("planner.input");
    const TensorView* out = fx.value()->find("planner.logits");
    ASSERT_TRUE(in && out);
    const std::vector<int64_t> seq = ints(in);
    const std::vector<float> expect = floats(out);
    const int64_t B = in->shape[0], L = in->shape[1], V = model.value()->vocab();
    for (int64_t b = 0; b < B; ++b) {
        std::vector<int64_t> s(seq.begin() + b * L, seq.begin() + (b + 1) * L);
        const std::vector<float> got = model.value()->plannerLogits(s);
        ASSERT_EQ(int64_t(got.size()), L * V);
        double max_err = 0;
        for (int64_t i = 0; i < L * V; ++i) max_err = std::max(max_err, double(std::fabs(got[i] - expect[b * L * V + i])));
        EXPECT_LT(max_err, 1e-3) << "sequence " << b;
    }
}

void checkRendererParity(const std::string& kDir) {
    auto model = SceneModel::load(kDir);
    ASSERT_TRUE(model.isOk()) << model.error();
    auto fx = SafetensorsFile::open(kDir + "/fixtures.safetensors");
    ASSERT_TRUE(fx.isOk()) << fx.error();
    const std::vector<int64_t> tok = ints(fx.value()->find("renderer.tokens"));
    const std::vector<int64_t> cnt = ints(fx.value()->find("renderer.counts"));
    const TensorView* inst = fx.value()->find("renderer.inst");
    const std::vector<float> noise = floats(fx.value()->find("renderer.noise"));
    const std::vector<float> image = floats(fx.value()->find("renderer.image"));
    const std::vector<float> attn = floats(fx.value()->find("renderer.attn_first"));
    const int P = kImageSize * kImageSize, T = 1 + kMaxObjects, dz = model.value()->noiseDim();
    for (int b = 0; b < 2; ++b) {
        std::vector<Token> tokens;
        for (int k = 0; k < cnt[b]; ++k) {
            const int64_t* t = &tok[(b * kMaxObjects + k) * 6];
            tokens.push_back(Token{int(t[0]), int(t[1]), int(t[2]), int(t[3]), int(t[4]), int(t[5])});
        }
        const uint8_t* ip = static_cast<const uint8_t*>(inst->data) + b * P;
        std::vector<uint8_t> inst_b(ip, ip + P);
        std::vector<float> nz(noise.begin() + b * T * dz, noise.begin() + (b + 1) * T * dz);
        const RendererOutput out = model.value()->render(tokens, inst_b, nz, true);
        ASSERT_EQ(out.image.size(), size_t(3 * P));
        double max_err = 0;
        for (int i = 0; i < 3 * P; ++i) max_err = std::max(max_err, double(std::fabs(out.image[i] - image[b * 3 * P + i])));
        EXPECT_LT(max_err, 1e-3) << "image " << b;
        ASSERT_FALSE(out.attention.empty());
        ASSERT_EQ(out.attention_res[0], 8);
        double attn_err = 0;
        for (int i = 0; i < 64 * T; ++i) attn_err = std::max(attn_err, double(std::fabs(out.attention[0][i] - attn[b * 64 * T + i])));
        EXPECT_LT(attn_err, 1e-4) << "attention " << b;
        // Attention rows are distributions over the tokens; absent slots get (almost) nothing.
        for (int px = 0; px < 64; ++px) {
            double row = 0;
            for (int t = 0; t < T; ++t) row += out.attention[0][px * T + t];
            EXPECT_NEAR(row, 1.0, 1e-4);
            for (int t = 1 + int(cnt[b]); t < T; ++t) EXPECT_LT(out.attention[0][px * T + t], 1e-6);
        }
    }
}

bool haveTrained() {
    std::ifstream f(kTrainedDir + "/fixtures.safetensors");
    return bool(f);
}

TEST(SceneModel, PlannerMatchesTrainingFramework) { checkPlannerParity(kDir); }
TEST(SceneModel, RendererAndAttentionMatchTrainingFramework) { checkRendererParity(kDir); }

TEST(SceneModel, TrainedModelMatchesItsFixtures) {
    if (!haveTrained()) GTEST_SKIP() << "no trained model in assets/models/scene yet";
    checkPlannerParity(kTrainedDir);
    checkRendererParity(kTrainedDir);
}

TEST(SceneModel, PlannerSamplesAreLegalAndDeterministic) {
    auto model = SceneModel::load(kDir);
    ASSERT_TRUE(model.isOk()) << model.error();
    for (uint64_t seed = 0; seed < 5; ++seed) {
        const std::vector<Token> a = model.value()->samplePlanner(seed), b = model.value()->samplePlanner(seed);
        ASSERT_EQ(a.size(), b.size());
        EXPECT_LE(a.size(), size_t(kMaxObjects));
        for (size_t i = 0; i < a.size(); ++i) {
            EXPECT_EQ(a[i].qx, b[i].qx);
            EXPECT_TRUE(a[i].shape >= 0 && a[i].shape < kNumShapes && a[i].colour >= 0 && a[i].colour < kNumColours);
            EXPECT_TRUE(a[i].qx >= 0 && a[i].qx < kPosBins && a[i].qy >= 0 && a[i].qy < kPosBins);
        }
    }
    const std::vector<uint8_t> rgb = model.value()->renderLayoutImage(model.value()->samplePlanner(3));
    EXPECT_EQ(rgb.size(), size_t(kImageSize * kImageSize * 3));
}

TEST(SceneModel, LoadErrorsNameTheFile) {
    auto missing = SceneModel::load(kDir + "/does-not-exist");
    ASSERT_FALSE(missing.isOk());
    EXPECT_NE(missing.error().find("config.json"), std::string::npos) << missing.error();
}
