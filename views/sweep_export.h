// Writing a budget-sweep chart to a file without any Qt in the caller's headers (attnlab-cli uses it).
// Creates an offscreen QGuiApplication when none exists. Main thread only.
#pragma once

#include <string>

#include "core/analysis/budget_sweep.h"

namespace attnlab {

struct SweepFigureRequest {
    std::string quality_metric = "auto";  // accuracy, kl, top1; "auto": accuracy when measured, else kl
    std::string time_metric = "decode";   // decode (ms per token) or prefill (ms)
    int width = 1000;                     // layout in 1/96 inch
    int height = 520;
    double dpi = 96;
};

// The figure in the format the extension names (.png, .svg, .pdf). False with *error naming the file
// and the problem (unknown metric, nothing to draw, unwritable file).
bool exportSweepFigure(const SweepResult& result, const std::string& path, const SweepFigureRequest& request,
                       std::string* error);

}  // namespace attnlab
