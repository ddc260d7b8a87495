// Memory-mapped safetensors reader and writer. See safetensors.h for the contract.
//
// Reading is defensive: the whole header is parsed and checked against the file size before a single
// TensorView points into the mapping, so a corrupt or hostile file yields an error message and never an
// out-of-bounds read. Files are treated as immutable while mapped; a file truncated by another process
// after open() can still raise SIGBUS, which no mmap reader can prevent (writeSafetensors itself never
// truncates in place, it renames a finished temp file over the target).
#include "core/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <system_error>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

namespace attnlab {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

constexpr uint64_t kLengthFieldBytes = 8;
// Same cap as the reference implementation (huggingface/safetensors, MAX_HEADER_SIZE).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// Index files are small (a few hundred KB for the largest models); the cap only stops runaway reads.
constexpr uint64_t kMaxIndexBytes = 100'000'000;
// A valid header nests three deep (header > tensor entry > shape). Deeper input is refused before
// parsing so that a hostile header cannot make the parser build a huge nesting stack.
constexpr int kMaxJsonNesting = 8;
constexpr size_t kMaxQuotedChars = 120;
constexpr size_t kMaxJsonErrorChars = 240;
constexpr size_t kMaxFilesListed = 5;

const char* const kMetadataKey = "__metadata__";
const char* const kSingleFileName = "model.safetensors";
const char* const kIndexFileName = "model.safetensors.index.json";
const char* const kConvertHint =
    "attnlab never loads pickle files because unpickling can run arbitrary code; convert the checkpoint to "
    "safetensors, e.g. in Python with transformers: "
    "AutoModelForCausalLM.from_pretrained(dir).save_pretrained(out_dir, safe_serialization=True)";

struct DTypeInfo {
    DType dtype;
    const char* name;
    size_t size_bytes;
    // Position in huggingface/safetensors' Dtype enum. Its writer lays tensors out by descending rank,
    // then by name, which keeps every tensor aligned to its element size; we copy that layout so files
    // we write are byte-identical to the reference writer's.
    int layout_rank;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::F64, "F64", 8, 12}, {DType::F32, "F32", 4, 11},  {DType::F16, "F16", 2, 7}, {DType::BF16, "BF16", 2, 8},
    {DType::I64, "I64", 8, 13}, {DType::I32, "I32", 4, 9},   {DType::I16, "I16", 2, 5}, {DType::I8, "I8", 1, 2},
    {DType::U8, "U8", 1, 1},    {DType::Bool, "BOOL", 1, 0},
};

const DTypeInfo* findDType(DType dtype) {
    for (const DTypeInfo& info : kDTypes) {
        if (info.dtype == dtype) return &info;
    }
    return nullptr;
}

const DTypeInfo* findDType(const std::string& name) {
    for (const DTypeInfo& info : kDTypes) {
        if (name == info.name) return &info;
    }
    return nullptr;
}

std::string supportedDTypeList() {
    std::string list;
    for (const DTypeInfo& info : kDTypes) {
        if (!list.empty()) list += ' ';
        list += info.name;
    }
    return list;
}

// Length of the valid UTF-8 sequence at text[i], or 0 if the bytes there are not valid UTF-8.
size_t utf8SequenceBytes(const std::string& text, size_t i) {
    const unsigned char lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) return 1;
    size_t length = 0;
    uint32_t min_code = 0;
    if ((lead & 0xe0) == 0xc0) {
        length = 2;
        min_code = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
        length = 3;
        min_code = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
        length = 4;
        min_code = 0x10000;
    } else {
        return 0;
    }
    if (i + length > text.size()) return 0;
    uint32_t code = lead & (0x7f >> length);
    for (size_t k = 1; k < length; ++k) {
        const unsigned char next = static_cast<unsigned char>(text[i + k]);
        if ((next & 0xc0) != 0x80) return 0;
        code = (code << 6) | (next & 0x3f);
    }
    const bool is_surrogate = code >= 0xd800 && code <= 0xdfff;
    const bool is_c1_control = code >= 0x80 && code <= 0x9f;  // e.g. U+009B, a one-character CSI
    if (code < min_code || code > 0x10ffff || is_surrogate || is_c1_control) return 0;
    return length;
}

// Text from a file (tensor names, JSON snippets) goes into messages quoted, shortened, and with control
// characters and invalid UTF-8 escaped as \xNN, so a hostile file cannot mangle a terminal, a log line or
// the UI, and every message is valid UTF-8.
std::string sanitized(const std::string& text, size_t max_bytes = kMaxQuotedChars) {
    static const char kHex[] = "0123456789abcdef";
    std::string out;
    size_t i = 0;
    while (i < text.size() && i < max_bytes) {
        const unsigned char c = static_cast<unsigned char>(text[i]);
        const size_t sequence_bytes = (c < 0x20 || c == 0x7f) ? 0 : utf8SequenceBytes(text, i);
        if (sequence_bytes == 0) {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
            i += 1;
        } else {
            out.append(text, i, sequence_bytes);
            i += sequence_bytes;
        }
    }
    if (i < text.size()) out += "...";
    return out;
}

std::string inQuotes(const std::string& text) { return "'" + sanitized(text) + "'"; }

std::string shortDump(const Json& value) { return sanitized(value.dump()); }

std::string shapeText(const std::vector<int64_t>& shape) {
    std::string text = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i > 0) text += ", ";
        text += std::to_string(shape[i]);
    }
    return text + "]";
}

std::string tooShortProblem(uint64_t file_bytes) {
    return "file is " + std::to_string(file_bytes) + " bytes, too short to hold the 8-byte header length (truncated?)";
}

std::string errnoText(int error_number) { return std::generic_category().message(error_number); }

std::string joinPath(const std::string& dir, const std::string& name) {
    if (dir.empty() || dir.back() == '/') return dir + name;
    return dir + "/" + name;
}

bool hasSuffix(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool isPickleFileName(const std::string& name) {
    return hasSuffix(name, ".bin") || hasSuffix(name, ".pt") || hasSuffix(name, ".pth") || hasSuffix(name, ".ckpt");
}

uint64_t readLittleEndianU64(const unsigned char* bytes) {
    uint64_t value = 0;
    for (int i = 7; i >= 0; --i) value = (value << 8) | bytes[i];
    return value;
}

void appendLittleEndianU64(std::string* out, uint64_t value) {
    for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

class FdCloser {
public:
    explicit FdCloser(int fd) : m_fd(fd) {}
    ~FdCloser() {
        if (m_fd >= 0) ::close(m_fd);
    }
    FdCloser(const FdCloser&) = delete;
    FdCloser& operator=(const FdCloser&) = delete;

private:
    int m_fd = -1;
};

// Rejects nesting deeper than kMaxJsonNesting with a linear scan; malformed JSON is left to the parser.
bool nestingWithinLimit(const char* begin, const char* end) {
    int depth = 0;
    bool is_in_string = false;
    bool is_escaped = false;
    for (const char* p = begin; p != end; ++p) {
        const char c = *p;
        if (is_in_string) {
            if (is_escaped) {
                is_escaped = false;
            } else if (c == '\\') {
                is_escaped = true;
            } else if (c == '"') {
                is_in_string = false;
            }
        } else if (c == '"') {
            is_in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > kMaxJsonNesting) return false;
        } else if ((c == '}' || c == ']') && depth > 0) {
            --depth;
        }
    }
    return true;
}

// Parses JSON text. nlohmann silently keeps the last of duplicate keys; a header with duplicates is
// ambiguous (which 'lm_head.weight' is real?), so they are refused. Returns "" or the problem.
std::string parseJson(const char* begin, const char* end, Json* out) {
    if (!nestingWithinLimit(begin, end)) {
        return "nests deeper than " + std::to_string(kMaxJsonNesting) + " levels";
    }
    std::vector<std::set<std::string>> keys_by_depth(kMaxJsonNesting + 2);
    std::string duplicate_key;
    auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
        const size_t level = static_cast<size_t>(std::max(depth, 0));
        if (event == Json::parse_event_t::object_start && level + 1 < keys_by_depth.size()) {
            keys_by_depth[level + 1].clear();
        } else if (event == Json::parse_event_t::key && level < keys_by_depth.size() && parsed.is_string()) {
            const std::string& key = parsed.get_ref<const std::string&>();
            if (!keys_by_depth[level].insert(key).second && duplicate_key.empty()) duplicate_key = key;
        }
        return true;
    };
    try {
        *out = Json::parse(begin, end, callback, /*allow_exceptions=*/true, /*ignore_comments=*/false);
    } catch (const Json::parse_error& error) {
        std::string detail = error.what();
        const size_t prefix_end = detail.find("] ");
        if (prefix_end != std::string::npos) detail = detail.substr(prefix_end + 2);
        return "is not valid JSON (" + sanitized(detail, kMaxJsonErrorChars) + ")";
    }
    if (!duplicate_key.empty()) return "has duplicate JSON key " + inQuotes(duplicate_key);
    return "";
}

std::string jsonTypeName(const Json& value) {
    if (value.is_number_integer()) return "integer";
    if (value.is_number_float()) return "number";
    return value.type_name();
}

// Reads a non-negative integer that fits `max_value`. Returns "" or the problem (`what` names the field).
std::string readCount(const Json& value, const std::string& what, uint64_t max_value, uint64_t* out) {
    if (value.is_number_unsigned()) {
        const uint64_t count = value.get<uint64_t>();
        if (count > max_value) return what + " is too large (" + std::to_string(count) + ")";
        *out = count;
        return "";
    }
    if (value.is_number_integer()) {
        const int64_t count = value.get<int64_t>();
        if (count < 0) return what + " is negative (" + std::to_string(count) + ")";
        *out = static_cast<uint64_t>(count);
        return "";
    }
    return what + " is not an integer (" + shortDump(value) + ")";
}

struct ParsedTensor {
    std::string name;
    const DTypeInfo* dtype = nullptr;
    std::vector<int64_t> shape;
    uint64_t begin_byte = 0;
    uint64_t end_byte = 0;
};

std::string parseTensorEntry(const std::string& name, const Json& entry, uint64_t data_bytes, ParsedTensor* out) {
    const std::string tensor = "tensor " + inQuotes(name);
    if (!entry.is_object()) return tensor + ": entry is a JSON " + jsonTypeName(entry) + ", not an object";

    const auto dtype_it = entry.find("dtype");
    if (dtype_it == entry.end()) return tensor + " has no \"dtype\"";
    if (!dtype_it->is_string()) return tensor + ": dtype is not a string (" + shortDump(*dtype_it) + ")";
    const std::string& dtype_name = dtype_it->get_ref<const std::string&>();
    out->dtype = findDType(dtype_name);
    if (out->dtype == nullptr) {
        return tensor + " has unsupported dtype " + inQuotes(dtype_name) + " (supported: " + supportedDTypeList() + ")";
    }

    const auto shape_it = entry.find("shape");
    if (shape_it == entry.end()) return tensor + " has no \"shape\"";
    if (!shape_it->is_array()) return tensor + ": shape is not a list (" + shortDump(*shape_it) + ")";
    uint64_t numel = 1;
    bool does_overflow = false;
    for (size_t i = 0; i < shape_it->size(); ++i) {
        uint64_t dim = 0;
        const std::string problem = readCount((*shape_it)[i], tensor + ": shape[" + std::to_string(i) + "]",
                                              static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), &dim);
        if (!problem.empty()) return problem;
        out->shape.push_back(static_cast<int64_t>(dim));
        does_overflow = does_overflow || __builtin_mul_overflow(numel, dim, &numel);
    }
    uint64_t expected_bytes = 0;
    does_overflow = does_overflow || __builtin_mul_overflow(numel, uint64_t{out->dtype->size_bytes}, &expected_bytes);
    // A zero dimension makes an overflowing prefix harmless, so only the final count decides.
    const bool has_zero_dim = std::find(out->shape.begin(), out->shape.end(), 0) != out->shape.end();
    if (has_zero_dim) {
        does_overflow = false;
        expected_bytes = 0;
    }
    if (does_overflow) {
        return tensor + ": shape " + shapeText(out->shape) + " of " + out->dtype->name +
               " overflows a 64-bit byte count";
    }

    const auto offsets_it = entry.find("data_offsets");
    if (offsets_it == entry.end()) return tensor + " has no \"data_offsets\"";
    if (!offsets_it->is_array() || offsets_it->size() != 2) {
        return tensor + ": data_offsets is not a list of two integers (" + shortDump(*offsets_it) + ")";
    }
    const uint64_t kMaxOffset = std::numeric_limits<uint64_t>::max();
    std::string problem = readCount((*offsets_it)[0], tensor + ": data_offsets[0]", kMaxOffset, &out->begin_byte);
    if (problem.empty())
        problem = readCount((*offsets_it)[1], tensor + ": data_offsets[1]", kMaxOffset, &out->end_byte);
    if (!problem.empty()) return problem;

    const std::string range = std::to_string(out->begin_byte) + ".." + std::to_string(out->end_byte);
    if (out->begin_byte > out->end_byte) return tensor + ": data_offsets " + range + " begin after they end";
    const uint64_t range_bytes = out->end_byte - out->begin_byte;
    if (range_bytes != expected_bytes) {
        return tensor + ": size mismatch, shape " + shapeText(out->shape) + " of " + out->dtype->name + " needs " +
               std::to_string(expected_bytes) + " bytes but data_offsets " + range + " span " +
               std::to_string(range_bytes);
    }
    if (out->end_byte > data_bytes) {
        return tensor + " claims bytes " + range + " but the data section has " + std::to_string(data_bytes);
    }
    out->name = name;
    return "";
}

// Validates the whole header of a mapped file and fills `tensors`/`metadata`; TensorViews are created
// only after every check passed. Returns "" or the problem (without the path prefix).
std::string parseHeader(const std::string& path, const unsigned char* file_data, uint64_t file_bytes,
                        std::map<std::string, TensorView>* tensors, std::map<std::string, std::string>* metadata) {
    if (file_bytes < kLengthFieldBytes) return tooShortProblem(file_bytes);
    const uint64_t header_bytes = readLittleEndianU64(file_data);
    if (header_bytes > file_bytes - kLengthFieldBytes) {
        return "header length " + std::to_string(header_bytes) + " runs past the end of the file (" +
               std::to_string(file_bytes) + " bytes; truncated or not a safetensors file?)";
    }
    if (header_bytes > kMaxHeaderBytes) {
        return "header length " + std::to_string(header_bytes) + " exceeds the " + std::to_string(kMaxHeaderBytes) +
               "-byte limit";
    }
    const char* header_begin = reinterpret_cast<const char*>(file_data + kLengthFieldBytes);
    const uint64_t data_offset = kLengthFieldBytes + header_bytes;
    const uint64_t data_bytes = file_bytes - data_offset;

    Json header;
    const std::string json_problem = parseJson(header_begin, header_begin + header_bytes, &header);
    if (!json_problem.empty()) return "header " + json_problem;
    if (!header.is_object()) return "header is a JSON " + jsonTypeName(header) + ", not an object";

    std::vector<ParsedTensor> parsed;
    parsed.reserve(header.size());
    for (const auto& item : header.items()) {
        if (item.key() == kMetadataKey) {
            if (item.value().is_null()) continue;  // the reference reader takes null as "no metadata"
            if (!item.value().is_object()) {
                return std::string(kMetadataKey) + " is a JSON " + jsonTypeName(item.value()) +
                       ", not an object of strings";
            }
            for (const auto& entry : item.value().items()) {
                if (!entry.value().is_string()) {
                    return std::string(kMetadataKey) + " value for " + inQuotes(entry.key()) + " is not a string (" +
                           shortDump(entry.value()) + ")";
                }
                (*metadata)[entry.key()] = entry.value().get<std::string>();
            }
            continue;
        }
        ParsedTensor tensor;
        const std::string problem = parseTensorEntry(item.key(), item.value(), data_bytes, &tensor);
        if (!problem.empty()) return problem;
        parsed.push_back(std::move(tensor));
    }

    // Empty ranges hold no bytes and cannot overlap anything.
    std::vector<const ParsedTensor*> by_offset;
    for (const ParsedTensor& tensor : parsed) {
        if (tensor.end_byte > tensor.begin_byte) by_offset.push_back(&tensor);
    }
    std::sort(by_offset.begin(), by_offset.end(), [](const ParsedTensor* a, const ParsedTensor* b) {
        return std::tie(a->begin_byte, a->end_byte, a->name) < std::tie(b->begin_byte, b->end_byte, b->name);
    });
    const ParsedTensor* furthest = nullptr;  // the range reaching furthest so far
    for (const ParsedTensor* tensor : by_offset) {
        if (furthest != nullptr && tensor->begin_byte < furthest->end_byte) {
            return "tensors " + inQuotes(furthest->name) + " (bytes " + std::to_string(furthest->begin_byte) + ".." +
                   std::to_string(furthest->end_byte) + ") and " + inQuotes(tensor->name) + " (bytes " +
                   std::to_string(tensor->begin_byte) + ".." + std::to_string(tensor->end_byte) + ") overlap";
        }
        if (furthest == nullptr || tensor->end_byte > furthest->end_byte) furthest = tensor;
    }

    const unsigned char* data_section = file_data + data_offset;
    for (ParsedTensor& tensor : parsed) {
        TensorView view;
        view.name = tensor.name;
        view.dtype = tensor.dtype->dtype;
        view.shape = std::move(tensor.shape);
        view.data = data_section + tensor.begin_byte;
        view.byte_size = tensor.end_byte - tensor.begin_byte;
        view.file = path;
        (*tensors)[tensor.name] = std::move(view);
    }
    return "";
}

// Reads a whole small file (an index) into `out`. Returns "" or the problem.
std::string readSmallFile(const std::string& path, uint64_t max_bytes, std::string* out) {
    // O_NONBLOCK: opening a FIFO planted under the expected name must not hang the caller.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return "cannot open (" + errnoText(errno) + ")";
    FdCloser closer(fd);
    struct stat info {};
    if (::fstat(fd, &info) != 0) return "cannot stat (" + errnoText(errno) + ")";
    if (!S_ISREG(info.st_mode)) return "is not a regular file";
    const uint64_t file_bytes = static_cast<uint64_t>(info.st_size);
    if (file_bytes > max_bytes) {
        return "is " + std::to_string(file_bytes) + " bytes, over the " + std::to_string(max_bytes) + "-byte limit";
    }
    out->assign(file_bytes, '\0');
    size_t done_bytes = 0;
    while (done_bytes < file_bytes) {
        const ssize_t got = ::read(fd, &(*out)[done_bytes], file_bytes - done_bytes);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return "cannot read (" + errnoText(errno) + ")";
        if (got == 0) break;
        done_bytes += static_cast<size_t>(got);
    }
    out->resize(done_bytes);
    return "";
}

std::string listNames(const std::vector<std::string>& names) {
    std::string text;
    for (size_t i = 0; i < names.size() && i < kMaxFilesListed; ++i) {
        if (i > 0) text += ", ";
        text += sanitized(names[i]);
    }
    if (names.size() > kMaxFilesListed) text += ", ... (" + std::to_string(names.size()) + " files)";
    return text;
}

// Explains why a directory has no loadable weights. Only lists names; never opens the files.
std::string describeMissingWeights(const std::string& dir) {
    namespace fs = std::filesystem;
    std::vector<std::string> pickle_names;
    std::vector<std::string> other_safetensors;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (isPickleFileName(name)) pickle_names.push_back(name);
        if (hasSuffix(name, ".safetensors")) other_safetensors.push_back(name);
    }
    std::sort(pickle_names.begin(), pickle_names.end());
    std::sort(other_safetensors.begin(), other_safetensors.end());
    const std::string expected = std::string("expected ") + kSingleFileName + " or " + kIndexFileName;
    if (!other_safetensors.empty()) {
        return dir + ": no checkpoint weights found (" + expected + "; found " + listNames(other_safetensors) + ")";
    }
    if (!pickle_names.empty()) {
        return dir + ": only pickle checkpoints found (" + listNames(pickle_names) + "), no safetensors; " +
               kConvertHint;
    }
    return dir + ": no checkpoint weights found (" + expected + ")";
}

bool entryExists(const std::string& path) {
    std::error_code ec;
    return std::filesystem::symlink_status(path, ec).type() != std::filesystem::file_type::not_found && !ec;
}

// Opens every shard named by a model.safetensors.index.json once, and checks that each tensor the index
// lists is present in its shard. Returns "" or the full error message.
std::string openShards(const std::string& dir, std::vector<std::shared_ptr<SafetensorsFile>>* files) {
    const std::string index_path = joinPath(dir, kIndexFileName);
    auto fail = [&](const std::string& problem) { return index_path + ": " + problem; };

    std::string text;
    std::string problem = readSmallFile(index_path, kMaxIndexBytes, &text);
    if (!problem.empty()) return fail(problem);
    Json index;
    problem = parseJson(text.data(), text.data() + text.size(), &index);
    if (!problem.empty()) return fail("index " + problem);
    if (!index.is_object()) return fail("index is a JSON " + jsonTypeName(index) + ", not an object");
    const auto map_it = index.find("weight_map");
    if (map_it == index.end() || !map_it->is_object()) return fail("index has no \"weight_map\" object");
    if (map_it->empty()) return fail("index weight_map lists no tensors");

    std::map<std::string, std::vector<std::string>> tensors_by_shard;
    for (const auto& item : map_it->items()) {
        const std::string tensor = "tensor " + inQuotes(item.key());
        if (!item.value().is_string()) {
            return fail("weight_map entry for " + tensor + " is not a file name (" + shortDump(item.value()) + ")");
        }
        const std::string& shard = item.value().get_ref<const std::string&>();
        // Shards live next to the index: a path could reach outside the checkpoint directory.
        if (shard.empty() || shard == "." || shard == ".." || shard.find('/') != std::string::npos ||
            shard.find('\\') != std::string::npos || shard.find('\0') != std::string::npos) {
            return fail("shard " + inQuotes(shard) + " for " + tensor +
                        " is not a plain file name in the checkpoint directory");
        }
        if (isPickleFileName(shard)) {
            return fail(tensor + " maps to pickle file " + inQuotes(shard) + "; " + kConvertHint);
        }
        tensors_by_shard[shard].push_back(item.key());
    }

    for (const auto& [shard, tensors] : tensors_by_shard) {
        const std::string shard_path = joinPath(dir, shard);
        if (!entryExists(shard_path)) {
            return fail("shard " + inQuotes(shard) + " (listed for tensor " + inQuotes(tensors.front()) +
                        ") does not exist");
        }
        Result<std::shared_ptr<SafetensorsFile>> file = SafetensorsFile::open(shard_path);
        if (!file) return file.error();
        for (const std::string& name : tensors) {
            if (file.value()->find(name) == nullptr) {
                return fail("lists tensor " + inQuotes(name) + " in shard " + inQuotes(shard) +
                            ", but that shard has no such tensor");
            }
        }
        files->push_back(file.value());
    }
    return "";
}

Status writeAll(int fd, const char* bytes, size_t byte_count) {
    while (byte_count > 0) {
        const ssize_t written = ::write(fd, bytes, byte_count);
        if (written < 0 && errno == EINTR) continue;
        if (written < 0) return Status::fail(errnoText(errno));
        bytes += written;
        byte_count -= static_cast<size_t>(written);
    }
    return Status::ok();
}

}  // namespace

const char* dtypeName(DType dtype) {
    const DTypeInfo* info = findDType(dtype);
    return info != nullptr ? info->name : "INVALID";
}

size_t dtypeSize(DType dtype) {
    const DTypeInfo* info = findDType(dtype);
    return info != nullptr ? info->size_bytes : 0;
}

// -1 for a shape no real tensor has (a negative dimension, or a count past int64); views that come
// from SafetensorsFile never do.
int64_t TensorView::numel() const {
    int64_t count = 1;
    for (int64_t dim : shape) {
        if (dim < 0 || __builtin_mul_overflow(count, dim, &count)) return -1;
    }
    return count;
}

SafetensorsFile::~SafetensorsFile() {
    if (m_map != nullptr) ::munmap(m_map, m_map_bytes);
}

Result<std::shared_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
    using FileResult = Result<std::shared_ptr<SafetensorsFile>>;
    auto fail = [&](const std::string& problem) { return FileResult::fail(path + ": " + problem); };
    try {
        // O_NONBLOCK: opening a FIFO planted under the expected name must not hang the caller.
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) return fail("cannot open (" + errnoText(errno) + ")");
        FdCloser closer(fd);
        struct stat info {};
        if (::fstat(fd, &info) != 0) return fail("cannot stat (" + errnoText(errno) + ")");
        if (!S_ISREG(info.st_mode)) return fail("is not a regular file");
        const uint64_t file_bytes = static_cast<uint64_t>(info.st_size);
        if (file_bytes < kLengthFieldBytes) return fail(tooShortProblem(file_bytes));  // mmap needs bytes

        std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
        file->m_path = path;
        void* map = ::mmap(nullptr, file_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) return fail("cannot map the file (" + errnoText(errno) + ")");
        file->m_map = map;  // owned from here on: the destructor unmaps on every error path below
        file->m_map_bytes = file_bytes;

        const std::string problem =
            parseHeader(path, static_cast<const unsigned char*>(map), file_bytes, &file->m_tensors, &file->m_metadata);
        if (!problem.empty()) return fail(problem);
        return file;
    } catch (const std::bad_alloc&) {
        return fail("out of memory while reading the header");
    } catch (const std::exception& error) {
        return fail(std::string("cannot read the header (") + sanitized(error.what()) + ")");
    }
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
    const auto it = m_tensors.find(name);
    return it != m_tensors.end() ? &it->second : nullptr;
}

std::vector<std::string> SafetensorsFile::names() const {
    std::vector<std::string> names;
    names.reserve(m_tensors.size());
    for (const auto& item : m_tensors) names.push_back(item.first);
    return names;
}

Result<Checkpoint> Checkpoint::open(const std::string& dir) {
    namespace fs = std::filesystem;
    try {
        std::error_code ec;
        const fs::file_status dir_status = fs::status(dir, ec);
        if (dir_status.type() == fs::file_type::not_found) {
            return Result<Checkpoint>::fail(dir + ": checkpoint directory does not exist");
        }
        if (ec) return Result<Checkpoint>::fail(dir + ": cannot access (" + ec.message() + ")");
        if (!fs::is_directory(dir_status)) {
            return Result<Checkpoint>::fail(dir + ": is not a directory (expected a checkpoint directory with " +
                                            kSingleFileName + ")");
        }

        Checkpoint checkpoint;
        checkpoint.m_dir = dir;
        // Same preference as transformers: the single file wins over an index.
        const std::string single_path = joinPath(dir, kSingleFileName);
        if (entryExists(single_path)) {
            Result<std::shared_ptr<SafetensorsFile>> file = SafetensorsFile::open(single_path);
            if (!file) return file.status();
            checkpoint.m_files.push_back(file.value());
        } else if (entryExists(joinPath(dir, kIndexFileName))) {
            const std::string problem = openShards(dir, &checkpoint.m_files);
            if (!problem.empty()) return Result<Checkpoint>::fail(problem);
        } else {
            return Result<Checkpoint>::fail(describeMissingWeights(dir));
        }

        for (const std::shared_ptr<SafetensorsFile>& file : checkpoint.m_files) {
            for (const std::string& name : file->names()) {
                const TensorView* view = file->find(name);
                const auto inserted = checkpoint.m_index.emplace(name, view);
                if (!inserted.second) {
                    return Result<Checkpoint>::fail(dir + ": tensor " + inQuotes(name) + " is in two shards, " +
                                                    inserted.first->second->file + " and " + file->path());
                }
            }
        }
        return checkpoint;
    } catch (const std::bad_alloc&) {
        return Result<Checkpoint>::fail(dir + ": out of memory while opening the checkpoint");
    } catch (const std::exception& error) {
        return Result<Checkpoint>::fail(dir + ": cannot open the checkpoint (" + sanitized(error.what()) + ")");
    }
}

const TensorView* Checkpoint::find(const std::string& name) const {
    const auto it = m_index.find(name);
    return it != m_index.end() ? it->second : nullptr;
}

std::vector<std::string> Checkpoint::names() const {
    std::vector<std::string> names;
    names.reserve(m_index.size());
    for (const auto& item : m_index) names.push_back(item.first);
    return names;
}

Status writeSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata) {
    auto fail = [&](const std::string& problem) { return Status::fail(path + ": " + problem); };
    try {
        std::set<std::string> seen_names;
        for (const TensorToWrite& tensor : tensors) {
            const std::string label = "tensor " + inQuotes(tensor.name);
            const DTypeInfo* dtype = findDType(tensor.dtype);
            if (dtype == nullptr) return fail(label + " has no valid dtype");
            if (tensor.name == kMetadataKey) return fail(std::string("a tensor cannot be named ") + kMetadataKey);
            if (!seen_names.insert(tensor.name).second) return fail(label + " is listed twice");
            uint64_t expected_bytes = dtype->size_bytes;
            bool does_overflow = false;
            for (int64_t dim : tensor.shape) {
                if (dim < 0) return fail(label + " has a negative dimension in shape " + shapeText(tensor.shape));
                const uint64_t extent = static_cast<uint64_t>(dim);
                does_overflow = does_overflow || __builtin_mul_overflow(expected_bytes, extent, &expected_bytes);
            }
            const bool has_zero_dim = std::find(tensor.shape.begin(), tensor.shape.end(), 0) != tensor.shape.end();
            if (has_zero_dim) {
                expected_bytes = 0;
            } else if (does_overflow) {
                return fail(label + ": shape " + shapeText(tensor.shape) + " is too large");
            }
            if (expected_bytes != tensor.byte_size) {
                return fail(label + ": shape " + shapeText(tensor.shape) + " of " + dtype->name + " needs " +
                            std::to_string(expected_bytes) + " bytes but byte_size is " +
                            std::to_string(tensor.byte_size));
            }
            if (tensor.byte_size > 0 && tensor.data == nullptr) return fail(label + " has no data");
        }

        std::vector<const TensorToWrite*> layout;
        for (const TensorToWrite& tensor : tensors) layout.push_back(&tensor);
        std::sort(layout.begin(), layout.end(), [](const TensorToWrite* a, const TensorToWrite* b) {
            const int a_rank = findDType(a->dtype)->layout_rank;
            const int b_rank = findDType(b->dtype)->layout_rank;
            return a_rank != b_rank ? a_rank > b_rank : a->name < b->name;
        });

        // Key order as the reference writer: __metadata__ first, then tensors in data order.
        OrderedJson header = OrderedJson::object();
        if (!metadata.empty()) {
            OrderedJson metadata_json = OrderedJson::object();
            for (const auto& [key, value] : metadata) metadata_json[key] = value;
            header[kMetadataKey] = std::move(metadata_json);
        }
        uint64_t offset = 0;
        for (const TensorToWrite* tensor : layout) {
            uint64_t end = 0;
            if (__builtin_add_overflow(offset, tensor->byte_size, &end)) return fail("total size is too large");
            OrderedJson entry = OrderedJson::object();
            entry["dtype"] = dtypeName(tensor->dtype);
            entry["shape"] = tensor->shape;
            entry["data_offsets"] = OrderedJson::array({offset, end});
            header[tensor->name] = std::move(entry);
            offset = end;
        }
        std::string header_text;
        try {
            header_text = header.dump();
        } catch (const OrderedJson::type_error&) {
            return fail("a tensor name or metadata string is not valid UTF-8");
        }
        // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
        header_text.append((8 - header_text.size() % 8) % 8, ' ');

        std::string prefix;
        appendLittleEndianU64(&prefix, header_text.size());
        prefix += header_text;

        // Write a temp file and rename it over the target: a reader that still maps the old file keeps a
        // valid mapping (truncating in place would SIGBUS it), and a failed write leaves no half file.
        static std::atomic<unsigned> temp_counter{0};
        const std::string temp_path =
            path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(temp_counter.fetch_add(1));
        const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) return fail("cannot create " + temp_path + " (" + errnoText(errno) + ")");
        Status written = writeAll(fd, prefix.data(), prefix.size());
        for (const TensorToWrite* tensor : layout) {
            if (!written.isOk()) break;
            written = writeAll(fd, static_cast<const char*>(tensor->data), tensor->byte_size);
        }
        const bool is_closed = ::close(fd) == 0;
        if (written.isOk() && !is_closed) written = Status::fail(errnoText(errno));
        if (written.isOk() && ::rename(temp_path.c_str(), path.c_str()) != 0) {
            written = Status::fail("rename from " + temp_path + " failed: " + errnoText(errno));
        }
        if (!written.isOk()) {
            ::unlink(temp_path.c_str());
            return fail("cannot write (" + written.error() + ")");
        }
        return Status::ok();
    } catch (const std::bad_alloc&) {
        return fail("out of memory while writing");
    } catch (const std::exception& error) {
        return fail(std::string("cannot write (") + sanitized(error.what()) + ")");
    }
}

}  // namespace attnlab
