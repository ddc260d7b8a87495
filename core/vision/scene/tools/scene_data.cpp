// attnlab-scene-data: writes CLEVR-like training data compactly for the Python recipe.
// Depends on scene.cpp and OpenCV core + imgproc only, so it also builds with a direct g++ command
// (see assets/models/scene/recipe/train_gpu.sh).
//
//   attnlab-scene-data --out DIR --seed-start S --count N [--min-objects 1] [--max-objects 6]
//                      [--amodal] [--threads T]
//   attnlab-scene-data --out DIR --layouts TOKENS_FILE [--amodal] [--threads T]
//
// Files written to DIR (N scenes, K = 8 object slots, 64x64 images, little-endian raw arrays):
//   images.u8   N*64*64*3  RGB
//   inst.u8     N*64*64    0 = background, i+1 = i-th object back to front (its visible mask)
//   tokens.u8   N*K*6      shape, colour, size, material, qx, qy (back to front); 255 = empty slot
//   pos.f32     N*K*2      continuous ground position (u, v); 0 for empty slots
//   counts.u8   N          number of objects
//   amodal.u8   N*K*512    (with --amodal) amodal masks, 64x64 bits packed MSB first per row-major byte
//   meta.json   shapes and the generation parameters
// --layouts reads a tokens file in the same N*K*6 format (e.g. planner samples) and renders it with
// the same rasteriser; objects are re-sorted back to front, and the written tokens follow that order.
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <vector>

#include "core/vision/scene/scene.h"

using namespace attnlab::scene;

namespace {

constexpr int K = kMaxObjects;
constexpr int P = kImageSize * kImageSize;

[[noreturn]] void fail(const std::string& msg) {
    std::fprintf(stderr, "attnlab-scene-data: %s\n", msg.c_str());
    std::exit(2);
}

void writeFile(const std::string& path, const void* data, size_t bytes) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) fail("cannot write " + path + ": " + std::strerror(errno));
    if (bytes && std::fwrite(data, 1, bytes, f) != bytes) fail("short write to " + path);
    if (std::fclose(f) != 0) fail("cannot close " + path);
}

long parseLong(const std::string& flag, const char* s) {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(s, &end, 10);
    if (errno || !end || *end || end == s) fail("bad integer for " + flag + ": '" + s + "'");
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    std::string out, layouts_path;
    long seed_start = 0, count = -1, threads = std::thread::hardware_concurrency();
    bool amodal = false;
    GeneratorOptions opts;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto val = [&]() -> const char* {
            if (i + 1 >= argc) fail("missing value after " + a);
            return argv[++i];
        };
        if (a == "--out") out = val();
        else if (a == "--seed-start") seed_start = parseLong(a, val());
        else if (a == "--count") count = parseLong(a, val());
        else if (a == "--min-objects") opts.min_objects = int(parseLong(a, val()));
        else if (a == "--max-objects") opts.max_objects = int(parseLong(a, val()));
        else if (a == "--threads") threads = parseLong(a, val());
        else if (a == "--layouts") layouts_path = val();
        else if (a == "--amodal") amodal = true;
        else if (a == "-h" || a == "--help") {
            std::printf("usage: attnlab-scene-data --out DIR (--seed-start S --count N | --layouts FILE)\n"
                        "       [--min-objects A] [--max-objects B] [--amodal] [--threads T]\n");
            return 0;
        } else fail("unknown argument '" + a + "' (try --help)");
    }
    if (out.empty()) fail("--out DIR is required");
    if (opts.min_objects < 0 || opts.max_objects > K || opts.min_objects > opts.max_objects)
        fail("object counts must satisfy 0 <= min <= max <= " + std::to_string(K));
    if (threads < 1) threads = 1;

    std::vector<uint8_t> in_tokens;
    if (!layouts_path.empty()) {
        FILE* f = std::fopen(layouts_path.c_str(), "rb");
        if (!f) fail("cannot open layouts file " + layouts_path + ": " + std::strerror(errno));
        std::fseek(f, 0, SEEK_END);
        const long bytes = std::ftell(f);
        std::fseek(f, 0, SEEK_SET);
        if (bytes <= 0 || bytes % (K * 6) != 0)
            fail("layouts file " + layouts_path + " has " + std::to_string(bytes) +
                 " bytes, not a positive multiple of " + std::to_string(K * 6));
        in_tokens.resize(size_t(bytes));
        if (std::fread(in_tokens.data(), 1, in_tokens.size(), f) != in_tokens.size())
            fail("short read from " + layouts_path);
        std::fclose(f);
        count = bytes / (K * 6);
    }
    if (count < 0) fail("--count N (or --layouts FILE) is required");
    mkdir(out.c_str(), 0755);
    struct stat st {};
    if (stat(out.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) fail("cannot create directory " + out);

    const size_t N = size_t(count);
    std::vector<uint8_t> images(N * P * 3), inst(N * P), tokens(N * K * 6, 255), counts(N);
    std::vector<float> pos(N * K * 2, 0.f);
    std::vector<uint8_t> amodal_bits(amodal ? N * K * (P / 8) : 0, 0);
    std::atomic<size_t> next{0};
    std::atomic<bool> bad_layout{false};
    std::atomic<size_t> bad_index{0};

    auto worker = [&]() {
        for (size_t i = next++; i < N; i = next++) {
            RenderedScene r;
            if (!in_tokens.empty()) {
                Layout layout;
                for (int k = 0; k < K; ++k) {
                    const uint8_t* t = &in_tokens[(i * K + k) * 6];
                    if (t[0] == 255) continue;
                    if (t[0] >= kNumShapes || t[1] >= kNumColours || t[2] >= kNumSizes || t[3] >= kNumMaterials ||
                        t[4] >= kPosBins || t[5] >= kPosBins) {
                        bad_layout = true;
                        bad_index = i;
                        continue;
                    }
                    layout.push_back(fromToken(Token{t[0], t[1], t[2], t[3], t[4], t[5]}));
                }
                r = renderLayout(layout);
            } else {
                r = generateScene(uint64_t(seed_start) + i, opts);
            }
            std::memcpy(&images[i * P * 3], r.image.data(), P * 3);
            std::memcpy(&inst[i * P], r.instance.data(), P);
            counts[i] = uint8_t(r.objects.size());
            for (size_t k = 0; k < r.objects.size(); ++k) {
                const Object& o = r.objects[k].object;
                const Token t = toToken(o);
                uint8_t* d = &tokens[(i * K + k) * 6];
                d[0] = uint8_t(t.shape), d[1] = uint8_t(t.colour), d[2] = uint8_t(t.size);
                d[3] = uint8_t(t.material), d[4] = uint8_t(t.qx), d[5] = uint8_t(t.qy);
                pos[(i * K + k) * 2] = o.u;
                pos[(i * K + k) * 2 + 1] = o.v;
                if (amodal) {
                    uint8_t* bits = &amodal_bits[(i * K + k) * (P / 8)];
                    for (int p = 0; p < P; ++p)
                        if (r.objects[k].amodal[p]) bits[p / 8] |= uint8_t(0x80u >> (p % 8));
                }
            }
        }
    };
    std::vector<std::thread> pool;
    for (long t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
    if (bad_layout)
        fail("layouts file " + layouts_path + ": token out of range in scene " + std::to_string(size_t(bad_index)));

    writeFile(out + "/images.u8", images.data(), images.size());
    writeFile(out + "/inst.u8", inst.data(), inst.size());
    writeFile(out + "/tokens.u8", tokens.data(), tokens.size());
    writeFile(out + "/pos.f32", pos.data(), pos.size() * sizeof(float));
    writeFile(out + "/counts.u8", counts.data(), counts.size());
    if (amodal) writeFile(out + "/amodal.u8", amodal_bits.data(), amodal_bits.size());
    char meta[512];
    std::snprintf(meta, sizeof meta,
                  "{\"count\": %zu, \"image_size\": %d, \"max_objects\": %d, \"token_fields\": 6, "
                  "\"pos_bins\": %d, \"seed_start\": %ld, \"min_objects\": %d, \"max_objects_sampled\": %d, "
                  "\"from_layouts\": %s, \"amodal\": %s}\n",
                  N, kImageSize, K, kPosBins, seed_start, opts.min_objects, opts.max_objects,
                  in_tokens.empty() ? "false" : "true", amodal ? "true" : "false");
    writeFile(out + "/meta.json", meta, std::strlen(meta));
    std::printf("attnlab-scene-data: wrote %zu scenes to %s\n", N, out.c_str());
    return 0;
}
