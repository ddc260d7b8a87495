// Minimal .npy (version 1.0, C order, little-endian) writer and integer reader for the OAT data
// tool. Self-contained (the tool is also built with a bare g++ line on the GPU machine, without
// attnlab_base).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attnlab::oat {

// descr: '<f4', '<i2', '<i8', '|u1', ... Returns false and sets *error (naming the file) on failure.
bool writeNpyFile(const std::string& path, const std::string& descr, const std::vector<int64_t>& shape,
                  const void* data, size_t bytes, std::string* error);

// Reads an integer array ('<i2', '<i4', '<i8', '|i1', '|u1') into int64 values.
bool readNpyInts(const std::string& path, std::vector<int64_t>* shape, std::vector<int64_t>* values,
                 std::string* error);

}  // namespace attnlab::oat
