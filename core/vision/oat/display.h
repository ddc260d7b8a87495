// Synthetic visual-search displays for the OAT scanpath work (reference/vision.md §4a.1).
// A display is a parametric description (objects with shape, colour, size, orientation and
// position, a target cue, target present or absent) generated deterministically from a seed;
// rendering uses OpenCV core+imgproc only, so the data tool also builds on the GPU machine with a
// plain g++ line. Canvas 512x320 px at an assumed 16 px/deg (32x20 deg).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cv {
class Mat;
}

namespace attnlab::oat {

constexpr int kCanvasWidth = 512;
constexpr int kCanvasHeight = 320;
constexpr float kPxPerDeg = 16.0f;
constexpr int kGridCols = 32;  // 16 px cells, the positional-encoding grid
constexpr int kGridRows = 20;
constexpr int kCellPx = 16;
constexpr int kCropPx = 32;        // stored crop size (square)
constexpr int kCropWindowPx = 40;  // window cut around the object centre before resizing
constexpr int kShapeCount = 8;
constexpr int kColourCount = 8;
constexpr int kSizeCount = 3;

enum class Shape : int { Circle = 0, Square, Triangle, Diamond, Cross, Tee, Ell, Bar };
// Classic search-efficiency regimes: target unique on colour; each target feature shared with some
// distractors; spatial configuration (a T among rotated Ls).
enum class Regime : int { Feature = 0, Conjunction = 1, Configuration = 2 };
constexpr int kRegimeCount = 3;
const char* regimeName(Regime regime);

struct ObjectAttrs {
    int shape = 0;       // Shape
    int colour = 0;      // 0..7, hue angles in colourHueDeg()
    int size = 0;        // 0..2, widths in sizePx()
    int orient_deg = 0;  // only meaningful for Tee, Ell (period 360) and Bar (period 180)
    bool operator==(const ObjectAttrs& o) const {
        return shape == o.shape && colour == o.colour && size == o.size && orient_deg == o.orient_deg;
    }
};

struct SearchObject {
    ObjectAttrs attrs;
    float x_px = 0, y_px = 0;  // centre
    float w_px = 0, h_px = 0;  // bounding box size (axis-aligned, of the drawn shape)
    int cell_col = 0, cell_row = 0;
    float salience = 0;  // mean feature dissimilarity to neighbours within 4 deg (0..1)
};

// The one held-out target feature combination (never a target, never an object, outside test_target).
constexpr int kHeldoutColour = 0;                         // red
constexpr int kHeldoutShape = static_cast<int>(Shape::Diamond);

struct DisplaySpec {
    uint64_t seed = 0;
    int set_size = 16;
    Regime regime = Regime::Feature;
    bool target_present = true;
    bool heldout_target = false;  // true: the target is the held-out combination (feature/conjunction only)
};

struct Display {
    DisplaySpec spec;
    ObjectAttrs target;        // what the cue shows
    int target_index = -1;     // index into objects, -1 when absent
    std::vector<SearchObject> objects;  // sorted top-to-bottom (cell row), then left-to-right
};

int sizePx(int size_level);
float colourHueDeg(int colour);
// BGR colour of a hue (OpenCV order).
void colourBgr(int colour, uint8_t bgr[3]);

// Per-dimension similarities in [0,1] (1 = identical), as the simulated observer's guidance uses them.
float colourSimilarity(int a, int b);
float shapeSimilarity(int a, int b);
float sizeSimilarity(int a, int b);
float orientSimilarity(int shape, int a_deg, int b_deg);  // 1 for shapes without orientation
// Guidance weights w_colour > w_orient > w_size > w_shape (GS6 ordering of guiding attributes).
struct GuideWeights {
    float colour = 1.0f, orient = 0.6f, size = 0.4f, shape = 0.3f;
};
float targetSimilarity(const ObjectAttrs& item, const ObjectAttrs& target, const GuideWeights& w = {});

// Deterministic in spec (including the seed). Throws std::invalid_argument for impossible specs
// (set size outside 1..64, held-out target with the configuration regime).
Display generateDisplay(const DisplaySpec& spec);

// Split-level display specs: regime, set size and presence drawn from the display seed.
enum class Split : int { Train = 0, Val, TestLayout, TestTarget, TestLarge };
const char* splitName(Split split);
bool parseSplit(const std::string& name, Split* split);
uint64_t splitSeedBase(Split split);
DisplaySpec splitDisplaySpec(Split split, int64_t index);

// Rendering (OpenCV core+imgproc). Images are CV_8UC3 BGR on a mid-grey background.
void renderDisplay(const Display& display, cv::Mat* image);
void drawObject(cv::Mat& image, const ObjectAttrs& attrs, float cx, float cy);
// kCropPx x kCropPx crop of a kCropWindowPx window centred on the object (grey outside the canvas).
void cropObject(const cv::Mat& image, const SearchObject& object, cv::Mat* crop);
// The target cue: the target drawn alone on grey, cropped like an object.
void renderCue(const ObjectAttrs& target, cv::Mat* crop);

}  // namespace attnlab::oat
