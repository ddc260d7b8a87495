// CLEVR-like 64x64 scenes, deterministic from a seed (issue 10; design in reference/vision.md §4b.1).
// Torch-free and OpenCV-free header: OpenCV (core + imgproc only) is used in scene.cpp, so the data
// tool can be compiled on a machine that only has those two libraries.
//
// A Layout is a list of objects on a ground plane. renderLayout() is THE rasteriser: random scenes
// (generateScene) and layouts drafted by the planner go through the same function and yield the
// image, per-object amodal and visible masks, depth rank, continuous depth, boxes and maps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attnlab::scene {

constexpr int kImageSize = 64;     // output resolution (square)
constexpr int kCanvasScale = 4;    // drawn at 256x256, downsampled with INTER_AREA
constexpr int kPosBins = 32;       // quantisation of ground-plane positions for tokens
constexpr int kMaxObjects = 8;     // hard cap on objects in a layout

enum class Shape : uint8_t { Sphere = 0, Cube = 1, Cylinder = 2, Cone = 3 };
constexpr int kNumShapes = 4;
constexpr int kNumColours = 8;     // CLEVR palette: gray red blue green brown purple cyan yellow
constexpr int kNumSizes = 2;       // small, large
constexpr int kNumMaterials = 2;   // rubber, metal

const char* shapeName(int shape);
const char* colourName(int colour);
const char* sizeName(int size);
const char* materialName(int material);

// One object. (u, v) is the ground-plane position in [0,1]^2: u left->right, v far->near
// (v = 0 at the back, 1 at the front). Larger v = nearer = lower on screen and larger.
struct Object {
    int shape = 0;
    int colour = 0;
    int size = 0;
    int material = 0;
    float u = 0.5f;
    float v = 0.5f;
};

using Layout = std::vector<Object>;

// Quantised token of an object (what the planner emits): attributes plus (qx, qy) in [0, kPosBins).
struct Token {
    int shape = 0, colour = 0, size = 0, material = 0, qx = 0, qy = 0;
};
Token toToken(const Object& o);
Object fromToken(const Token& t);   // position at the bin centre

// Per-object results of rendering; masks are kImageSize^2 bytes, 0 or 1, row-major.
struct RenderedObject {
    Object object;
    int depth_rank = 0;         // 0 = farthest; equals the object's index in back-to-front order
    float depth = 0.f;          // continuous camera distance (larger = farther)
    std::vector<uint8_t> amodal;
    std::vector<uint8_t> visible;  // amodal minus the amodal masks of all nearer objects
    int box[4] = {0, 0, 0, 0};  // x0, y0, x1, y1 (inclusive) of the amodal mask; all 0 if empty
    int visible_pixels = 0;
    int amodal_pixels = 0;
};

struct RenderedScene {
    std::vector<uint8_t> image;        // kImageSize^2 * 3, RGB, row-major
    std::vector<RenderedObject> objects;  // back to front (objects[i].depth_rank == i)
    std::vector<uint8_t> instance;     // kImageSize^2: 0 background, i+1 = objects[i] visible
    std::vector<float> depth;          // kImageSize^2: depth of the visible surface (floor/wall too)
};

struct GeneratorOptions {
    int min_objects = 1;
    int max_objects = 6;
    int min_visible_pixels = 6;  // at 64x64; objects hidden more than this are resampled
    int max_attempts = 60;       // per object placement
};

// Back-to-front order of a layout (stable: ties in v broken by the original index).
Layout sortBackToFront(const Layout& layout);

// Rasterises a layout (in any order; it is sorted back to front first). Deterministic.
RenderedScene renderLayout(const Layout& layout);

// Samples a random layout from seed (portable RNG; identical on every platform).
Layout sampleLayout(uint64_t seed, const GeneratorOptions& opts = {});

// sampleLayout + renderLayout.
RenderedScene generateScene(uint64_t seed, const GeneratorOptions& opts = {});

// Screen geometry at 64x64 used by the renderer: base point (x, y) of the object on the floor and
// its radius in pixels. Exposed for tests and views.
void projectObject(const Object& o, float* x, float* y, float* radius);

// Small portable RNG (splitmix64): the same numbers on every compiler and standard library.
class Rng {
public:
    explicit Rng(uint64_t seed) : m_state(seed) {}
    uint64_t next();
    double uniform();                      // [0, 1)
    int uniformInt(int lo, int hi);        // inclusive range
private:
    uint64_t m_state;
};

}  // namespace attnlab::scene
