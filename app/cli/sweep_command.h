// `attnlab-cli sweep`: strategies over several budgets on one task or prompt, measured against full
// (accuracy, KL, top-1, KV bytes, times), printed as a table or JSON and drawn as a chart of quality
// and decode time against KV bytes (issue 7). Also draws the committed quality-benchmark results.
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace attnlab {
class StrategyRegistry;
}

namespace attnlab::cli {

struct SweepCommandContext {
    std::string exe_path;  // where plugins and assets are looked for
    std::function<std::unique_ptr<StrategyRegistry>()> make_registry;
};

// argv[1] == "sweep". Returns the exit code (0 ok, 1 failure, 2 usage); prints its own errors.
int runSweep(int argc, char** argv, const SweepCommandContext& context);

// The usage lines of the command (for attnlab-cli --help).
const char* sweepUsage();

}  // namespace attnlab::cli
