// Parity with Hugging Face transformers on small random-weight checkpoints of every supported
// family. Goldens: tests/parity/make_fixtures.py (transformers + tokenizers, run on the GPU machine).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/engine/model.h"
#include "core/io/safetensors.h"
#include "tests/engine/test_util.h"

using namespace attnlab;
using attnlab::test::parityDir;

namespace {

class ParityTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ParityTest, LogitsGreedyAndIdsMatchTransformers) {
    const std::string dir = parityDir() + "/" + GetParam();
    ASSERT_TRUE(std::filesystem::exists(dir + "/golden.json")) << "missing fixture " << dir;
    auto golden = test::readJson(dir + "/golden.json");
    auto logits_file = SafetensorsFile::open(dir + "/golden.safetensors");
    ASSERT_TRUE(logits_file.isOk()) << logits_file.error();

    auto model = Model::open(dir);
    ASSERT_TRUE(model.isOk()) << model.error();
    const int64_t vocab = (*model)->config().vocab_size;

    int index = 0;
    for (const auto& prompt : golden.at("prompts")) {
        SCOPED_TRACE("prompt " + std::to_string(index));
        std::vector<int32_t> expected_ids = prompt.at("ids").get<std::vector<int32_t>>();
        auto ids = (*model)->encode(prompt.at("text").get<std::string>(), true);
        ASSERT_TRUE(ids.isOk());
        EXPECT_EQ(*ids, expected_ids);

        auto logits = (*model)->promptLogits(expected_ids);
        ASSERT_TRUE(logits.isOk()) << logits.error();
        const TensorView* ref = (*logits_file)->find("logits." + std::to_string(index));
        ASSERT_NE(ref, nullptr);
        ASSERT_EQ(ref->dtype, DType::F32);
        ASSERT_EQ(ref->shape, (std::vector<int64_t>{static_cast<int64_t>(expected_ids.size()), vocab}));
        const float* r = static_cast<const float*>(ref->data);
        double max_diff = 0;
        for (size_t i = 0; i < logits->size(); ++i) max_diff = std::max(max_diff, double(std::fabs((*logits)[i] - r[i])));
        EXPECT_LT(max_diff, 1e-4) << GetParam() << " largest logit difference";

        GenerationSettings settings;
        auto expected_new = prompt.at("greedy_new_ids").get<std::vector<int32_t>>();
        settings.max_new_tokens = static_cast<int64_t>(expected_new.size());
        settings.stop_at_eos = false;
        auto gen = (*model)->generate(expected_ids, settings);
        ASSERT_TRUE(gen.isOk()) << gen.error();
        EXPECT_EQ(gen->output_ids, expected_new);
        ++index;
    }
    EXPECT_GT(index, 0);
}

// The static-shape decode step (what CUDA graphs replay on GPUs) must give the eager path's tokens.
TEST_P(ParityTest, StaticDecodeStepMatchesTransformersGreedy) {
    const std::string dir = parityDir() + "/" + GetParam();
    auto golden = test::readJson(dir + "/golden.json");
    auto model = Model::open(dir);
    ASSERT_TRUE(model.isOk()) << model.error();
    setenv("ATTNLAB_STATIC_DECODE", "1", 1);
    for (const auto& prompt : golden.at("prompts")) {
        GenerationSettings settings;
        auto expected = prompt.at("greedy_new_ids").get<std::vector<int32_t>>();
        settings.max_new_tokens = static_cast<int64_t>(expected.size());
        settings.stop_at_eos = false;
        auto gen = (*model)->generate(prompt.at("ids").get<std::vector<int32_t>>(), settings);
        ASSERT_TRUE(gen.isOk()) << gen.error();
        EXPECT_EQ(gen->output_ids, expected);
    }
    unsetenv("ATTNLAB_STATIC_DECODE");
}

INSTANTIATE_TEST_SUITE_P(Families, ParityTest, ::testing::ValuesIn(test::parityFamilies()),
                         [](const auto& info) { return info.param; });

}  // namespace
