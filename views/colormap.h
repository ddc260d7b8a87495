// Colour scales of the views: viridis (perceptually uniform, readable in greyscale print), with a
// linear or a logarithmic mapping. Qt-free so the view models and their tests need no GUI.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace attnlab {

enum class ColorScale { Linear = 1, Log = 2 };

const char* colorScaleName(ColorScale scale);

struct Rgba8 {
    uint8_t r = 0;
    uint8_t g = 0;
    uint8_t b = 0;
    uint8_t a = 255;
};

// t in [0, 1] (clamped) -> viridis.
Rgba8 viridis(double t);

// Value -> [0, 1] for one matrix. Log spans kLogDecades decades below the maximum.
struct ScaleRange {
    static constexpr double kLogDecades = 4.0;

    ColorScale scale = ColorScale::Linear;
    double min_value = 0;  // linear: 0; log: max_value * 10^-kLogDecades
    double max_value = 1;

    static ScaleRange forMaximum(ColorScale scale, double max_value);
    double normalize(double value) const;
    // Tick positions along the bar (t in [0, 1]) with their labels, lowest first.
    std::vector<std::pair<double, std::string>> ticks() const;
};

// An RGBA8 image, row-major, top row first. `version` changes whenever the pixels do, so
// texture caches can tell a stale upload from a current one.
struct RgbaImage {
    int width = 0;
    int height = 0;
    std::vector<uint8_t> pixels;  // width * height * 4
    uint64_t version = 0;

    bool isEmpty() const { return width <= 0 || height <= 0; }
    void set(int x, int y, Rgba8 c);
    Rgba8 at(int x, int y) const;
};

uint64_t nextImageVersion();

}  // namespace attnlab
