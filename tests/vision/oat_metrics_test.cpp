// Scanpath metrics on hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>

#include "core/vision/oat/metrics.h"

using namespace attnlab::oat;

TEST(OatMetrics, SequenceScoreHandCases) {
    EXPECT_DOUBLE_EQ(sequenceScore({1, 2, 3}, {1, 2, 3}), 1.0);
    EXPECT_DOUBLE_EQ(sequenceScore({1, 2, 3}, {4, 5, 6}), 0.0);
    // LCS of 1 2 3 4 and 1 3 4 is 3; the longer string has 4.
    EXPECT_DOUBLE_EQ(sequenceScore({1, 2, 3, 4}, {1, 3, 4}), 0.75);
    // Order matters: 1 2 vs 2 1 share one symbol in order.
    EXPECT_DOUBLE_EQ(sequenceScore({1, 2}, {2, 1}), 0.5);
    EXPECT_DOUBLE_EQ(sequenceScore({}, {}), 1.0);
    EXPECT_DOUBLE_EQ(sequenceScore({1}, {}), 0.0);
}

TEST(OatMetrics, EditDistanceHandCases) {
    EXPECT_EQ(editDistance({1, 2, 3}, {1, 2, 3}), 0);
    EXPECT_EQ(editDistance({1, 2, 3}, {1, 3}), 1);        // one deletion
    EXPECT_EQ(editDistance({1, 2, 3}, {1, 4, 3}), 1);     // one substitution
    EXPECT_EQ(editDistance({1, 2}, {2, 1}), 2);
    EXPECT_EQ(editDistance({}, {7, 8, 9}), 3);
    EXPECT_EQ(editDistance({5, 6, 7, 8}, {6, 7, 8, 9}), 2);  // delete 5, insert 9
}

TEST(OatMetrics, MultiMatchIdenticalOppositeAndShifted) {
    const double diag = 100.0;
    const std::vector<Point2> a{{0, 0}, {10, 0}, {10, 10}};
    const MultiMatch same = multiMatch(a, a, diag);
    EXPECT_DOUBLE_EQ(same.vector, 1.0);
    EXPECT_DOUBLE_EQ(same.direction, 1.0);
    EXPECT_DOUBLE_EQ(same.length, 1.0);
    EXPECT_DOUBLE_EQ(same.position, 1.0);
    // One saccade each: (10,0) vs (-10,0) from the same start. |u-v| = 20 -> vector 1 - 20/200;
    // opposite directions -> 0; equal lengths -> 1; same start -> 1.
    const MultiMatch opp = multiMatch({{0, 0}, {10, 0}}, {{0, 0}, {-10, 0}}, diag);
    EXPECT_NEAR(opp.vector, 0.9, 1e-12);
    EXPECT_NEAR(opp.direction, 0.0, 1e-12);
    EXPECT_NEAR(opp.length, 1.0, 1e-12);
    EXPECT_NEAR(opp.position, 1.0, 1e-12);
    EXPECT_NEAR(opp.mean(), 0.725, 1e-12);
    // Same saccade shifted by (30, 40): only position changes, by 50/100.
    const MultiMatch shifted = multiMatch({{0, 0}, {10, 0}}, {{30, 40}, {40, 40}}, diag);
    EXPECT_NEAR(shifted.position, 0.5, 1e-12);
    EXPECT_NEAR(shifted.vector, 1.0, 1e-12);
    // A right angle: direction 1 - (pi/2)/pi = 0.5; length difference 10 - 20 -> 1 - 10/100.
    const MultiMatch right = multiMatch({{0, 0}, {10, 0}}, {{0, 0}, {0, 20}}, diag);
    EXPECT_NEAR(right.direction, 0.5, 1e-12);
    EXPECT_NEAR(right.length, 0.9, 1e-12);
    EXPECT_NEAR(right.vector, 1.0 - std::hypot(10.0, 20.0) / 200.0, 1e-12);
}

TEST(OatMetrics, MultiMatchAlignsRepeatedSaccades) {
    // b repeats a's first saccade: the alignment pairs both of b's first two with a's first, so every
    // pair has the same vector (vector similarity 1) while two of the three pairs start 10 px apart.
    const std::vector<Point2> a{{0, 0}, {10, 0}, {10, 10}};
    const std::vector<Point2> b{{0, 0}, {10, 0}, {20, 0}, {20, 10}};
    const MultiMatch ab = multiMatch(a, b, 100.0);
    EXPECT_NEAR(ab.vector, 1.0, 1e-12);
    EXPECT_NEAR(ab.direction, 1.0, 1e-12);
    EXPECT_NEAR(ab.position, 1.0 - (0.1 + 0.1) / 3.0, 1e-12);
    // No saccade at all on one side scores 0; on both sides 1.
    EXPECT_DOUBLE_EQ(multiMatch({{0, 0}}, a, 100.0).mean(), 0.0);
    EXPECT_DOUBLE_EQ(multiMatch({{0, 0}}, {{5, 5}}, 100.0).mean(), 1.0);
}

TEST(OatMetrics, BehaviourVectorHandCase) {
    // 3 3 5 3 7 7 7 (target 7): runs [3 3] [5] [3] [7 7 7]; search runs 3, 5, 7 = 3; revisit run 3 = 1;
    // refixations 1 + 2 = 3; length 7.
    const BehaviourVector b = behaviourOf({3, 3, 5, 3, 7, 7, 7}, 7);
    EXPECT_DOUBLE_EQ(b.length, 7.0);
    EXPECT_DOUBLE_EQ(b.search_share, 3.0 / 7.0);
    EXPECT_DOUBLE_EQ(b.revisit_share, 1.0 / 7.0);
    EXPECT_DOUBLE_EQ(b.refixation_share, 3.0 / 7.0);
    EXPECT_DOUBLE_EQ(b.found, 1.0);
    EXPECT_DOUBLE_EQ(b.search_share + b.revisit_share + b.refixation_share, 1.0);
    EXPECT_DOUBLE_EQ(behaviourOf({1, 2}, 7).found, 0.0);
    EXPECT_EQ(behaviourOf({1, 2}, -1).present_count, 0);
}

TEST(OatMetrics, MeanBehaviourAndDelta) {
    // Found over present trials only: one present found, one present missed, one absent.
    const BehaviourVector m = meanBehaviour({{1, 2}, {1, 1}, {4}}, {2, 9, -1});
    EXPECT_DOUBLE_EQ(m.found, 0.5);
    EXPECT_EQ(m.present_count, 2);
    EXPECT_DOUBLE_EQ(m.length, 5.0 / 3.0);
    EXPECT_DOUBLE_EQ(m.refixation_share, (0.0 + 0.5 + 0.0) / 3.0);
    BehaviourVector ref;
    ref.present_count = 1;
    ref.found = 0.8, ref.length = 4, ref.search_share = 0.8, ref.refixation_share = 0.1, ref.revisit_share = 0.1;
    BehaviourVector model = ref;
    EXPECT_DOUBLE_EQ(behaviourDelta(model, ref), 0.0);
    model.length = 6;  // +50% on one of five statistics
    EXPECT_NEAR(behaviourDelta(model, ref), 0.5 / 5.0, 1e-12);
    ref.revisit_share = 0;  // left out: a zero reference has no relative error
    model.revisit_share = 0.3;
    EXPECT_NEAR(behaviourDelta(model, ref), 0.5 / 4.0, 1e-12);
}

TEST(OatMetrics, BootstrapIntervalCoversTheMeanAndIsDeterministic) {
    std::vector<double> v;
    for (int i = 0; i < 200; ++i) v.push_back(i % 2 == 0 ? 1.0 : 0.0);
    const Interval a = bootstrapMean(v, 500, 3), b = bootstrapMean(v, 500, 3);
    EXPECT_DOUBLE_EQ(a.value, 0.5);
    EXPECT_LT(a.lo, 0.5);
    EXPECT_GT(a.hi, 0.5);
    // Binomial standard error sqrt(.25/200) = 0.035: the 95% half-width is about 0.07.
    EXPECT_NEAR(a.hi - a.lo, 2 * 1.96 * 0.0354, 0.03);
    EXPECT_DOUBLE_EQ(a.lo, b.lo);
    const Interval constant = bootstrapMean(std::vector<double>(50, 2.0), 100, 1);
    EXPECT_DOUBLE_EQ(constant.lo, 2.0);
    EXPECT_DOUBLE_EQ(constant.hi, 2.0);
}
