// Search displays: determinism, regimes, held-out combination, rendering and crops.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include <opencv2/core.hpp>

#include "core/vision/oat/display.h"

using namespace attnlab::oat;

TEST(OatDisplay, DeterministicFromSeedAndDifferentAcrossSeeds) {
    const DisplaySpec spec = splitDisplaySpec(Split::Train, 17);
    const Display a = generateDisplay(spec), b = generateDisplay(spec);
    ASSERT_EQ(a.objects.size(), b.objects.size());
    for (size_t i = 0; i < a.objects.size(); ++i) {
        EXPECT_EQ(a.objects[i].attrs, b.objects[i].attrs);
        EXPECT_EQ(a.objects[i].x_px, b.objects[i].x_px);
    }
    cv::Mat ia, ib;
    renderDisplay(a, &ia);
    renderDisplay(b, &ib);
    EXPECT_EQ(cv::norm(ia, ib, cv::NORM_L1), 0.0);
    const Display c = generateDisplay(splitDisplaySpec(Split::Train, 18));
    EXPECT_FALSE(c.objects.size() == a.objects.size() && c.objects[0].x_px == a.objects[0].x_px);
}

TEST(OatDisplay, RegimesHaveTheirDefiningStructure) {
    for (int i = 0; i < 60; ++i) {
        DisplaySpec s;
        s.seed = 500 + i;
        s.set_size = 24;
        s.target_present = true;
        s.regime = static_cast<Regime>(i % 3);
        const Display d = generateDisplay(s);
        ASSERT_EQ(static_cast<int>(d.objects.size()), 24);
        ASSERT_GE(d.target_index, 0);
        EXPECT_EQ(d.objects[d.target_index].attrs, d.target);
        int same_colour = 0, same_shape = 0;
        for (int k = 0; k < 24; ++k) {
            if (k == d.target_index) continue;
            EXPECT_FALSE(d.objects[k].attrs == d.target);
            same_colour += d.objects[k].attrs.colour == d.target.colour;
            same_shape += d.objects[k].attrs.shape == d.target.shape;
        }
        if (s.regime == Regime::Feature) EXPECT_EQ(same_colour, 0) << "feature: the target's colour is unique";
        if (s.regime == Regime::Conjunction) {
            EXPECT_GT(same_colour, 0);
            EXPECT_GT(same_shape, 0);
        }
        if (s.regime == Regime::Configuration) {
            EXPECT_EQ(d.target.shape, static_cast<int>(Shape::Tee));
            EXPECT_EQ(same_colour, 23);
        }
    }
}

TEST(OatDisplay, AbsentTrialsHaveNoTargetAndObjectsDoNotOverlap) {
    DisplaySpec s;
    s.seed = 99;
    s.set_size = 48;
    s.target_present = false;
    s.regime = Regime::Conjunction;
    const Display d = generateDisplay(s);
    EXPECT_EQ(d.target_index, -1);
    for (const auto& o : d.objects) EXPECT_FALSE(o.attrs == d.target);
    for (size_t i = 0; i < d.objects.size(); ++i)
        for (size_t j = i + 1; j < d.objects.size(); ++j)
            EXPECT_GE(std::hypot(d.objects[i].x_px - d.objects[j].x_px, d.objects[i].y_px - d.objects[j].y_px), 30.0f);
    for (const auto& o : d.objects) {
        EXPECT_TRUE(o.x_px > 0 && o.x_px < kCanvasWidth && o.y_px > 0 && o.y_px < kCanvasHeight);
        EXPECT_EQ(o.cell_col, static_cast<int>(o.x_px) / kCellPx);
    }
}

TEST(OatDisplay, HeldOutCombinationOnlyInItsSplit) {
    for (int i = 0; i < 300; ++i) {
        const Display d = generateDisplay(splitDisplaySpec(Split::Train, i));
        for (const auto& o : d.objects)
            EXPECT_FALSE(o.attrs.colour == kHeldoutColour && o.attrs.shape == kHeldoutShape) << "train display " << i;
        EXPECT_FALSE(d.target.colour == kHeldoutColour && d.target.shape == kHeldoutShape);
    }
    for (int i = 0; i < 50; ++i) {
        const Display d = generateDisplay(splitDisplaySpec(Split::TestTarget, i));
        EXPECT_EQ(d.target.colour, kHeldoutColour);
        EXPECT_EQ(d.target.shape, kHeldoutShape);
        EXPECT_EQ(generateDisplay(splitDisplaySpec(Split::TestLarge, i)).objects.size(), 48u);
    }
    // Split seed ranges never meet.
    EXPECT_NE(splitDisplaySpec(Split::Train, 0).seed, splitDisplaySpec(Split::TestLayout, 0).seed);
    EXPECT_THROW(generateDisplay(DisplaySpec{1, 0, Regime::Feature, true, false}), std::invalid_argument);
}

TEST(OatDisplay, CropsShowTheObjectColourAndCueMatchesTarget) {
    DisplaySpec s;
    s.seed = 4242;
    s.set_size = 8;
    s.regime = Regime::Feature;
    const Display d = generateDisplay(s);
    cv::Mat image, crop, cue;
    renderDisplay(d, &image);
    ASSERT_EQ(image.cols, kCanvasWidth);
    ASSERT_EQ(image.rows, kCanvasHeight);
    for (const auto& o : d.objects) {
        cropObject(image, o, &crop);
        ASSERT_EQ(crop.rows, kCropPx);
        uint8_t bgr[3];
        colourBgr(o.attrs.colour, bgr);
        // The crop centre is the object's colour (within anti-aliasing and resampling).
        const cv::Vec3b c = crop.at<cv::Vec3b>(kCropPx / 2, kCropPx / 2);
        if (o.attrs.shape == static_cast<int>(Shape::Ell)) continue;  // an L has no ink at its centre
        for (int ch = 0; ch < 3; ++ch) EXPECT_NEAR(c[ch], bgr[ch], 40) << "object shape " << o.attrs.shape;
    }
    renderCue(d.target, &cue);
    cropObject(image, d.objects[d.target_index], &crop);
    // Same object drawn alone vs among distractors: nearly identical crops (neighbours are >= 40 px away).
    EXPECT_LT(cv::norm(cue, crop, cv::NORM_L1) / (kCropPx * kCropPx * 3), 12.0);
}

TEST(OatDisplay, SimilaritiesAreOrdered) {
    ObjectAttrs t{static_cast<int>(Shape::Bar), 2, 1, 30};
    EXPECT_FLOAT_EQ(targetSimilarity(t, t), 1.0f);
    ObjectAttrs other_colour = t, other_orient = t, other_size = t;
    other_colour.colour = 6;
    other_orient.orient_deg = 120;
    other_size.size = 0;
    EXPECT_LT(targetSimilarity(other_colour, t), targetSimilarity(other_orient, t));
    EXPECT_LT(targetSimilarity(other_orient, t), targetSimilarity(other_size, t));
    EXPECT_NEAR(orientSimilarity(static_cast<int>(Shape::Bar), 0, 180), 1.0f, 1e-6);
    EXPECT_NEAR(orientSimilarity(static_cast<int>(Shape::Tee), 0, 180), 0.0f, 1e-6);
    EXPECT_FLOAT_EQ(shapeSimilarity(2, 5), shapeSimilarity(5, 2));
}
