// Memory-mapped safetensors reader (Qt-free, torch-free).
// The header is validated completely before any tensor data is touched: length bound, JSON,
// dtype names, shape x dtype size == byte range, ranges inside the data section, no overlaps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/util/result.h"

namespace attnlab {

enum class DType { Invalid = 0, F32, F16, BF16, F64, I64, I32, I16, I8, U8, Bool };

const char* dtypeName(DType dtype);       // "F32", "BF16", ...
size_t dtypeSize(DType dtype);            // bytes per element, 0 for Invalid

struct TensorView {
    std::string name;
    DType dtype = DType::Invalid;
    std::vector<int64_t> shape;
    const void* data = nullptr;  // points into the mapping; valid while the owning file lives
    uint64_t byte_size = 0;
    std::string file;            // path of the file that holds it (for error messages)
    int64_t numel() const;
};

// One .safetensors file, mapped read-only. Thread-safe for reads.
class SafetensorsFile {
public:
    ~SafetensorsFile();
    SafetensorsFile(const SafetensorsFile&) = delete;
    SafetensorsFile& operator=(const SafetensorsFile&) = delete;

    static Result<std::shared_ptr<SafetensorsFile>> open(const std::string& path);

    const std::string& path() const { return m_path; }
    const TensorView* find(const std::string& name) const;  // nullptr if absent
    std::vector<std::string> names() const;                 // sorted
    const std::map<std::string, std::string>& metadata() const { return m_metadata; }

private:
    SafetensorsFile() = default;
    std::string m_path;
    void* m_map = nullptr;
    size_t m_map_bytes = 0;
    std::map<std::string, TensorView> m_tensors;
    std::map<std::string, std::string> m_metadata;
};

// All weights of a checkpoint directory: model.safetensors, or the shards listed by
// model.safetensors.index.json. Pickle formats (.bin/.pt/.pth) are refused, never loaded.
class Checkpoint {
public:
    static Result<Checkpoint> open(const std::string& dir);

    const TensorView* find(const std::string& name) const;  // nullptr if absent
    std::vector<std::string> names() const;
    const std::string& dir() const { return m_dir; }

private:
    std::string m_dir;
    std::vector<std::shared_ptr<SafetensorsFile>> m_files;
    std::map<std::string, const TensorView*> m_index;
};

// Writes a safetensors file (used by tests to make corrupt/edge-case files and by exporters).
struct TensorToWrite {
    std::string name;
    DType dtype = DType::Invalid;
    std::vector<int64_t> shape;
    const void* data = nullptr;
    uint64_t byte_size = 0;
};
Status writeSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata = {});

}  // namespace attnlab
