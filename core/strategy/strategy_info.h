// Torch-free descriptions of strategies, for the GUI and the CLI.
#pragma once

#include <string>
#include <vector>

#include "core/strategy/params.h"

namespace attnlab {

// Per-head scores from a calibration job (DuoAttention gates, RazorAttention echo/induction),
// [layer][kv_head]; higher = more of a retrieval head.
struct HeadScores {
    std::string kind;  // "duo", "razor"
    std::vector<std::vector<double>> scores;     // duo: distant attention mass; razor: induction
    std::vector<std::vector<double>> secondary;  // razor: echo scores; empty otherwise
};

struct StrategyInfo {
    std::string name;
    std::string summary;
    std::vector<ParamSpec> params;
    std::string calibration;  // "" or the calibration job it needs ("duo", "razor")
    std::string origin;       // "built-in" or the plugin file
};

}  // namespace attnlab
