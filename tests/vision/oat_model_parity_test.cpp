// LibTorch OAT-lite against the PyTorch trainer's own outputs (parity.safetensors written by
// assets/models/oat/recipe/train.py with the F16-rounded weights). Uses the trained model in
// assets/models/oat when it is there, else the tiny locally trained fixture in tests/fixtures/oat_tiny.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "core/io/safetensors.h"
#include "core/vision/oat/oat_model.h"

using namespace attnlab;
using namespace attnlab::oat;

namespace {

std::vector<std::string> modelDirs() {
    std::vector<std::string> dirs{std::string(ATTNLAB_SOURCE_DIR) + "/tests/fixtures/oat_tiny"};
    const std::string assets = std::string(ATTNLAB_SOURCE_DIR) + "/assets/models/oat";
    if (std::ifstream(assets + "/model.safetensors") && std::ifstream(assets + "/parity.safetensors"))
        dirs.push_back(assets);
    return dirs;
}

template <class T>
const T* data(const SafetensorsFile& f, const char* name, std::vector<int64_t>* shape) {
    const TensorView* t = f.find(name);
    if (!t) return nullptr;
    *shape = t->shape;
    return static_cast<const T*>(t->data);
}

}  // namespace

TEST(OatModelParity, LogitsMatchTheTrainer) {
    for (const std::string& dir : modelDirs()) {
        SCOPED_TRACE(dir);
        auto model = OatModel::load(dir);
        ASSERT_TRUE(model.isOk()) << model.error();
        auto fixture = SafetensorsFile::open(dir + "/parity.safetensors");
        ASSERT_TRUE(fixture.isOk()) << fixture.error();
        const SafetensorsFile& f = **fixture;
        std::vector<int64_t> s_crops, s_cells, s_cue, s_valid, s_prev, s_logits, s_paths;
        const uint8_t* crops = data<uint8_t>(f, "crops", &s_crops);
        const int64_t* cells = data<int64_t>(f, "cells", &s_cells);
        const uint8_t* cue = data<uint8_t>(f, "cue", &s_cue);
        const uint8_t* valid = data<uint8_t>(f, "valid", &s_valid);
        const int64_t* prev = data<int64_t>(f, "prev", &s_prev);
        const float* logits = data<float>(f, "logits", &s_logits);
        const int64_t* paths = data<int64_t>(f, "greedy_paths", &s_paths);
        ASSERT_TRUE(crops && cells && cue && valid && prev && logits && paths);
        const int64_t B = s_crops[0], N = s_crops[1], T = s_prev[1];
        ASSERT_EQ(s_logits, (std::vector<int64_t>{B, T, N + 1}));
        double max_err = 0;
        for (int64_t b = 0; b < B; ++b) {
            int n = 0;
            while (n < N && valid[b * N + n]) ++n;
            OatInputs in;
            in.objects = n;
            in.crops.assign(crops + b * N * 3072, crops + (b * N + n) * 3072);
            in.cells.assign(cells + b * N, cells + b * N + n);
            in.cue.assign(cue + b * 3072, cue + (b + 1) * 3072);
            const std::vector<int64_t> p(prev + b * T, prev + (b + 1) * T);
            auto out = model->get()->logits(in, p);
            ASSERT_TRUE(out.isOk()) << out.error();
            ASSERT_EQ(out->size(), static_cast<size_t>(T * (n + 1)));
            for (int64_t t = 0; t < T; ++t) {
                const float* ref = logits + (b * T + t) * (N + 1);
                const float* got = out->data() + t * (n + 1);
                for (int j = 0; j < n; ++j) max_err = std::max(max_err, std::fabs(static_cast<double>(ref[j] - got[j])));
                // STOP: index N in the padded fixture, n here.
                if (t > 0) max_err = std::max(max_err, std::fabs(static_cast<double>(ref[N] - got[n])));
                else EXPECT_LT(got[n], -1e8) << "STOP is masked at the first step";
            }
            // Greedy decoding reproduces the trainer's greedy path.
            auto path = model->get()->greedy(in);
            ASSERT_TRUE(path.isOk()) << path.error();
            std::vector<int> want;
            for (int64_t t = 0; t < s_paths[1] && paths[b * s_paths[1] + t] >= 0; ++t)
                want.push_back(static_cast<int>(paths[b * s_paths[1] + t]));
            const size_t common = std::min(want.size(), path->size());
            EXPECT_EQ(std::vector<int>(path->begin(), path->begin() + common),
                      std::vector<int>(want.begin(), want.begin() + common));
        }
        EXPECT_LT(max_err, 2e-3) << "max |logit difference|";
    }
}

TEST(OatModelParity, BadInputsGiveMessages) {
    const std::string dir = std::string(ATTNLAB_SOURCE_DIR) + "/tests/fixtures/oat_tiny";
    auto missing = OatModel::load(dir + "/nope");
    ASSERT_FALSE(missing.isOk());
    EXPECT_NE(missing.error().find("config.json: cannot open"), std::string::npos) << missing.error();
    auto model = OatModel::load(dir);
    ASSERT_TRUE(model.isOk()) << model.error();
    OatInputs in;
    in.objects = 2;
    in.crops.assign(2 * 3072, 128);
    in.cells = {0, 700};
    in.cue.assign(3072, 128);
    auto bad_cell = model->get()->logits(in, {-1});
    ASSERT_FALSE(bad_cell.isOk());
    EXPECT_NE(bad_cell.error().find("grid cell 700"), std::string::npos);
    in.cells = {0, 1};
    auto bad_prev = model->get()->logits(in, {-1, 5});
    ASSERT_FALSE(bad_prev.isOk());
    auto ok = model->get()->logits(in, {-1, 1});
    ASSERT_TRUE(ok.isOk()) << ok.error();
    EXPECT_EQ(ok->size(), 2u * 3u);
}
