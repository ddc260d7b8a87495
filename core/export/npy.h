// NumPy .npy writer (format version 1.0), readable by numpy.load: little-endian data in C order, the
// header dict padded with spaces so the data starts at a multiple of 64 bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/util/result.h"

namespace attnlab {

// NumPy descr for a blob dtype name: F64 '<f8', F32 '<f4', F16 '<f2', I64 '<i8', I32 '<i4', I16 '<i2',
// I8 '|i1', U8 '|u1', BOOL '|b1'. BF16 has no NumPy type: writeNpy widens it to '<f4' (exact).
// Fails for any other name.
Result<std::string> npyDescr(const std::string& dtype);

// Magic, version, header length and the padded header dict, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
std::string npyHeader(const std::string& descr, const std::vector<int64_t>& shape);

// Writes `bytes` bytes of `dtype` data with `shape` to `path` (through a temporary file renamed into
// place, so a failed write leaves no partial .npy). bytes must equal product(shape) * element size.
Status writeNpy(const std::string& path, const std::string& dtype, const std::vector<int64_t>& shape, const void* data,
                size_t bytes);

}  // namespace attnlab
