// CUDA bf16 parity against the fp32 transformers goldens (label `cuda`). Bars from issue 2:
// argmax equal at >= 99% of positions, the first 8 greedy tokens equal; the largest logit
// difference is printed as a RESULT line and recorded in tests/bench/results/.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>

#include "core/engine/model.h"
#include "core/io/safetensors.h"
#include "tests/engine/test_util.h"

using namespace attnlab;

namespace {

class CudaParityTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaParityTest, Bf16AgreesWithTransformersFp32) {
    const std::string dir = test::parityDir() + "/" + GetParam();
    auto golden = test::readJson(dir + "/golden.json");
    auto logits_file = SafetensorsFile::open(dir + "/golden.safetensors");
    ASSERT_TRUE(logits_file.isOk()) << logits_file.error();
    auto model = Model::open(dir, LoadOptions{"cuda", "bf16"});
    ASSERT_TRUE(model.isOk()) << model.error();
    const int64_t vocab = (*model)->config().vocab_size;

    int64_t positions = 0, agree = 0;
    double max_diff = 0;
    int index = 0;
    for (const auto& prompt : golden.at("prompts")) {
        auto ids = prompt.at("ids").get<std::vector<int32_t>>();
        auto logits = (*model)->promptLogits(ids);
        ASSERT_TRUE(logits.isOk()) << logits.error();
        const float* ref = static_cast<const float*>((*logits_file)->find("logits." + std::to_string(index))->data);
        for (size_t t = 0; t < ids.size(); ++t) {
            const float* ours = logits->data() + t * vocab;
            const float* theirs = ref + t * vocab;
            int64_t a = 0, b = 0;
            for (int64_t v = 0; v < vocab; ++v) {
                max_diff = std::max(max_diff, double(std::fabs(ours[v] - theirs[v])));
                if (ours[v] > ours[a]) a = v;
                if (theirs[v] > theirs[b]) b = v;
            }
            agree += a == b;
            ++positions;
        }
        GenerationSettings settings;
        settings.max_new_tokens = 8;
        settings.stop_at_eos = false;
        auto gen = (*model)->generate(ids, settings);
        ASSERT_TRUE(gen.isOk()) << gen.error();
        auto expected = prompt.at("greedy_new_ids").get<std::vector<int32_t>>();
        expected.resize(8);
        EXPECT_EQ(gen->output_ids, expected) << "prompt " << index;
        ++index;
    }
    const double share = double(agree) / double(positions);
    std::cout << "RESULT cuda-bf16 family=" << GetParam() << " positions=" << positions << " argmax_agreement=" << share
              << " max_abs_logit_diff=" << max_diff << std::endl;
    EXPECT_GE(share, 0.99);
}

INSTANTIATE_TEST_SUITE_P(Families, CudaParityTest, ::testing::ValuesIn(test::parityFamilies()),
                         [](const auto& info) { return info.param; });

}  // namespace
