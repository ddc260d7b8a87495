#include "core/vision/oat/npy_io.h"

#include <cstdio>
#include <cstring>
#include <fstream>

namespace attnlab::oat {

bool writeNpyFile(const std::string& path, const std::string& descr, const std::vector<int64_t>& shape,
                  const void* data, size_t bytes, std::string* error) {
    std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (";
    for (size_t i = 0; i < shape.size(); ++i) dict += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? ", " : "");
    dict += "), }";
    size_t total = 10 + dict.size() + 1;
    const size_t pad = (64 - total % 64) % 64;
    dict += std::string(pad, ' ') + "\n";
    const uint16_t header_len = static_cast<uint16_t>(dict.size());
    const std::string tmp = path + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) {
        *error = path + ": cannot open for writing";
        return false;
    }
    const char magic[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
    bool ok = std::fwrite(magic, 1, 8, f) == 8;
    const unsigned char len_bytes[2] = {static_cast<unsigned char>(header_len & 0xff),
                                        static_cast<unsigned char>(header_len >> 8)};
    ok = ok && std::fwrite(len_bytes, 1, 2, f) == 2;
    ok = ok && std::fwrite(dict.data(), 1, dict.size(), f) == dict.size();
    if (bytes > 0) ok = ok && std::fwrite(data, 1, bytes, f) == bytes;
    ok = (std::fclose(f) == 0) && ok;
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        *error = path + ": write failed (disk full?)";
        return false;
    }
    return true;
}

bool readNpyInts(const std::string& path, std::vector<int64_t>* shape, std::vector<int64_t>* values,
                 std::string* error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        *error = path + ": cannot open";
        return false;
    }
    char magic[10];
    if (!in.read(magic, 10) || std::memcmp(magic, "\x93NUMPY", 6) != 0) {
        *error = path + ": not a .npy file (bad magic)";
        return false;
    }
    size_t header_len = static_cast<unsigned char>(magic[8]) | (static_cast<unsigned char>(magic[9]) << 8);
    if (magic[6] != 1) {
        // Version 2/3: 4-byte header length.
        char more[2];
        if (!in.read(more, 2)) {
            *error = path + ": truncated header";
            return false;
        }
        header_len |= (static_cast<size_t>(static_cast<unsigned char>(more[0])) << 16) |
                      (static_cast<size_t>(static_cast<unsigned char>(more[1])) << 24);
    }
    std::string header(header_len, '\0');
    if (header_len > (1u << 20) || !in.read(&header[0], static_cast<std::streamsize>(header_len))) {
        *error = path + ": truncated or oversized header";
        return false;
    }
    auto field = [&](const char* key) -> std::string {
        const size_t k = header.find(key);
        if (k == std::string::npos) return "";
        const size_t colon = header.find(':', k);
        return colon == std::string::npos ? "" : header.substr(colon + 1);
    };
    const std::string descr_part = field("'descr'");
    const size_t q0 = descr_part.find('\'');
    const size_t q1 = q0 == std::string::npos ? q0 : descr_part.find('\'', q0 + 1);
    if (q1 == std::string::npos) {
        *error = path + ": header has no descr";
        return false;
    }
    const std::string descr = descr_part.substr(q0 + 1, q1 - q0 - 1);
    if (field("'fortran_order'").find("True") == 0 || field("'fortran_order'").find(" True") == 0) {
        *error = path + ": Fortran-order arrays are not supported";
        return false;
    }
    const std::string shape_part = field("'shape'");
    const size_t p0 = shape_part.find('('), p1 = shape_part.find(')');
    if (p0 == std::string::npos || p1 == std::string::npos) {
        *error = path + ": header has no shape";
        return false;
    }
    shape->clear();
    int64_t count = 1;
    {
        std::string dims = shape_part.substr(p0 + 1, p1 - p0 - 1);
        size_t pos = 0;
        while (pos < dims.size()) {
            while (pos < dims.size() && (dims[pos] == ' ' || dims[pos] == ',')) ++pos;
            if (pos >= dims.size()) break;
            size_t end = pos;
            while (end < dims.size() && dims[end] >= '0' && dims[end] <= '9') ++end;
            if (end == pos) {
                *error = path + ": bad shape '" + dims + "'";
                return false;
            }
            const int64_t v = std::stoll(dims.substr(pos, end - pos));
            shape->push_back(v);
            count *= v;
            pos = end;
        }
    }
    int width = 0;
    bool is_unsigned = false;
    if (descr == "<i2") width = 2;
    else if (descr == "<i4") width = 4;
    else if (descr == "<i8") width = 8;
    else if (descr == "|i1") width = 1;
    else if (descr == "|u1") width = 1, is_unsigned = true;
    else {
        *error = path + ": dtype '" + descr + "' is not a supported integer type (want <i2, <i4, <i8, |i1, |u1)";
        return false;
    }
    std::vector<char> raw(static_cast<size_t>(count) * width);
    if (!in.read(raw.data(), static_cast<std::streamsize>(raw.size()))) {
        *error = path + ": data shorter than the shape says (" + std::to_string(count) + " elements)";
        return false;
    }
    values->resize(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
        const char* p = raw.data() + i * width;
        int64_t v = 0;
        switch (width) {
            case 1: v = is_unsigned ? static_cast<int64_t>(static_cast<uint8_t>(*p)) : static_cast<int64_t>(static_cast<int8_t>(*p)); break;
            case 2: { int16_t x; std::memcpy(&x, p, 2); v = x; break; }
            case 4: { int32_t x; std::memcpy(&x, p, 4); v = x; break; }
            default: std::memcpy(&v, p, 8); break;
        }
        (*values)[i] = v;
    }
    return true;
}

}  // namespace attnlab::oat
