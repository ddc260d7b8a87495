// Writes one split of the OAT training/evaluation data as .npy files for the Python trainer:
//   displays.npy  int64 [D, 10]  seed, set size, regime, target present, target index (-1 absent),
//                               target shape, colour, size, orientation (deg), first object row
//   objects.npy   float32 [M, 12] x, y, w, h (px), shape, colour, size, orientation, is target,
//                               grid column, grid row (16 px cells), salience
//   obj_offsets.npy int64 [D+1]  objects of display d are rows offsets[d] .. offsets[d+1]-1
//   crops.npy     uint8 [M, 32, 32, 3] RGB crop of each object (40 px window resized)
//   cue.npy       uint8 [D, 32, 32, 3] RGB target cue
//   paths.npy     int16 [D, S, L]  object index per fixation of each subject, -1 after the end
//   fixations.npy float32 [D, S, L, 3] landing x, y (px) and duration (ms), 0 after the end
//   meta.json     sizes, grid, subjects' parameters
#pragma once

#include <cstdint>
#include <string>

#include "core/vision/oat/display.h"

namespace attnlab::oat {

constexpr int kMaxPathLength = 32;

struct DatasetOptions {
    Split split = Split::Train;
    int64_t count = 100;
    int subjects = 10;
    int threads = 1;
};

// Creates dir if needed. Returns false and sets *error (naming the file) on failure.
bool writeDataset(const std::string& dir, const DatasetOptions& options, std::string* error);

}  // namespace attnlab::oat
