// One search display with everything the scanpath CLI and view show beside the model: the
// simulated subjects' scanpaths, the baselines' paths and their sequence scores against the
// subjects, the model's inputs (object crops, grid cells, cue) and a PNG-ready drawing. OpenCV
// core+imgproc; torch-free (the model itself runs through oat_model.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/vision/oat/baselines.h"
#include "core/vision/oat/display.h"
#include "core/vision/oat/oat_model.h"
#include "core/vision/oat/observer.h"

namespace attnlab::oat {

struct NamedPath {
    std::string name;
    std::vector<int> objects;
};

struct ScanpathCase {
    Display display;
    std::vector<Scanpath> subjects;   // simulated subjects 0..S-1 (makeSubjects(S))
    std::vector<NamedPath> baselines; // every baseline, in Baseline order
};

// Throws std::invalid_argument for impossible specs (as generateDisplay).
ScanpathCase makeScanpathCase(const DisplaySpec& spec, int subjects = 10);

// "feature" | "conjunction" | "configuration".
bool parseRegime(const std::string& name, Regime* regime);

// The model's view of the display: RGB crops, grid cells (row * 32 + column) and the cue.
OatInputs modelInputs(const Display& display);

// Mean sequence score of a path against each subject's object string.
double meanSequenceScore(const std::vector<int>& path, const std::vector<Scanpath>& subjects);

// The display (BGR, CV_8UC3, scale x the canvas) with objects outlined (the target in yellow) and
// each path drawn as numbered fixations joined by arrows, in the given BGR colours; path i is
// offset a little so that shared fixations stay readable. Starts at the display centre.
struct DrawnPath {
    std::vector<int> objects;
    uint8_t bgr[3] = {255, 255, 255};
    std::string label;
};
void drawScanpaths(const Display& display, const std::vector<DrawnPath>& paths, int scale, cv::Mat* image);

}  // namespace attnlab::oat
