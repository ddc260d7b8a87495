// The bundled demo model in attnlab's engine equals transformers (fp32, CPU): issue 3's bar.
// Goldens: tests/parity/make_demo_goldens.py (transformers 5.17, CPU fp32, eager attention).
#include <gtest/gtest.h>

#include <cmath>

#include "core/engine/model.h"
#include "tests/engine/test_util.h"

using namespace attnlab;

TEST(DemoModelTest, GreedyAndLogitsEqualTransformers) {
    auto golden = test::readJson(test::sourceDir() + "/tests/fixtures/demo_golden.json");
    auto model = Model::open(test::sourceDir() + "/assets/models/attnlab-demo");
    ASSERT_TRUE(model.isOk()) << model.error();
    for (const auto& c : golden.at("cases")) {
        auto ids = c.at("ids").get<std::vector<int32_t>>();
        if (c.at("text").is_string()) {
            auto encoded = (*model)->encode(c.at("text").get<std::string>(), true);
            ASSERT_TRUE(encoded.isOk());
            EXPECT_EQ(*encoded, ids);
        }
        auto logits = (*model)->promptLogits(ids);
        ASSERT_TRUE(logits.isOk()) << logits.error();
        const auto expected = c.at("last_logits").get<std::vector<float>>();
        const size_t vocab = expected.size();
        ASSERT_EQ(logits->size(), ids.size() * vocab);
        double max_diff = 0;
        for (size_t v = 0; v < vocab; ++v)
            max_diff = std::max(max_diff, double(std::fabs((*logits)[(ids.size() - 1) * vocab + v] - expected[v])));
        EXPECT_LT(max_diff, 1e-4) << ids.size() << "-token prompt";

        GenerationSettings settings;
        settings.max_new_tokens = 16;
        settings.stop_at_eos = false;
        auto gen = (*model)->generate(ids, settings);
        ASSERT_TRUE(gen.isOk()) << gen.error();
        EXPECT_EQ(gen->output_ids, c.at("greedy_new_ids").get<std::vector<int32_t>>()) << ids.size() << "-token prompt";
    }
}
