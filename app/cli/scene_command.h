// `attnlab-cli scene`: plan (seeded) or read a layout, edit it, render it with the trained scene
// model, export PNGs (image, masks, depth, attention maps) and print JSON (issue 10).
#pragma once

namespace attnlab::cli {

// argv[1] == "scene". Returns the exit code (0 ok, 1 failure, 2 usage); prints its own errors.
int runScene(int argc, char** argv);

// The usage lines of the command (for attnlab-cli --help).
const char* sceneUsage();

}  // namespace attnlab::cli
