// The drawing code of the views, shared by the on-screen canvases and figure export (so figures
// are exactly what the window shows, minus the hover inspector). Private to views/.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>

#include "views/attention_model.h"
#include "views/draw/canvas_frame.h"
#include "views/head_grid_model.h"

namespace attnlab {

// Zoom and pan of a matrix view, in texture coordinates of the whole matrix.
struct MatrixViewState {
    float zoom = 1;  // 1 = whole matrix
    float center_u = 0.5f;
    float center_v = 0.5f;
    // Set by a click on a cell (query row), a right-click or Ctrl+click (key column), the same again
    // or Esc (clear); the canvas hands it to its view, which owns the focus.
    bool has_focus_request = false;
    FocusKind requested_focus = FocusKind::None;
    int64_t requested_index = -1;

    void reset() { *this = MatrixViewState{}; }
};

// Heatmap of the selected head with a colour bar; with the mask overlay, the kept keys of the
// head's KV head are bright, the rest dimmed, and a strip marks kept (green) / evicted (red) keys.
void drawMatrixView(const AttentionViewModel& model, MatrixViewState& state, CanvasFrame& frame);

// Layers x heads, coloured by the model's score; returns the head clicked this frame.
std::optional<std::pair<int64_t, int64_t>> drawHeadGrid(const HeadGridModel& model, CanvasFrame& frame);

}  // namespace attnlab
