#include "views/colormap.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>

namespace attnlab {

namespace {

// matplotlib's viridis at t = 0, 0.1, ..., 1.
constexpr uint8_t kViridis[11][3] = {{68, 1, 84},    {72, 36, 117},  {65, 68, 135},  {53, 95, 141},
                                     {42, 120, 142}, {33, 145, 140}, {34, 168, 132}, {68, 191, 112},
                                     {122, 209, 81}, {189, 223, 38}, {253, 231, 37}};

std::string formatValue(double v) {
    char buf[32];
    if (v == 0) return "0";
    std::snprintf(buf, sizeof(buf), "%.3g", v);
    return buf;
}

}  // namespace

const char* colorScaleName(ColorScale scale) {
    switch (scale) {
        case ColorScale::Linear: return "linear";
        case ColorScale::Log: return "log";
    }
    return "?";
}

Rgba8 viridis(double t) {
    if (!(t >= 0)) t = 0;  // NaN too
    if (t > 1) t = 1;
    const double x = t * 10.0;
    const int i = std::min(9, static_cast<int>(x));
    const double f = x - i;
    Rgba8 c;
    c.r = static_cast<uint8_t>(std::lround(kViridis[i][0] + f * (kViridis[i + 1][0] - kViridis[i][0])));
    c.g = static_cast<uint8_t>(std::lround(kViridis[i][1] + f * (kViridis[i + 1][1] - kViridis[i][1])));
    c.b = static_cast<uint8_t>(std::lround(kViridis[i][2] + f * (kViridis[i + 1][2] - kViridis[i][2])));
    return c;
}

ScaleRange ScaleRange::forMaximum(ColorScale scale, double max_value) {
    ScaleRange r;
    r.scale = scale;
    r.max_value = max_value > 0 ? max_value : 1.0;
    r.min_value = scale == ColorScale::Log ? r.max_value * std::pow(10.0, -kLogDecades) : 0.0;
    return r;
}

double ScaleRange::normalize(double value) const {
    if (scale == ColorScale::Log) {
        if (!(value > 0)) return 0;
        const double lo = std::log10(min_value), hi = std::log10(max_value);
        return std::clamp((std::log10(value) - lo) / (hi - lo), 0.0, 1.0);
    }
    if (!(max_value > min_value)) return 0;
    return std::clamp((value - min_value) / (max_value - min_value), 0.0, 1.0);
}

std::vector<std::pair<double, std::string>> ScaleRange::ticks() const {
    std::vector<std::pair<double, std::string>> out;
    if (scale == ColorScale::Log) {
        const double lo = std::log10(min_value), hi = std::log10(max_value);
        out.emplace_back(0.0, formatValue(min_value));
        for (double e = std::ceil(lo + 0.25); e < hi - 0.25; e += 1.0) {
            char buf[32];
            std::snprintf(buf, sizeof(buf), "1e%d", static_cast<int>(e));
            out.emplace_back((e - lo) / (hi - lo), buf);
        }
        out.emplace_back(1.0, formatValue(max_value));
    } else {
        for (int i = 0; i <= 4; ++i) {
            const double t = i / 4.0;
            out.emplace_back(t, formatValue(min_value + t * (max_value - min_value)));
        }
    }
    return out;
}

void RgbaImage::set(int x, int y, Rgba8 c) {
    const size_t i = (static_cast<size_t>(y) * static_cast<size_t>(width) + static_cast<size_t>(x)) * 4;
    pixels[i] = c.r;
    pixels[i + 1] = c.g;
    pixels[i + 2] = c.b;
    pixels[i + 3] = c.a;
}

Rgba8 RgbaImage::at(int x, int y) const {
    const size_t i = (static_cast<size_t>(y) * static_cast<size_t>(width) + static_cast<size_t>(x)) * 4;
    return Rgba8{pixels[i], pixels[i + 1], pixels[i + 2], pixels[i + 3]};
}

uint64_t nextImageVersion() {
    static std::atomic<uint64_t> counter{0};
    return ++counter;
}

}  // namespace attnlab
