// CUDA bf16 parity (label `cuda`). Bars from issue 2: argmax equal at >= 99% of positions, the
// first 8 greedy tokens equal, both against transformers running the same checkpoint in bf16 on
// the same GPU (golden_bf16.*, tests/parity/make_bf16_goldens.py). Agreement with the fp32 goldens
// and the largest logit differences are printed as RESULT lines, recorded in tests/bench/results/.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <iostream>

#include "core/engine/model.h"
#include "core/io/safetensors.h"
#include "tests/engine/test_util.h"

using namespace attnlab;

namespace {

class CudaParityTest : public ::testing::TestWithParam<std::string> {};

// Share of positions where both logit tables have the same argmax, and the largest difference.
std::pair<double, double> compareLogits(const std::vector<float>& ours, const float* theirs, int64_t rows,
                                        int64_t vocab) {
    int64_t agree = 0;
    double max_diff = 0;
    for (int64_t t = 0; t < rows; ++t) {
        const float* a = ours.data() + t * vocab;
        const float* b = theirs + t * vocab;
        int64_t ia = 0, ib = 0;
        for (int64_t v = 0; v < vocab; ++v) {
            max_diff = std::max(max_diff, double(std::fabs(a[v] - b[v])));
            if (a[v] > a[ia]) ia = v;
            if (b[v] > b[ib]) ib = v;
        }
        agree += ia == ib;
    }
    return {double(agree), max_diff};
}

TEST_P(CudaParityTest, Bf16AgreesWithTransformersBf16) {
    const std::string dir = test::parityDir() + "/" + GetParam();
    auto golden = test::readJson(dir + "/golden.json");
    ASSERT_TRUE(std::filesystem::exists(dir + "/golden_bf16.json"))
        << "run tests/parity/make_bf16_goldens.py on the GPU machine first";
    auto golden_bf16 = test::readJson(dir + "/golden_bf16.json");
    auto fp32_file = SafetensorsFile::open(dir + "/golden.safetensors");
    auto bf16_file = SafetensorsFile::open(dir + "/golden_bf16.safetensors");
    ASSERT_TRUE(fp32_file.isOk() && bf16_file.isOk());
    auto model = Model::open(dir, LoadOptions{"cuda", "bf16"});
    ASSERT_TRUE(model.isOk()) << model.error();
    const int64_t vocab = (*model)->config().vocab_size;

    int64_t positions = 0;
    double agree_bf16 = 0, agree_fp32 = 0, diff_bf16 = 0, diff_fp32 = 0;
    for (size_t i = 0; i < golden.at("prompts").size(); ++i) {
        auto ids = golden.at("prompts").at(i).at("ids").get<std::vector<int32_t>>();
        auto logits = (*model)->promptLogits(ids);
        ASSERT_TRUE(logits.isOk()) << logits.error();
        const std::string name = "logits." + std::to_string(i);
        const auto rows = static_cast<int64_t>(ids.size());
        auto [a16, d16] = compareLogits(*logits, static_cast<const float*>((*bf16_file)->find(name)->data), rows, vocab);
        auto [a32, d32] = compareLogits(*logits, static_cast<const float*>((*fp32_file)->find(name)->data), rows, vocab);
        agree_bf16 += a16;
        agree_fp32 += a32;
        diff_bf16 = std::max(diff_bf16, d16);
        diff_fp32 = std::max(diff_fp32, d32);
        positions += rows;

        GenerationSettings settings;
        settings.max_new_tokens = 8;
        settings.stop_at_eos = false;
        auto gen = (*model)->generate(ids, settings);
        ASSERT_TRUE(gen.isOk()) << gen.error();
        EXPECT_EQ(gen->output_ids, golden_bf16.at("prompts").at(i).at("greedy_new_ids").get<std::vector<int32_t>>())
            << "prompt " << i;
    }
    std::cout << "RESULT cuda-bf16 family=" << GetParam() << " positions=" << positions
              << " argmax_vs_hf_bf16=" << agree_bf16 / positions << " max_abs_diff_vs_hf_bf16=" << diff_bf16
              << " argmax_vs_hf_fp32=" << agree_fp32 / positions << " max_abs_diff_vs_hf_fp32=" << diff_fp32
              << " hf_bf16_vs_hf_fp32=" << golden_bf16.at("hf_bf16_vs_fp32_argmax_agreement").get<double>()
              << std::endl;
    EXPECT_GE(agree_bf16 / positions, 0.99);
}

INSTANTIATE_TEST_SUITE_P(Families, CudaParityTest, ::testing::ValuesIn(test::parityFamilies()),
                         [](const auto& info) { return info.param; });

}  // namespace
