// The CUDA-graphed decode step with the fused kernels (RMSNorm, RoPE + KV write, SiLU*up) and the
// split-K attention against the eager decode path (label `cuda`), on the Llama-family parity models
// in bf16 (mistral's fixture has a sliding window, which decodes eagerly): the same greedy tokens
// while they agree, and per-step logits within a bf16 tolerance.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>

#include "core/engine/model.h"
#include "tests/engine/test_util.h"

using namespace attnlab;

namespace {

struct DecodeRun {
    std::vector<int32_t> ids;
    std::vector<float> logits;
};

DecodeRun generateWith(Model& model, const std::vector<int32_t>& prompt, const char* graph, const char* fused) {
    setenv("ATTNLAB_CUDA_GRAPH", graph, 1);
    setenv("ATTNLAB_FUSED_DECODE", fused, 1);
    GenerationSettings settings;
    settings.max_new_tokens = 16;
    settings.stop_at_eos = false;
    settings.keep_step_logits = true;
    auto gen = model.generate(prompt, settings);
    unsetenv("ATTNLAB_CUDA_GRAPH");
    unsetenv("ATTNLAB_FUSED_DECODE");
    EXPECT_TRUE(gen.isOk()) << gen.error();
    if (!gen.isOk()) return {};
    return {gen->output_ids, gen->step_logits};
}

class FusedDecodeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FusedDecodeTest, GraphedFusedStepMatchesEagerDecode) {
    const std::string dir = test::parityDir() + "/" + GetParam();
    auto golden = test::readJson(dir + "/golden.json");
    auto model = Model::open(dir, LoadOptions{"cuda", "bf16"});
    ASSERT_TRUE(model.isOk()) << model.error();
    const int64_t vocab = (*model)->config().vocab_size;
    auto prompt = golden.at("prompts").at(0).at("ids").get<std::vector<int32_t>>();
    DecodeRun eager = generateWith(**model, prompt, "0", "0");
    DecodeRun graphed = generateWith(**model, prompt, "1", "0");
    DecodeRun fused = generateWith(**model, prompt, "1", "1");
    ASSERT_EQ(eager.ids.size(), 16u);
    ASSERT_EQ(fused.ids.size(), 16u);
    auto compare = [&](const DecodeRun& a, const char* what) {
        size_t agree = 0;
        double max_diff = 0;
        while (agree < a.ids.size() && a.ids[agree] == eager.ids[agree]) ++agree;
        // Step s's logits depend only on tokens before s: compare while the histories agree.
        for (size_t s = 0; s < std::min(agree + 1, a.ids.size()); ++s)
            for (int64_t v = 0; v < vocab; ++v)
                max_diff = std::max(max_diff, double(std::fabs(a.logits[s * vocab + v] - eager.logits[s * vocab + v])));
        std::cout << "RESULT fused_decode family=" << GetParam() << " mode=" << what << " tokens_equal=" << agree
                  << "/16 max_logit_diff=" << max_diff << std::endl;
        EXPECT_GE(agree, 8u) << what;
        EXPECT_LE(max_diff, 0.25) << what;
    };
    compare(graphed, "graph_unfused");
    compare(fused, "graph_fused");
}

INSTANTIATE_TEST_SUITE_P(Families, FusedDecodeTest, ::testing::Values("llama3", "qwen2", "llama_linear"),
                         [](const auto& info) { return info.param; });

}  // namespace
