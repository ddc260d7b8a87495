// Removes a directory tree (the tests' temporary folders) with POSIX nftw instead of
// std::filesystem::remove_all: PyTorch's libtorch.so (the LibTorch of the CUDA build) exports its own
// copy of std::filesystem::remove_all, which won symbol resolution in the test processes there and
// called a null function pointer (SIGSEGV in every test that removed a temporary folder).
#pragma once

#include <ftw.h>

#include <cstdio>
#include <string>

namespace attnlab::test {

inline void removeTree(const std::string& path) {
    if (path.empty()) return;
    nftw(
        path.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return std::remove(p); }, 16,
        FTW_DEPTH | FTW_PHYS);
}

}  // namespace attnlab::test
