// Named strategy presets: a set of checked strategies with their parameters, saved as JSON in the
// user's config folder (attnlab/presets.json under Qt's generic config location, i.e.
// $XDG_CONFIG_HOME or ~/.config). File format, version 1:
//   {"version": 1, "presets": [{"name": "long budget", "strategies": ["full", "streaming:budget=50%,sink=4"]}]}
// A missing file is an empty list; an unreadable or malformed one is an error naming the file (and the
// file is then never overwritten, so a hand edit gone wrong is not lost).
#pragma once

#include <string>
#include <vector>

#include "core/util/result.h"

namespace attnlab {

struct StrategyPreset {
    std::string name;
    std::vector<std::string> specs;  // "streaming:budget=25%,sink=4", in panel order
};

Result<std::vector<StrategyPreset>> loadPresets(const std::string& path);
// Written atomically; creates the folder.
Status savePresets(const std::string& path, const std::vector<StrategyPreset>& presets);
std::string defaultPresetsPath();

}  // namespace attnlab
