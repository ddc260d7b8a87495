#include "core/export/npy.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/session/session_store.h"
#include "core/util/files.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the .npy writer writes host bytes as little-endian");

namespace attnlab {

namespace {

struct DescrEntry {
    const char* dtype;
    const char* descr;
};

constexpr DescrEntry kDescrs[] = {
    {"F64", "<f8"}, {"F32", "<f4"}, {"F16", "<f2"}, {"BF16", "<f4"}, {"I64", "<i8"},
    {"I32", "<i4"}, {"I16", "<i2"}, {"I8", "|i1"},  {"U8", "|u1"},   {"BOOL", "|b1"},
};

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kAlignBytes = 64;

}  // namespace

Result<std::string> npyDescr(const std::string& dtype) {
    for (const DescrEntry& entry : kDescrs) {
        if (dtype == entry.dtype) return std::string(entry.descr);
    }
    return Result<std::string>::fail("dtype '" + dtype + "' is not a numeric array type and cannot be written as .npy");
}

std::string npyHeader(const std::string& descr, const std::vector<int64_t>& shape) {
    std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (";
    for (size_t i = 0; i < shape.size(); ++i) {
        dict += std::to_string(shape[i]);
        if (shape.size() == 1 || i + 1 < shape.size()) dict += ",";
        if (i + 1 < shape.size()) dict += " ";
    }
    dict += "), }";
    const size_t prefix_bytes = 6 + 2 + 2;          // magic, version 1.0, uint16 header length
    size_t total = prefix_bytes + dict.size() + 1;  // + '\n'
    const size_t padding = (kAlignBytes - total % kAlignBytes) % kAlignBytes;
    dict.append(padding, ' ');
    dict += '\n';
    const size_t header_bytes = dict.size();
    std::string out(kMagic, 6);
    out += '\x01';
    out += '\x00';
    out += static_cast<char>(header_bytes & 0xff);
    out += static_cast<char>((header_bytes >> 8) & 0xff);
    return out + dict;
}

Status writeNpy(const std::string& path, const std::string& dtype, const std::vector<int64_t>& shape, const void* data,
                size_t bytes) {
    Result<std::string> descr = npyDescr(dtype);
    if (!descr) return Status::fail(path + ": " + descr.error());
    uint64_t numel = 1;
    for (int64_t dim : shape) {
        if (dim < 0) return Status::fail(path + ": negative dimension in shape");
        numel *= static_cast<uint64_t>(dim);
    }
    const size_t element_bytes = blobDtypeSize(dtype);
    if (numel * element_bytes != bytes) {
        return Status::fail(path + ": " + std::to_string(bytes) + " bytes do not match dtype " + dtype + " and shape");
    }
    const std::string header = npyHeader(*descr, shape);
    if (header.size() > 65535 + 10) return Status::fail(path + ": the array has too many dimensions for .npy 1.0");

    return writeFileAtomically(path, [&](std::FILE* file) {
        bool is_ok = std::fwrite(header.data(), 1, header.size(), file) == header.size();
        if (dtype == "BF16") {
            // bfloat16 is the top half of a float32: widen exactly.
            const auto* halves = static_cast<const uint16_t*>(data);
            std::vector<float> chunk;
            for (uint64_t start = 0; is_ok && start < numel; start += 65536) {
                const uint64_t count = std::min<uint64_t>(65536, numel - start);
                chunk.resize(count);
                for (uint64_t i = 0; i < count; ++i) {
                    const uint32_t bits = static_cast<uint32_t>(halves[start + i]) << 16;
                    std::memcpy(&chunk[i], &bits, sizeof(bits));
                }
                is_ok = std::fwrite(chunk.data(), sizeof(float), count, file) == count;
            }
        } else if (bytes > 0) {
            is_ok = is_ok && std::fwrite(data, 1, bytes, file) == bytes;
        }
        return is_ok;
    });
}

}  // namespace attnlab
