// Simulated observers: determinism, the search-efficiency effects the simulator must show, and the
// baselines.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/vision/oat/baselines.h"
#include "core/vision/oat/eval.h"
#include "core/vision/oat/observer.h"

using namespace attnlab::oat;

TEST(OatObserver, DeterministicAndSubjectsDiffer) {
    const auto people = makeSubjects(10);
    ASSERT_EQ(people.size(), 10u);
    std::set<float> taus;
    for (const auto& p : people) taus.insert(p.tau);
    EXPECT_EQ(taus.size(), 10u);
    const Display d = generateDisplay(splitDisplaySpec(Split::Val, 3));
    const Scanpath a = simulateObserver(d, people[0], trialSeed(d, 0));
    const Scanpath b = simulateObserver(d, people[0], trialSeed(d, 0));
    EXPECT_EQ(objectString(a), objectString(b));
    EXPECT_EQ(a.rt_ms, b.rt_ms);
}

TEST(OatObserver, PathsAreWellFormed) {
    const auto people = makeSubjects(10);
    for (int i = 0; i < 100; ++i) {
        const Display d = generateDisplay(splitDisplaySpec(Split::Train, i));
        for (int s = 0; s < 10; ++s) {
            const Scanpath p = simulateObserver(d, people[s], trialSeed(d, s));
            ASSERT_FALSE(p.fixations.empty());
            EXPECT_LE(static_cast<int>(p.fixations.size()), people[s].max_fixations + 1);
            for (const auto& f : p.fixations) {
                ASSERT_GE(f.object, 0);
                ASSERT_LT(f.object, static_cast<int>(d.objects.size()));
                EXPECT_GT(f.duration_ms, 0);
            }
            // Found means the path ends on the target; absent trials are never found.
            EXPECT_EQ(p.target_found, d.target_index >= 0 && p.fixations.back().object == d.target_index);
        }
    }
}

// The sanity checks of reference/vision.md §4a.2, with generous bounds: the simulator is a
// stand-in, but it must show the classic effects in the right direction and rough size.
TEST(OatObserver, SanityStatisticsArePlausible) {
    const SanityStats s = computeSanity(12, 10);
    const int F = static_cast<int>(Regime::Feature), C = static_cast<int>(Regime::Conjunction),
              K = static_cast<int>(Regime::Configuration);
    EXPECT_LT(s.slope_present_ms[F], 12.0) << "feature search is efficient";
    EXPECT_GT(s.slope_present_ms[C], 8.0);
    EXPECT_LT(s.slope_present_ms[C], 60.0);
    EXPECT_GT(s.slope_present_ms[K], 15.0);
    EXPECT_LT(s.slope_present_ms[K], 100.0);
    EXPECT_GT(s.slope_present_ms[K], s.slope_present_ms[F]);
    for (int r = 0; r < kRegimeCount; ++r) {
        EXPECT_GT(s.slope_absent_ms[r], s.slope_present_ms[r]) << regimeName(static_cast<Regime>(r));
        EXPECT_LT(s.slope_absent_ms[r], 5.0 * std::max(5.0, s.slope_present_ms[r]));
    }
    EXPECT_GT(s.median_amplitude_deg, 2.0);
    EXPECT_LT(s.median_amplitude_deg, 7.0);
    EXPECT_GT(s.miss_rate, 0.0) << "some misses";
    EXPECT_LT(s.miss_rate, 0.2);
    EXPECT_GT(s.revisit_share, 0.0);
    EXPECT_LT(s.revisit_share, 0.5 * s.search_share);
    EXPECT_GT(s.refixation_share, 0.01);
    EXPECT_NEAR(s.search_share + s.refixation_share + s.revisit_share, 1.0, 1e-9);
}

TEST(OatBaselines, EndOnTargetAndNeverRepeat) {
    const auto people = makeSubjects(3);
    BaselineOptions opt;
    opt.length_pool = {3, 4, 5};
    opt.max_length = 10;
    for (int i = 0; i < 40; ++i) {
        const Display d = generateDisplay(splitDisplaySpec(Split::TestLayout, i));
        for (int b = 0; b < kBaselineCount; ++b) {
            const auto p = baselinePath(static_cast<Baseline>(b), d, opt, 5);
            ASSERT_FALSE(p.empty());
            EXPECT_EQ(std::set<int>(p.begin(), p.end()).size(), p.size()) << baselineName(static_cast<Baseline>(b));
            if (static_cast<Baseline>(b) != Baseline::Random) {
                const bool hit = std::find(p.begin(), p.end(), d.target_index) != p.end();
                if (hit) EXPECT_EQ(p.back(), d.target_index);
                else EXPECT_EQ(static_cast<int>(p.size()), std::min<int>(10, static_cast<int>(d.objects.size())));
            }
        }
        // Nearest-first really starts with the object closest to the centre.
        const auto near = baselinePath(Baseline::Nearest, d, opt, 0);
        for (const auto& o : d.objects)
            EXPECT_LE(std::hypot(d.objects[near[0]].x_px - 256, d.objects[near[0]].y_px - 160),
                      std::hypot(o.x_px - 256, o.y_px - 160) + 1e-3);
    }
}

TEST(OatEval, SubjectsScoreThemselvesPerfectlyAndBaselinesBelowCeilingOnDelta) {
    const auto people = makeSubjects(4);
    std::vector<Trial> trials;
    for (int i = 0; i < 30; ++i) trials.push_back(makeTrial(generateDisplay(splitDisplaySpec(Split::TestLayout, i)), people));
    // A "method" that replays subject 0 exactly: SS against subject 0 is 1, delta vs all is small.
    MethodPaths replay;
    replay.name = "replay";
    for (const auto& t : trials) replay.paths.push_back({objectString(t.subjects[0])});
    BaselineOptions opt;
    opt.max_length = 8;
    const auto results = evaluateMethods(trials, {replay, baselineMethod(Baseline::Random, trials, opt, 3)}, {200, 1});
    ASSERT_EQ(results.size(), 3u);  // + the ceiling
    EXPECT_EQ(results[2].name, "subjects (leave-one-out ceiling)");
    EXPECT_GT(results[0].ss.value, results[1].ss.value);
    EXPECT_LE(results[0].ss.lo, results[0].ss.value);
    EXPECT_GE(results[0].ss.hi, results[0].ss.value);
    EXPECT_LT(results[0].delta.value, results[1].delta.value);
    EXPECT_NE(resultsMarkdown("test_layout", results, 30).find("| replay |"), std::string::npos);
}
