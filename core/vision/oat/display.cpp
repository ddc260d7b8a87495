#include "core/vision/oat/display.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "core/vision/oat/rng.h"

namespace attnlab::oat {

namespace {

constexpr float kPi = 3.14159265358979f;

bool hasOrientation(int shape) {
    return shape == static_cast<int>(Shape::Tee) || shape == static_cast<int>(Shape::Ell) ||
           shape == static_cast<int>(Shape::Bar);
}

int randomOrientation(Rng& rng, int shape) {
    if (shape == static_cast<int>(Shape::Bar)) return 15 * rng.index(12);  // 0..165
    if (hasOrientation(shape)) return 15 * rng.index(24);                 // 0..345
    return 0;
}

// Hand-set shape similarities (symmetric): round vs angular, T vs L vs cross share strokes.
const float kShapeSim[kShapeCount][kShapeCount] = {
    // circ  sq    tri   diam  cross tee   ell   bar
    {1.0f, 0.5f, 0.3f, 0.4f, 0.2f, 0.1f, 0.1f, 0.1f},  // circle
    {0.5f, 1.0f, 0.4f, 0.6f, 0.2f, 0.2f, 0.2f, 0.2f},  // square
    {0.3f, 0.4f, 1.0f, 0.5f, 0.2f, 0.2f, 0.2f, 0.2f},  // triangle
    {0.4f, 0.6f, 0.5f, 1.0f, 0.3f, 0.1f, 0.1f, 0.1f},  // diamond
    {0.2f, 0.2f, 0.2f, 0.3f, 1.0f, 0.5f, 0.4f, 0.3f},  // cross
    {0.1f, 0.2f, 0.2f, 0.1f, 0.5f, 1.0f, 0.7f, 0.4f},  // tee
    {0.1f, 0.2f, 0.2f, 0.1f, 0.4f, 0.7f, 1.0f, 0.4f},  // ell
    {0.1f, 0.2f, 0.2f, 0.1f, 0.3f, 0.4f, 0.4f, 1.0f},  // bar
};

// A distractor colour at least `min_hue_deg` away from `colour` on the hue circle.
int distantColour(Rng& rng, int colour, float min_hue_deg) {
    for (int tries = 0; tries < 64; ++tries) {
        const int c = rng.index(kColourCount);
        float d = std::fabs(colourHueDeg(c) - colourHueDeg(colour));
        d = std::min(d, 360.0f - d);
        if (d >= min_hue_deg) return c;
    }
    return (colour + kColourCount / 2) % kColourCount;
}

bool isHeldout(const ObjectAttrs& a) { return a.colour == kHeldoutColour && a.shape == kHeldoutShape; }

ObjectAttrs randomTarget(Rng& rng, Regime regime, bool heldout) {
    ObjectAttrs t;
    for (;;) {
        t.shape = (regime == Regime::Configuration) ? static_cast<int>(Shape::Tee) : rng.index(kShapeCount);
        t.colour = rng.index(kColourCount);
        t.size = rng.index(kSizeCount);
        if (heldout) {
            t.shape = kHeldoutShape;
            t.colour = kHeldoutColour;
        }
        t.orient_deg = randomOrientation(rng, t.shape);
        if (regime == Regime::Configuration) t.orient_deg = 90 * rng.index(4);
        if (heldout || !isHeldout(t)) return t;
    }
}

// Poisson-disk positions by dart throwing; the spacing shrinks if the canvas is too full.
std::vector<cv::Point2f> placeObjects(Rng& rng, int count) {
    float spacing = count > 32 ? 38.0f : 42.0f;
    const float margin = 22.0f;
    for (;;) {
        std::vector<cv::Point2f> points;
        for (int tries = 0; tries < 20000 && static_cast<int>(points.size()) < count; ++tries) {
            const cv::Point2f p(static_cast<float>(rng.uniform(margin, kCanvasWidth - margin)),
                                static_cast<float>(rng.uniform(margin, kCanvasHeight - margin)));
            bool ok = true;
            for (const auto& q : points) {
                const float dx = p.x - q.x, dy = p.y - q.y;
                if (dx * dx + dy * dy < spacing * spacing) {
                    ok = false;
                    break;
                }
            }
            if (ok) points.push_back(p);
        }
        if (static_cast<int>(points.size()) == count) return points;
        spacing -= 2.0f;
    }
}

void computeSalience(std::vector<SearchObject>& objects) {
    const float radius = 4.0f * kPxPerDeg;
    for (auto& o : objects) {
        float sum = 0;
        int n = 0;
        for (const auto& p : objects) {
            if (&p == &o) continue;
            const float dx = p.x_px - o.x_px, dy = p.y_px - o.y_px;
            if (dx * dx + dy * dy > radius * radius) continue;
            const float sim = 0.25f * (colourSimilarity(o.attrs.colour, p.attrs.colour) +
                                       shapeSimilarity(o.attrs.shape, p.attrs.shape) +
                                       sizeSimilarity(o.attrs.size, p.attrs.size) +
                                       orientSimilarity(o.attrs.shape == p.attrs.shape ? o.attrs.shape : 0,
                                                        o.attrs.orient_deg, p.attrs.orient_deg));
            sum += 1.0f - sim;
            ++n;
        }
        o.salience = n > 0 ? sum / n : 0.0f;
    }
}

}  // namespace

const char* regimeName(Regime regime) {
    switch (regime) {
        case Regime::Feature: return "feature";
        case Regime::Conjunction: return "conjunction";
        case Regime::Configuration: return "configuration";
    }
    return "?";
}

int sizePx(int size_level) {
    static const int kSizes[kSizeCount] = {18, 24, 31};
    return kSizes[std::clamp(size_level, 0, kSizeCount - 1)];
}

float colourHueDeg(int colour) {
    static const float kHues[kColourCount] = {0, 30, 60, 120, 180, 225, 270, 315};
    return kHues[std::clamp(colour, 0, kColourCount - 1)];
}

void colourBgr(int colour, uint8_t bgr[3]) {
    // HSV with S = 0.85, V = 0.9, converted by hand (no imgproc colour tables needed).
    const float h = colourHueDeg(colour) / 60.0f, s = 0.85f, v = 0.9f;
    const int i = static_cast<int>(std::floor(h)) % 6;
    const float f = h - std::floor(h);
    const float p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    float r = 0, g = 0, b = 0;
    switch (i) {
        case 0: r = v, g = t, b = p; break;
        case 1: r = q, g = v, b = p; break;
        case 2: r = p, g = v, b = t; break;
        case 3: r = p, g = q, b = v; break;
        case 4: r = t, g = p, b = v; break;
        default: r = v, g = p, b = q; break;
    }
    bgr[0] = static_cast<uint8_t>(std::lround(b * 255));
    bgr[1] = static_cast<uint8_t>(std::lround(g * 255));
    bgr[2] = static_cast<uint8_t>(std::lround(r * 255));
}

float colourSimilarity(int a, int b) {
    float d = std::fabs(colourHueDeg(a) - colourHueDeg(b));
    d = std::min(d, 360.0f - d);
    return std::exp(-d * d / (2.0f * 40.0f * 40.0f));
}

float shapeSimilarity(int a, int b) {
    return kShapeSim[std::clamp(a, 0, kShapeCount - 1)][std::clamp(b, 0, kShapeCount - 1)];
}

float sizeSimilarity(int a, int b) {
    const float r = std::log(static_cast<float>(sizePx(a)) / static_cast<float>(sizePx(b)));
    return std::exp(-r * r / (2.0f * 0.2f * 0.2f));
}

float orientSimilarity(int shape, int a_deg, int b_deg) {
    if (!hasOrientation(shape)) return 1.0f;
    const float d = static_cast<float>(a_deg - b_deg) * kPi / 180.0f;
    if (shape == static_cast<int>(Shape::Bar)) return std::cos(d) * std::cos(d);
    return 0.5f * (1.0f + std::cos(d));
}

float targetSimilarity(const ObjectAttrs& item, const ObjectAttrs& target, const GuideWeights& w) {
    const float orient = item.shape == target.shape ? orientSimilarity(item.shape, item.orient_deg, target.orient_deg)
                                                    : 0.5f;
    const float sum = w.colour * colourSimilarity(item.colour, target.colour) + w.orient * orient +
                      w.size * sizeSimilarity(item.size, target.size) +
                      w.shape * shapeSimilarity(item.shape, target.shape);
    return sum / (w.colour + w.orient + w.size + w.shape);
}

Display generateDisplay(const DisplaySpec& spec) {
    if (spec.set_size < 1 || spec.set_size > 64)
        throw std::invalid_argument("oat display: set size must be 1..64, got " + std::to_string(spec.set_size));
    if (spec.heldout_target && spec.regime == Regime::Configuration)
        throw std::invalid_argument("oat display: the held-out target combination needs the feature or conjunction regime");
    Rng rng(mixSeeds(spec.seed, 0xD15B1A7));
    Display d;
    d.spec = spec;
    d.target = randomTarget(rng, spec.regime, spec.heldout_target);
    const ObjectAttrs& t = d.target;

    // Distractor generator per regime.
    // Display-level distractor features; outside test_target they never form the held-out combination.
    auto forbidden = [&](int colour, int shape) {
        return !spec.heldout_target && colour == kHeldoutColour && shape == kHeldoutShape;
    };
    bool feature_same_shape = rng.bernoulli(0.5);
    int feature_colour_a = distantColour(rng, t.colour, 90.0f);
    int feature_colour_b = rng.bernoulli(0.5) ? distantColour(rng, t.colour, 90.0f) : feature_colour_a;
    if (feature_same_shape && (forbidden(feature_colour_a, t.shape) || forbidden(feature_colour_b, t.shape)))
        feature_same_shape = false;
    int conj_shape = t.shape;
    while (conj_shape == t.shape || forbidden(t.colour, conj_shape)) conj_shape = rng.index(kShapeCount);
    int conj_colour = distantColour(rng, t.colour, 60.0f);
    for (int tries = 0; forbidden(conj_colour, t.shape) && tries < 64; ++tries)
        conj_colour = distantColour(rng, t.colour, 60.0f);
    auto makeDistractor = [&](int k) {
        for (int tries = 0;; ++tries) {
            ObjectAttrs a;
            switch (spec.regime) {
                case Regime::Feature:
                    a.colour = (k % 2 == 0) ? feature_colour_a : feature_colour_b;
                    a.shape = feature_same_shape ? t.shape : rng.index(kShapeCount);
                    a.size = rng.index(kSizeCount);
                    a.orient_deg = randomOrientation(rng, a.shape);
                    break;
                case Regime::Conjunction:
                    if (k % 2 == 0) {
                        a.colour = t.colour;
                        a.shape = conj_shape;
                    } else {
                        a.colour = conj_colour;
                        a.shape = t.shape;
                    }
                    a.size = t.size;
                    a.orient_deg = a.shape == t.shape ? t.orient_deg : randomOrientation(rng, a.shape);
                    break;
                case Regime::Configuration:
                    a.colour = t.colour;
                    a.shape = static_cast<int>(Shape::Ell);
                    a.size = t.size;
                    a.orient_deg = 90 * rng.index(4);
                    break;
            }
            if (a == t) continue;
            if (forbidden(a.colour, a.shape) && tries < 1000) continue;  // the held-out combination stays unseen
            return a;
        }
    };

    const std::vector<cv::Point2f> points = placeObjects(rng, spec.set_size);
    const int target_slot = spec.target_present ? rng.index(spec.set_size) : -1;
    std::vector<std::pair<SearchObject, bool>> items;
    for (int i = 0; i < spec.set_size; ++i) {
        SearchObject o;
        o.attrs = (i == target_slot) ? t : makeDistractor(i);
        o.x_px = points[i].x;
        o.y_px = points[i].y;
        const float s = static_cast<float>(sizePx(o.attrs.size));
        o.w_px = s;
        o.h_px = s;
        if (o.attrs.shape == static_cast<int>(Shape::Bar)) {
            const float th = static_cast<float>(o.attrs.orient_deg) * kPi / 180.0f;
            const float lx = s, ly = s * 0.3f;
            o.w_px = std::fabs(lx * std::cos(th)) + std::fabs(ly * std::sin(th));
            o.h_px = std::fabs(lx * std::sin(th)) + std::fabs(ly * std::cos(th));
        }
        o.cell_col = std::clamp(static_cast<int>(o.x_px) / kCellPx, 0, kGridCols - 1);
        o.cell_row = std::clamp(static_cast<int>(o.y_px) / kCellPx, 0, kGridRows - 1);
        items.push_back({o, i == target_slot});
    }
    std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
        if (a.first.cell_row != b.first.cell_row) return a.first.cell_row < b.first.cell_row;
        return a.first.x_px < b.first.x_px;
    });
    for (size_t i = 0; i < items.size(); ++i) {
        d.objects.push_back(items[i].first);
        if (items[i].second) d.target_index = static_cast<int>(i);
    }
    computeSalience(d.objects);
    return d;
}

const char* splitName(Split split) {
    switch (split) {
        case Split::Train: return "train";
        case Split::Val: return "val";
        case Split::TestLayout: return "test_layout";
        case Split::TestTarget: return "test_target";
        case Split::TestLarge: return "test_large";
    }
    return "?";
}

bool parseSplit(const std::string& name, Split* split) {
    for (int i = 0; i <= static_cast<int>(Split::TestLarge); ++i) {
        if (name == splitName(static_cast<Split>(i))) {
            *split = static_cast<Split>(i);
            return true;
        }
    }
    return false;
}

uint64_t splitSeedBase(Split split) { return 1000000ull * (static_cast<uint64_t>(split) + 1); }

DisplaySpec splitDisplaySpec(Split split, int64_t index) {
    DisplaySpec s;
    s.seed = splitSeedBase(split) + static_cast<uint64_t>(index);
    Rng rng(mixSeeds(s.seed, 0x5911C));
    static const int kTrainSizes[4] = {8, 16, 24, 32};
    s.set_size = kTrainSizes[rng.index(4)];
    s.regime = static_cast<Regime>(rng.index(kRegimeCount));
    s.target_present = rng.bernoulli(0.75);
    if (split == Split::TestTarget) {
        s.regime = static_cast<Regime>(rng.index(2));  // feature or conjunction
        s.heldout_target = true;
    }
    if (split == Split::TestLarge) s.set_size = 48;
    return s;
}

void drawObject(cv::Mat& image, const ObjectAttrs& attrs, float cx, float cy) {
    uint8_t bgr[3];
    colourBgr(attrs.colour, bgr);
    const cv::Scalar colour(bgr[0], bgr[1], bgr[2]);
    const float s = static_cast<float>(sizePx(attrs.size));
    const float half = 0.5f * s;
    const float th = static_cast<float>(attrs.orient_deg) * kPi / 180.0f;
    const float c = std::cos(th), sn = std::sin(th);
    // Fixed-point (4 fractional bits) polygon vertices of a shape given in local coordinates.
    auto toPoint = [&](float lx, float ly) {
        const float x = cx + lx * c - ly * sn, y = cy + lx * sn + ly * c;
        return cv::Point(static_cast<int>(std::lround(x * 16)), static_cast<int>(std::lround(y * 16)));
    };
    auto fillRect = [&](float x0, float y0, float x1, float y1) {
        const cv::Point pts[4] = {toPoint(x0, y0), toPoint(x1, y0), toPoint(x1, y1), toPoint(x0, y1)};
        cv::fillConvexPoly(image, pts, 4, colour, cv::LINE_AA, 4);
    };
    const float stroke = std::max(3.0f, s / 5.0f);
    switch (static_cast<Shape>(attrs.shape)) {
        case Shape::Circle:
            cv::circle(image, cv::Point(static_cast<int>(std::lround(cx * 16)), static_cast<int>(std::lround(cy * 16))),
                       static_cast<int>(std::lround(half * 16)), colour, cv::FILLED, cv::LINE_AA, 4);
            break;
        case Shape::Square: fillRect(-half * 0.85f, -half * 0.85f, half * 0.85f, half * 0.85f); break;
        case Shape::Triangle: {
            const cv::Point pts[3] = {toPoint(0, -half), toPoint(half, half * 0.8f), toPoint(-half, half * 0.8f)};
            cv::fillConvexPoly(image, pts, 3, colour, cv::LINE_AA, 4);
            break;
        }
        case Shape::Diamond: {
            const cv::Point pts[4] = {toPoint(0, -half), toPoint(half, 0), toPoint(0, half), toPoint(-half, 0)};
            cv::fillConvexPoly(image, pts, 4, colour, cv::LINE_AA, 4);
            break;
        }
        case Shape::Cross:
            fillRect(-half, -stroke / 2, half, stroke / 2);
            fillRect(-stroke / 2, -half, stroke / 2, half);
            break;
        case Shape::Tee:  // bar on top, stem down the middle (at orientation 0)
            fillRect(-half, -half, half, -half + stroke);
            fillRect(-stroke / 2, -half, stroke / 2, half);
            break;
        case Shape::Ell:  // stem on the left, foot at the bottom; offset foot makes it a clear L
            fillRect(-half, -half, -half + stroke, half);
            fillRect(-half, half - stroke, half, half);
            break;
        case Shape::Bar: fillRect(-half, -0.15f * s, half, 0.15f * s); break;
    }
}

void renderDisplay(const Display& display, cv::Mat* image) {
    *image = cv::Mat(kCanvasHeight, kCanvasWidth, CV_8UC3, cv::Scalar(128, 128, 128));
    for (const auto& o : display.objects) drawObject(*image, o.attrs, o.x_px, o.y_px);
}

void cropObject(const cv::Mat& image, const SearchObject& object, cv::Mat* crop) {
    const int half = kCropWindowPx / 2;
    cv::Mat window(kCropWindowPx, kCropWindowPx, CV_8UC3, cv::Scalar(128, 128, 128));
    const int x0 = static_cast<int>(std::lround(object.x_px)) - half;
    const int y0 = static_cast<int>(std::lround(object.y_px)) - half;
    const cv::Rect want(x0, y0, kCropWindowPx, kCropWindowPx);
    const cv::Rect have = want & cv::Rect(0, 0, image.cols, image.rows);
    if (have.area() > 0) image(have).copyTo(window(cv::Rect(have.x - x0, have.y - y0, have.width, have.height)));
    cv::resize(window, *crop, cv::Size(kCropPx, kCropPx), 0, 0, cv::INTER_AREA);
}

void renderCue(const ObjectAttrs& target, cv::Mat* crop) {
    cv::Mat window(kCropWindowPx, kCropWindowPx, CV_8UC3, cv::Scalar(128, 128, 128));
    drawObject(window, target, kCropWindowPx / 2.0f, kCropWindowPx / 2.0f);
    cv::resize(window, *crop, cv::Size(kCropPx, kCropPx), 0, 0, cv::INTER_AREA);
}

}  // namespace attnlab::oat
