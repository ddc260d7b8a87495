// The kernels' environment switches: NAME=0 turns a kernel path off (the other path runs instead).
// Host side; callers keep the answer in a static, so each switch is read once per process.
#pragma once

#include <cstdlib>
#include <cstring>

namespace attnlab::kernels {

inline bool switchedOff(const char* name) {
    const char* env = std::getenv(name);
    return env && std::strcmp(env, "0") == 0;
}

}  // namespace attnlab::kernels
