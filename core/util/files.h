// Small file-system helpers shared by core, the CLI, the app and the benchmarks. Torch-free.
#pragma once

#include <cstdio>
#include <functional>
#include <string>

#include "core/util/result.h"

namespace attnlab {

// The running executable's path (/proc/self/exe), or `fallback` when it cannot be read. Plugins,
// task specs and bundled models are found relative to it.
std::string executablePath(const std::string& fallback = "");

// Writes a file through a temporary file renamed into place, so readers never see half a file.
// `write` returns false on a failed write; the error names the path (and a full disk as such).
Status writeFileAtomically(const std::string& path, const std::function<bool(std::FILE*)>& write);

}  // namespace attnlab
