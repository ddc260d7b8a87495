#include "core/engine/sampler.h"

#include <gtest/gtest.h>

#include <map>

using attnlab::Sampler;
using attnlab::SamplingSettings;

TEST(SamplerTest, GreedyTakesTheLowestIdOnTies) {
    Sampler s(SamplingSettings{});
    std::vector<float> logits{0.5f, 2.0f, 2.0f, -1.0f};
    EXPECT_EQ(s.next(logits.data(), 4), 1);
}

TEST(SamplerTest, SameSeedSameSequenceAndTopKRestricts) {
    SamplingSettings settings;
    settings.is_greedy = false;
    settings.top_k = 2;
    settings.seed = 42;
    std::vector<float> logits{3.0f, 2.9f, 2.8f, 2.7f};
    Sampler a(settings), b(settings);
    std::map<int32_t, int> counts;
    for (int i = 0; i < 2000; ++i) {
        int32_t x = a.next(logits.data(), 4);
        EXPECT_EQ(x, b.next(logits.data(), 4));
        counts[x]++;
    }
    EXPECT_EQ(counts.size(), 2u);  // only the two best ids ever appear
    EXPECT_GT(counts[0], counts[1]);
}

TEST(SamplerTest, TopPKeepsTheSmallestPrefixReachingP) {
    SamplingSettings settings;
    settings.is_greedy = false;
    settings.top_p = 0.5;
    settings.seed = 7;
    // Probabilities ~ [0.64, 0.24, 0.09, 0.03]: top_p = 0.5 keeps only id 0.
    std::vector<float> logits{2.0f, 1.0f, 0.0f, -1.0f};
    Sampler s(settings);
    for (int i = 0; i < 200; ++i) EXPECT_EQ(s.next(logits.data(), 4), 0);
}

TEST(SamplerTest, LowTemperatureApproachesGreedy) {
    SamplingSettings settings;
    settings.is_greedy = false;
    settings.temperature = 1e-3;
    settings.seed = 1;
    std::vector<float> logits{0.0f, 1.0f, 0.99f};
    Sampler s(settings);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(s.next(logits.data(), 3), 1);
}
