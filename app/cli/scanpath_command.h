// `attnlab-cli scanpath`: generate a search display from a seed/regime/set size, run the OAT-lite
// model (greedy, MBR or sampled decoding) beside the simulated subjects and the baselines, print
// JSON and export a PNG of the display with the scanpaths (issue 9).
#pragma once

namespace attnlab::cli {

// argv[1] == "scanpath". Returns the exit code (0 ok, 1 failure, 2 usage); prints its own errors.
int runScanpath(int argc, char** argv);

// The usage lines of the command (for attnlab-cli --help).
const char* scanpathUsage();

}  // namespace attnlab::cli
