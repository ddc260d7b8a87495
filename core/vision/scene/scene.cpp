// CLEVR-like scene generator and layout rasteriser (OpenCV core + imgproc only).
#include "core/vision/scene/scene.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace attnlab::scene {

namespace {

constexpr int S = kImageSize * kCanvasScale;  // canvas side (256)
constexpr float kHorizon = 0.30f;             // wall/floor boundary, fraction of height

// CLEVR colours (RGB).
const unsigned char kPalette[kNumColours][3] = {
    {87, 87, 87}, {173, 35, 35}, {42, 75, 215}, {29, 105, 20},
    {129, 74, 25}, {129, 38, 192}, {41, 208, 208}, {255, 238, 51}};

// Geometry in canvas pixels.
struct Geo {
    float x, yb, r;
};

Geo geometry(const Object& o) {
    const float v = std::clamp(o.v, 0.f, 1.f);
    const float u = std::clamp(o.u, 0.f, 1.f);
    const float s = 0.5f + 0.5f * v;  // perspective scale
    Geo g;
    g.yb = S * (0.40f + 0.52f * v);
    g.x = S * 0.5f + (u - 0.5f) * S * (0.55f + 0.20f * v);
    g.r = (o.size ? 30.f : 19.f) * s;
    return g;
}

float objectDepth(const Object& o) { return 2.f + 6.f * (1.f - std::clamp(o.v, 0.f, 1.f)); }

float floorDepthAtRow(int y64) {
    const float yc = (y64 + 0.5f) / kImageSize;
    if (yc < kHorizon) return 10.f;
    const float v = (yc - 0.40f) / 0.52f;
    return std::min(10.f, 2.f + 6.f * (1.f - v));
}

cv::Point pt(float x, float y) { return cv::Point(cvRound(x), cvRound(y)); }

cv::Vec3b shadeColour(const unsigned char* base, float f, float spec) {
    cv::Vec3b c;
    for (int k = 0; k < 3; ++k) {
        const float val = base[k] * f + 255.f * spec;
        c[k] = static_cast<unsigned char>(std::clamp(val, 0.f, 255.f));
    }
    return c;
}

// Light direction (towards the light), screen coordinates with y down and z towards the viewer.
constexpr float kLx = -0.45f, kLy = -0.55f, kLz = 0.70f;

// Draws the object's silhouette into `mask` (255 inside) and its shaded pixels into `layer`.
void drawObject(const Object& o, cv::Mat& layer, cv::Mat& mask) {
    const Geo g = geometry(o);
    const unsigned char* base = kPalette[std::clamp(o.colour, 0, kNumColours - 1)];
    const bool metal = o.material == 1;
    const float x = g.x, yb = g.yb, r = g.r;
    mask.setTo(0);
    switch (static_cast<Shape>(std::clamp(o.shape, 0, kNumShapes - 1))) {
    case Shape::Sphere: {
        const float cx = x, cy = yb - r;
        cv::circle(mask, pt(cx, cy), cvRound(r), cv::Scalar(255), cv::FILLED, cv::LINE_8);
        const int y0 = std::max(0, int(cy - r - 1)), y1 = std::min(S - 1, int(cy + r + 1));
        const int x0 = std::max(0, int(cx - r - 1)), x1 = std::min(S - 1, int(cx + r + 1));
        for (int y = y0; y <= y1; ++y) {
            const uint8_t* m = mask.ptr<uint8_t>(y);
            cv::Vec3b* p = layer.ptr<cv::Vec3b>(y);
            for (int xx = x0; xx <= x1; ++xx) {
                if (!m[xx]) continue;
                const float nx = (xx - cx) / r, ny = (y - cy) / r;
                const float nz = std::sqrt(std::max(0.f, 1.f - nx * nx - ny * ny));
                const float lam = std::max(0.f, nx * kLx + ny * kLy + nz * kLz);
                float spec = 0.f;
                if (metal) {
                    // Blinn half vector between light and viewer (0,0,1).
                    float hx = kLx, hy = kLy, hz = kLz + 1.f;
                    const float hn = std::sqrt(hx * hx + hy * hy + hz * hz);
                    const float d = std::max(0.f, (nx * hx + ny * hy + nz * hz) / hn);
                    spec = std::pow(d, 40.f) * 0.9f;
                }
                const float f = metal ? 0.15f + 1.05f * lam : 0.35f + 0.75f * lam;
                p[xx] = shadeColour(base, f, spec);
            }
        }
        break;
    }
    case Shape::Cube: {
        const float h = 0.8f * r, ox = 0.4f * r, oy = 0.45f * r;
        const cv::Point front[4] = {pt(x - h, yb - 2 * h), pt(x + h, yb - 2 * h), pt(x + h, yb),
                                    pt(x - h, yb)};
        const cv::Point top[4] = {pt(x - h, yb - 2 * h), pt(x + h, yb - 2 * h),
                                  pt(x + h + ox, yb - 2 * h - oy), pt(x - h + ox, yb - 2 * h - oy)};
        const cv::Point side[4] = {pt(x + h, yb), pt(x + h, yb - 2 * h),
                                   pt(x + h + ox, yb - 2 * h - oy), pt(x + h + ox, yb - oy)};
        const float ff = metal ? 0.75f : 0.85f, ft = metal ? 1.30f : 1.10f, fs = metal ? 0.40f : 0.58f;
        cv::fillConvexPoly(layer, front, 4, cv::Scalar(shadeColour(base, ff, 0)), cv::LINE_8);
        cv::fillConvexPoly(layer, top, 4, cv::Scalar(shadeColour(base, ft, metal ? 0.1f : 0)), cv::LINE_8);
        cv::fillConvexPoly(layer, side, 4, cv::Scalar(shadeColour(base, fs, 0)), cv::LINE_8);
        cv::fillConvexPoly(mask, front, 4, cv::Scalar(255), cv::LINE_8);
        cv::fillConvexPoly(mask, top, 4, cv::Scalar(255), cv::LINE_8);
        cv::fillConvexPoly(mask, side, 4, cv::Scalar(255), cv::LINE_8);
        if (metal) {
            cv::ellipse(layer, pt(x - 0.35f * h, yb - 1.45f * h), cv::Size(cvRound(0.30f * h), cvRound(0.45f * h)),
                        -20, 0, 360, cv::Scalar(235, 235, 235), cv::FILLED, cv::LINE_8);
        }
        break;
    }
    case Shape::Cylinder:
    case Shape::Cone: {
        const bool cone = o.shape == static_cast<int>(Shape::Cone);
        const float rx = (cone ? 0.9f : 0.8f) * r, ry = 0.3f * r, hgt = cone ? 2.0f * r : 1.7f * r;
        cv::ellipse(mask, pt(x, yb), cv::Size(cvRound(rx), cvRound(ry)), 0, 0, 360, cv::Scalar(255),
                    cv::FILLED, cv::LINE_8);
        if (cone) {
            const cv::Point tri[3] = {pt(x - rx, yb), pt(x + rx, yb), pt(x, yb - hgt)};
            cv::fillConvexPoly(mask, tri, 3, cv::Scalar(255), cv::LINE_8);
        } else {
            const cv::Point rect[4] = {pt(x - rx, yb), pt(x + rx, yb), pt(x + rx, yb - hgt), pt(x - rx, yb - hgt)};
            cv::fillConvexPoly(mask, rect, 4, cv::Scalar(255), cv::LINE_8);
            cv::ellipse(mask, pt(x, yb - hgt), cv::Size(cvRound(rx), cvRound(ry)), 0, 0, 360, cv::Scalar(255),
                        cv::FILLED, cv::LINE_8);
        }
        // Body: shaded by column (surface normal turns around the vertical axis).
        const int y0 = std::max(0, int(yb - hgt - ry - 2)), y1 = std::min(S - 1, int(yb + ry + 2));
        const int x0 = std::max(0, int(x - rx - 2)), x1 = std::min(S - 1, int(x + rx + 2));
        for (int y = y0; y <= y1; ++y) {
            const uint8_t* m = mask.ptr<uint8_t>(y);
            cv::Vec3b* p = layer.ptr<cv::Vec3b>(y);
            for (int xx = x0; xx <= x1; ++xx) {
                if (!m[xx]) continue;
                const float nx = std::clamp((xx - x) / rx, -1.f, 1.f);
                const float nz = std::sqrt(std::max(0.f, 1.f - nx * nx));
                const float lam = std::max(0.f, nx * kLx + nz * kLz + (cone ? 0.3f : 0.f));
                float spec = 0.f;
                if (metal) spec = 0.85f * std::exp(-((nx + 0.35f) * (nx + 0.35f)) / 0.012f);
                const float f = metal ? 0.15f + 1.0f * lam : 0.35f + 0.7f * lam;
                p[xx] = shadeColour(base, f, spec);
            }
        }
        if (!cone) {
            cv::ellipse(layer, pt(x, yb - hgt), cv::Size(cvRound(rx), cvRound(ry)), 0, 0, 360,
                        cv::Scalar(shadeColour(base, metal ? 1.25f : 1.08f, metal ? 0.08f : 0.f)), cv::FILLED,
                        cv::LINE_8);
        }
        break;
    }
    }
}

void drawBackground(cv::Mat& canvas) {
    const int yh = cvRound(kHorizon * S);
    for (int y = 0; y < S; ++y) {
        cv::Vec3b c;
        if (y < yh) {
            const float t = float(y) / yh;
            c = cv::Vec3b(cv::saturate_cast<uchar>(112 + 14 * t), cv::saturate_cast<uchar>(114 + 14 * t),
                          cv::saturate_cast<uchar>(120 + 14 * t));
        } else {
            const float t = float(y - yh) / (S - yh);
            c = cv::Vec3b(cv::saturate_cast<uchar>(150 + 40 * t), cv::saturate_cast<uchar>(146 + 38 * t),
                          cv::saturate_cast<uchar>(138 + 34 * t));
        }
        canvas.row(y).setTo(cv::Scalar(c[0], c[1], c[2]));
    }
}

}  // namespace

const char* shapeName(int s) {
    static const char* n[] = {"sphere", "cube", "cylinder", "cone"};
    return s >= 0 && s < kNumShapes ? n[s] : "?";
}
const char* colourName(int c) {
    static const char* n[] = {"gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow"};
    return c >= 0 && c < kNumColours ? n[c] : "?";
}
const char* sizeName(int s) { return s == 0 ? "small" : s == 1 ? "large" : "?"; }
const char* materialName(int m) { return m == 0 ? "rubber" : m == 1 ? "metal" : "?"; }

uint64_t Rng::next() {
    uint64_t z = (m_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
double Rng::uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
int Rng::uniformInt(int lo, int hi) {
    const uint64_t span = uint64_t(hi - lo) + 1;
    return lo + int(next() % span);
}

Token toToken(const Object& o) {
    Token t;
    t.shape = o.shape;
    t.colour = o.colour;
    t.size = o.size;
    t.material = o.material;
    t.qx = std::clamp(int(std::floor(o.u * kPosBins)), 0, kPosBins - 1);
    t.qy = std::clamp(int(std::floor(o.v * kPosBins)), 0, kPosBins - 1);
    return t;
}

Object fromToken(const Token& t) {
    Object o;
    o.shape = std::clamp(t.shape, 0, kNumShapes - 1);
    o.colour = std::clamp(t.colour, 0, kNumColours - 1);
    o.size = std::clamp(t.size, 0, kNumSizes - 1);
    o.material = std::clamp(t.material, 0, kNumMaterials - 1);
    o.u = (std::clamp(t.qx, 0, kPosBins - 1) + 0.5f) / kPosBins;
    o.v = (std::clamp(t.qy, 0, kPosBins - 1) + 0.5f) / kPosBins;
    return o;
}

void projectObject(const Object& o, float* x, float* y, float* radius) {
    const Geo g = geometry(o);
    *x = g.x / kCanvasScale;
    *y = g.yb / kCanvasScale;
    *radius = g.r / kCanvasScale;
}

Layout sortBackToFront(const Layout& layout) {
    std::vector<size_t> idx(layout.size());
    std::iota(idx.begin(), idx.end(), size_t(0));
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return layout[a].v < layout[b].v; });
    Layout out;
    out.reserve(layout.size());
    for (size_t i : idx) out.push_back(layout[i]);
    return out;
}

RenderedScene renderLayout(const Layout& input) {
    Layout layout = sortBackToFront(input);
    if (layout.size() > size_t(kMaxObjects)) layout.resize(kMaxObjects);  // keep the farthest ones
    const int n = int(layout.size());
    const int P = kImageSize * kImageSize;

    cv::Mat canvas(S, S, CV_8UC3);
    drawBackground(canvas);

    // Soft shadows on the floor (light from the upper left: shadows fall right and slightly back).
    cv::Mat shadow(S, S, CV_32F, cv::Scalar(0));
    for (const Object& o : layout) {
        const Geo g = geometry(o);
        cv::ellipse(shadow, pt(g.x + 0.75f * g.r, g.yb - 0.12f * g.r),
                    cv::Size(cvRound(1.25f * g.r), cvRound(0.42f * g.r)), -8, 0, 360, cv::Scalar(1.0), cv::FILLED,
                    cv::LINE_8);
    }
    cv::GaussianBlur(shadow, shadow, cv::Size(0, 0), 5.0);
    for (int y = cvRound(kHorizon * S); y < S; ++y) {
        cv::Vec3b* p = canvas.ptr<cv::Vec3b>(y);
        const float* sh = shadow.ptr<float>(y);
        for (int x = 0; x < S; ++x) {
            const float f = 1.f - 0.45f * std::min(1.f, sh[x]);
            p[x] = cv::Vec3b(cv::saturate_cast<uchar>(p[x][0] * f), cv::saturate_cast<uchar>(p[x][1] * f),
                             cv::saturate_cast<uchar>(p[x][2] * f));
        }
    }

    RenderedScene out;
    out.objects.resize(n);
    cv::Mat layer(S, S, CV_8UC3), mask(S, S, CV_8U), small;
    for (int i = 0; i < n; ++i) {
        drawObject(layout[i], layer, mask);
        layer.copyTo(canvas, mask);  // painter's algorithm, back to front
        cv::resize(mask, small, cv::Size(kImageSize, kImageSize), 0, 0, cv::INTER_AREA);
        RenderedObject& ro = out.objects[i];
        ro.object = layout[i];
        ro.depth_rank = i;
        ro.depth = objectDepth(layout[i]);
        ro.amodal.assign(P, 0);
        for (int k = 0; k < P; ++k) ro.amodal[k] = small.data[k] >= 128 ? 1 : 0;
    }

    // Instance map: the nearest object covering each pixel; visible = amodal minus nearer amodal.
    out.instance.assign(P, 0);
    out.depth.resize(P);
    for (int k = 0; k < P; ++k) out.depth[k] = floorDepthAtRow(k / kImageSize);
    for (int i = 0; i < n; ++i) {
        for (int k = 0; k < P; ++k) {
            if (out.objects[i].amodal[k]) {
                out.instance[k] = uint8_t(i + 1);
                out.depth[k] = out.objects[i].depth;
            }
        }
    }
    for (int i = 0; i < n; ++i) {
        RenderedObject& ro = out.objects[i];
        ro.visible.assign(P, 0);
        int x0 = kImageSize, y0 = kImageSize, x1 = -1, y1 = -1;
        for (int k = 0; k < P; ++k) {
            ro.visible[k] = out.instance[k] == i + 1 ? 1 : 0;
            ro.visible_pixels += ro.visible[k];
            if (ro.amodal[k]) {
                ++ro.amodal_pixels;
                const int x = k % kImageSize, y = k / kImageSize;
                x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x), y1 = std::max(y1, y);
            }
        }
        if (x1 >= 0) {
            ro.box[0] = x0, ro.box[1] = y0, ro.box[2] = x1, ro.box[3] = y1;
        }
    }

    cv::resize(canvas, small, cv::Size(kImageSize, kImageSize), 0, 0, cv::INTER_AREA);
    out.image.assign(small.data, small.data + P * 3);
    return out;
}

Layout sampleLayout(uint64_t seed, const GeneratorOptions& opts) {
    Rng rng(seed * 0x2545F4914F6CDD1Dull + 0x1234567ull);
    const int lo = std::clamp(opts.min_objects, 0, kMaxObjects);
    const int hi = std::clamp(opts.max_objects, lo, kMaxObjects);
    const int n = rng.uniformInt(lo, hi);
    Layout layout;
    for (int i = 0; i < n; ++i) {
        for (int attempt = 0; attempt < opts.max_attempts; ++attempt) {
            Object o;
            o.shape = rng.uniformInt(0, kNumShapes - 1);
            o.colour = rng.uniformInt(0, kNumColours - 1);
            o.size = rng.uniformInt(0, kNumSizes - 1);
            o.material = rng.uniformInt(0, kNumMaterials - 1);
            o.u = float(0.06 + 0.88 * rng.uniform());
            o.v = float(0.02 + 0.96 * rng.uniform());
            const Geo g = geometry(o);
            bool ok = true;
            for (const Object& q : layout) {
                const Geo h = geometry(q);
                const float dx = g.x - h.x, dy = (g.yb - g.r) - (h.yb - h.r);
                // Centres closer than this would hide most of one object; partial overlap is wanted.
                if (std::sqrt(dx * dx + dy * dy) < 0.75f * (g.r + h.r)) {
                    ok = false;
                    break;
                }
            }
            if (ok) {
                layout.push_back(o);
                break;
            }
        }
    }
    // Drop objects that ended up (almost) invisible behind nearer ones; repeat until stable.
    for (;;) {
        const RenderedScene r = renderLayout(layout);
        Layout kept;
        for (const RenderedObject& ro : r.objects) {
            if (ro.visible_pixels >= opts.min_visible_pixels) kept.push_back(ro.object);
        }
        const bool changed = kept.size() != r.objects.size();
        layout = kept;
        if (!changed) break;
    }
    return sortBackToFront(layout);
}

RenderedScene generateScene(uint64_t seed, const GeneratorOptions& opts) {
    return renderLayout(sampleLayout(seed, opts));
}

}  // namespace attnlab::scene
