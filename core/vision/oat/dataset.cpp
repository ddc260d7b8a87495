#include "core/vision/oat/dataset.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "core/vision/oat/npy_io.h"
#include "core/vision/oat/observer.h"

namespace attnlab::oat {

namespace {

struct Chunk {
    std::vector<int64_t> displays;
    std::vector<float> objects;
    std::vector<int64_t> counts;
    std::vector<uint8_t> crops, cues;
    std::vector<int16_t> paths;
    std::vector<float> fixations;
};

void copyRgb(const cv::Mat& bgr, std::vector<uint8_t>* out) {
    for (int y = 0; y < bgr.rows; ++y) {
        const uint8_t* row = bgr.ptr<uint8_t>(y);
        for (int x = 0; x < bgr.cols; ++x) {
            out->push_back(row[3 * x + 2]);
            out->push_back(row[3 * x + 1]);
            out->push_back(row[3 * x + 0]);
        }
    }
}

void makeChunk(const DatasetOptions& opt, const std::vector<ObserverParams>& people, int64_t begin, int64_t end,
               Chunk* c) {
    const int S = opt.subjects, L = kMaxPathLength;
    cv::Mat image, crop;
    for (int64_t i = begin; i < end; ++i) {
        const Display d = generateDisplay(splitDisplaySpec(opt.split, i));
        renderDisplay(d, &image);
        const int64_t row[10] = {static_cast<int64_t>(d.spec.seed), d.spec.set_size, static_cast<int64_t>(d.spec.regime),
                                 d.spec.target_present ? 1 : 0, d.target_index, d.target.shape, d.target.colour,
                                 d.target.size, d.target.orient_deg, 0};
        c->displays.insert(c->displays.end(), row, row + 10);
        c->counts.push_back(static_cast<int64_t>(d.objects.size()));
        for (size_t k = 0; k < d.objects.size(); ++k) {
            const SearchObject& o = d.objects[k];
            const float f[12] = {o.x_px, o.y_px, o.w_px, o.h_px, static_cast<float>(o.attrs.shape),
                                 static_cast<float>(o.attrs.colour), static_cast<float>(o.attrs.size),
                                 static_cast<float>(o.attrs.orient_deg), static_cast<int>(k) == d.target_index ? 1.0f : 0.0f,
                                 static_cast<float>(o.cell_col), static_cast<float>(o.cell_row), o.salience};
            c->objects.insert(c->objects.end(), f, f + 12);
            cropObject(image, o, &crop);
            copyRgb(crop, &c->crops);
        }
        renderCue(d.target, &crop);
        copyRgb(crop, &c->cues);
        for (int s = 0; s < S; ++s) {
            const Scanpath p = simulateObserver(d, people[s], trialSeed(d, s));
            for (int t = 0; t < L; ++t) {
                const bool has = t < static_cast<int>(p.fixations.size());
                c->paths.push_back(has ? static_cast<int16_t>(p.fixations[t].object) : int16_t(-1));
                c->fixations.push_back(has ? p.fixations[t].x_px : 0.0f);
                c->fixations.push_back(has ? p.fixations[t].y_px : 0.0f);
                c->fixations.push_back(has ? p.fixations[t].duration_ms : 0.0f);
            }
        }
    }
}

}  // namespace

bool writeDataset(const std::string& dir, const DatasetOptions& opt, std::string* error) {
    ::mkdir(dir.c_str(), 0755);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        *error = dir + ": cannot create the output directory";
        return false;
    }
    const auto people = makeSubjects(opt.subjects);
    const int threads = std::max(1, std::min<int>(opt.threads, static_cast<int>(std::max<int64_t>(1, opt.count / 8))));
    std::vector<Chunk> chunks(threads);
    std::vector<std::thread> workers;
    for (int w = 0; w < threads; ++w) {
        const int64_t b = opt.count * w / threads, e = opt.count * (w + 1) / threads;
        workers.emplace_back([&, w, b, e] { makeChunk(opt, people, b, e, &chunks[w]); });
    }
    for (auto& t : workers) t.join();
    Chunk all;
    for (auto& c : chunks) {
        auto append = [](auto& dst, const auto& src) { dst.insert(dst.end(), src.begin(), src.end()); };
        append(all.displays, c.displays);
        append(all.objects, c.objects);
        append(all.counts, c.counts);
        append(all.crops, c.crops);
        append(all.cues, c.cues);
        append(all.paths, c.paths);
        append(all.fixations, c.fixations);
        c = Chunk();
    }
    const int64_t D = opt.count, M = static_cast<int64_t>(all.objects.size() / 12);
    std::vector<int64_t> offsets(D + 1, 0);
    for (int64_t d = 0; d < D; ++d) {
        offsets[d + 1] = offsets[d] + all.counts[d];
        all.displays[d * 10 + 9] = offsets[d];
    }
    const int S = opt.subjects, L = kMaxPathLength, P = kCropPx;
    auto path = [&](const char* name) { return dir + "/" + name; };
    if (!writeNpyFile(path("displays.npy"), "<i8", {D, 10}, all.displays.data(), all.displays.size() * 8, error) ||
        !writeNpyFile(path("objects.npy"), "<f4", {M, 12}, all.objects.data(), all.objects.size() * 4, error) ||
        !writeNpyFile(path("obj_offsets.npy"), "<i8", {D + 1}, offsets.data(), offsets.size() * 8, error) ||
        !writeNpyFile(path("crops.npy"), "|u1", {M, P, P, 3}, all.crops.data(), all.crops.size(), error) ||
        !writeNpyFile(path("cue.npy"), "|u1", {D, P, P, 3}, all.cues.data(), all.cues.size(), error) ||
        !writeNpyFile(path("paths.npy"), "<i2", {D, S, L}, all.paths.data(), all.paths.size() * 2, error) ||
        !writeNpyFile(path("fixations.npy"), "<f4", {D, S, L, 3}, all.fixations.data(), all.fixations.size() * 4,
                      error))
        return false;
    std::ostringstream meta;
    meta << "{\n  \"split\": \"" << splitName(opt.split) << "\",\n  \"displays\": " << D << ",\n  \"objects\": " << M
         << ",\n  \"subjects\": " << S << ",\n  \"max_path_length\": " << L << ",\n  \"canvas\": [" << kCanvasWidth
         << ", " << kCanvasHeight << "],\n  \"px_per_deg\": " << kPxPerDeg << ",\n  \"grid\": [" << kGridCols << ", "
         << kGridRows << "],\n  \"cell_px\": " << kCellPx << ",\n  \"crop_px\": " << kCropPx
         << ",\n  \"heldout_target\": {\"colour\": " << kHeldoutColour << ", \"shape\": " << kHeldoutShape
         << "},\n  \"subject_params\": [\n";
    for (int s = 0; s < S; ++s) {
        const auto& p = people[s];
        meta << "    {\"a_guide\": " << p.a_guide << ", \"b_salience\": " << p.b_salience << ", \"c_ecc_per_deg\": "
             << p.c_ecc_per_deg << ", \"sigma0\": " << p.sigma0 << ", \"tau\": " << p.tau << ", \"amp_mode_deg\": "
             << p.amp_mode_deg << ", \"memory_size\": " << p.memory_size << ", \"p_forget\": " << p.p_forget
             << ", \"p_refix\": " << p.p_refix << ", \"fvf_scale\": " << p.fvf_scale << ", \"quit_threshold\": "
             << p.quit_threshold << ", \"max_fixations\": " << p.max_fixations << "}" << (s + 1 < S ? ",\n" : "\n");
    }
    meta << "  ]\n}\n";
    std::ofstream m(path("meta.json"));
    m << meta.str();
    if (!m) {
        *error = path("meta.json") + ": write failed";
        return false;
    }
    return true;
}

}  // namespace attnlab::oat
