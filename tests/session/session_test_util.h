// Helpers shared by the session tests and the session_writer helper program (no GoogleTest here):
// deterministic test runs, record comparison, temporary folders, file hashes.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/session/session_store.h"
#include "tests/remove_tree.h"

namespace attnlab::test {

// A run whose every field is a function of (seed, seq); spec_json carries both so a reader can rebuild
// the expected record from the stored one. Blob sizes are at most max_blob_bytes each.
inline RunRecord makeTestRun(uint64_t seed, int64_t seq, size_t max_blob_bytes = 16384) {
    std::mt19937_64 rng(seed * 1000003ULL + static_cast<uint64_t>(seq) * 7919ULL + 17);
    auto pick = [&](uint64_t n) { return static_cast<int64_t>(rng() % n); };
    static const char* kStrategies[] = {"full", "snapkv:budget=1024,window=32", "streamingllm:sink=4,window=256",
                                        "duo:ratio=0.5", "quest:page=16,budget=512"};
    static const char* kMetrics[] = {"ttft_ms",  "decode_ms", "tokens_per_s", "kv_bytes", "kv_peak_bytes",
                                     "accuracy", "rouge_l",   "ppl",          "id",       "a,b \"quoted\""};
    static const char* kTags[] = {"baseline", "paper", "sweep-1", "long context", "ünïcode"};
    RunRecord run;
    run.name = pick(3) == 0 ? "" : "run " + std::to_string(seq);
    run.strategy = kStrategies[pick(5)];
    run.spec_json = "{\"seed\":" + std::to_string(seed) + ",\"seq\":" + std::to_string(seq) +
                    ",\"prompt\":\"Hello, \\\"world\\\"\\n\",\"strategy\":\"" + run.strategy +
                    "\",\"max_new_tokens\":" + std::to_string(pick(500)) + "}";
    run.status = pick(5) == 0 ? "failed" : "ok";
    run.started_unix_ms = 1700000000000LL + seq * 1000 + pick(1000);
    run.ended_unix_ms = pick(4) == 0 ? 0 : run.started_unix_ms + pick(100000);
    run.device = pick(2) ? "cpu" : "cuda:0 (NVIDIA H200)";
    run.versions_json = "{\"attnlab\":\"0.1.0\",\"libtorch\":\"1.13.1\"}";
    if (pick(4) != 0) {
        run.model.path = "/models/tiny-" + std::to_string(pick(3));
        run.model.architecture = "LlamaForCausalLM";
        run.model.content_hash = "sha256:" + std::to_string(pick(2));
    }
    run.prompt_ids.resize(static_cast<size_t>(pick(64)));
    for (int32_t& id : run.prompt_ids) id = static_cast<int32_t>(rng() % 200000) - 100;
    run.output_ids.resize(static_cast<size_t>(pick(64)));
    for (int32_t& id : run.output_ids) id = static_cast<int32_t>(rng() % 200000);
    run.output_text = "out " + std::to_string(seq) + ", with \"quotes\",\r\nnewlines and ünïcode ✓";
    const int metric_count = static_cast<int>(pick(8));
    for (int i = 0; i < metric_count; ++i) {
        double value = static_cast<double>(rng() % 1000000) / 7.0 - 1000.0;
        const int64_t special = pick(12);
        if (special == 0) value = std::nan("");
        if (special == 1) value = INFINITY;
        if (special == 2) value = -INFINITY;
        if (special == 3) value = 0.1;
        run.metrics[kMetrics[pick(10)]] = value;
    }
    const int blob_count = static_cast<int>(pick(5));
    for (int i = 0; i < blob_count; ++i) {
        BlobRecord blob;
        blob.name = "attn_l" + std::to_string(i) + "_h" + std::to_string(pick(8));
        const int64_t kind = pick(5);
        const size_t budget = 1 + static_cast<size_t>(rng() % (max_blob_bytes + 1));
        if (kind == 0 || kind == 1) {
            blob.dtype = "F32";
            const int64_t rows = 1 + pick(8);
            blob.shape = {rows, std::max<int64_t>(0, static_cast<int64_t>(budget / 4 / rows))};
        } else if (kind == 2) {
            blob.dtype = "I64";
            blob.shape = {static_cast<int64_t>(budget / 8)};
        } else if (kind == 3) {
            blob.dtype = "BOOL";
            blob.shape = {2, static_cast<int64_t>(budget / 2)};
        } else {
            blob.name = "trace/" + blob.name;
            blob.dtype = "json";
            blob.shape = {static_cast<int64_t>(budget)};
        }
        size_t bytes = blob.dtype == "json" ? budget : blobDtypeSize(blob.dtype);
        if (blob.dtype != "json") {
            for (int64_t dim : blob.shape) bytes *= static_cast<size_t>(dim);
        }
        blob.bytes.resize(bytes);
        // Half compressible (repeating), half noise.
        const bool is_noise = pick(2) == 0;
        for (size_t b = 0; b < bytes; ++b) {
            blob.bytes[b] = is_noise ? static_cast<uint8_t>(rng()) : static_cast<uint8_t>((b * 7) % 13);
        }
        if (blob.dtype == "BOOL") {
            for (uint8_t& v : blob.bytes) v &= 1;
        }
        run.blobs.push_back(std::move(blob));
    }
    for (int i = 0; i < 5; ++i) {
        if (pick(3) == 0) run.tags.push_back(kTags[i]);
    }
    run.note = pick(2) ? "" : "note for " + std::to_string(seq);
    return run;
}

inline bool sameDouble(double a, double b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    return a == b;
}

// "" when `loaded` holds exactly what `saved` held (ids and the model id are not compared; tags as a set).
inline std::string runDifference(const RunRecord& saved, const RunRecord& loaded) {
    if (saved.name != loaded.name) return "name";
    if (saved.spec_json != loaded.spec_json) return "spec_json";
    if (saved.strategy != loaded.strategy) return "strategy";
    if (saved.status != loaded.status) return "status";
    if (saved.started_unix_ms != loaded.started_unix_ms) return "started_unix_ms";
    if (saved.ended_unix_ms != loaded.ended_unix_ms) return "ended_unix_ms";
    if (saved.device != loaded.device) return "device";
    if (saved.versions_json != loaded.versions_json) return "versions_json";
    if (saved.model.path != loaded.model.path) return "model.path";
    if (saved.model.architecture != loaded.model.architecture && !saved.model.path.empty()) return "model.architecture";
    if (saved.model.content_hash != loaded.model.content_hash) return "model.content_hash";
    if (saved.prompt_ids != loaded.prompt_ids) return "prompt_ids";
    if (saved.output_ids != loaded.output_ids) return "output_ids";
    if (saved.output_text != loaded.output_text) return "output_text";
    if (saved.metrics.size() != loaded.metrics.size()) return "metric count";
    for (auto a = saved.metrics.begin(), b = loaded.metrics.begin(); a != saved.metrics.end(); ++a, ++b) {
        if (a->first != b->first || !sameDouble(a->second, b->second)) return "metric " + a->first;
    }
    if (saved.blobs.size() != loaded.blobs.size()) return "blob count";
    for (size_t i = 0; i < saved.blobs.size(); ++i) {
        const BlobRecord& a = saved.blobs[i];
        const BlobRecord& b = loaded.blobs[i];
        if (a.name != b.name || a.dtype != b.dtype || a.shape != b.shape || a.bytes != b.bytes) return "blob " + a.name;
    }
    std::vector<std::string> tags = saved.tags;
    std::sort(tags.begin(), tags.end());
    tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
    if (tags != loaded.tags) return "tags";
    if (saved.note != loaded.note) return "note";
    return "";
}

// Reads "seed" and "seq" back from a spec written by makeTestRun.
inline bool specSeedSeq(const std::string& spec_json, uint64_t* seed, int64_t* seq) {
    const size_t seed_at = spec_json.find("\"seed\":");
    const size_t seq_at = spec_json.find("\"seq\":");
    if (seed_at == std::string::npos || seq_at == std::string::npos) return false;
    *seed = std::strtoull(spec_json.c_str() + seed_at + 7, nullptr, 10);
    *seq = std::strtoll(spec_json.c_str() + seq_at + 6, nullptr, 10);
    return true;
}

inline std::string readFileBytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline void writeFileBytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// FNV-1a 64 of the file's bytes plus its size; "missing" if it cannot be read.
inline std::string fileHash(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return "missing";
    const std::string bytes = readFileBytes(path);
    uint64_t hash = 1469598103934665603ULL;
    for (unsigned char c : bytes) hash = (hash ^ c) * 1099511628211ULL;
    return std::to_string(bytes.size()) + ":" + std::to_string(hash);
}

inline bool pathExists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

// A fresh directory under the system temp folder, removed when the object dies.
class TempDir {
public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "attnlab-session-XXXXXX").string();
        std::vector<char> buf(pattern.begin(), pattern.end());
        buf.push_back('\0');
        const char* made = mkdtemp(buf.data());
        m_path = made != nullptr ? made : "";
    }
    ~TempDir() { removeTree(m_path); }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return m_path; }
    std::string file(const std::string& name) const { return m_path + "/" + name; }

private:
    std::string m_path;
};

}  // namespace attnlab::test
