// Long-context attention benchmark (issue 7). A program, not a test: it prints timings as JSON.
//
//   attnlab-long-attention-bench compute [--tokens 32768,131072] [--out-dir DIR] [--device cuda]
//       synthetic Llama-3.2-1B-shaped head per size: row normalisers, pyramid (2048^2 finest cells,
//       max + mean), the first on-screen exact tile, and the budget-sized tile; writes DIR/long_<N>.safetensors.
//       --device D: normalisers + pyramid with buildPyramidOnDevice (reported as pyramid_ms, normalisers_ms 0);
//       tiles stay on the CPU.
//   attnlab-long-attention-bench gui FILE [--width 1200 --height 900]   (GUI builds; run under xvfb-run)
//       opens the saved capture in the view: time to first paint, zoom/pan frame times, tile
//       latency, view memory (model bytes and process RSS growth).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/analysis/long_attention.h"

#ifdef ATTNLAB_BENCH_GUI
#include <QApplication>
#include <QElapsedTimer>

#include "views/long_attention_model.h"
#include "views/long_attention_view.h"
#endif

using namespace attnlab;

namespace {

double msSince(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

long rssKb() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
    return -1;
}

std::vector<int64_t> parseList(const std::string& s) {
    std::vector<int64_t> v;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) v.push_back(std::atoll(item.c_str()));
    return v;
}

int runCompute(const std::vector<int64_t>& sizes, const std::string& out_dir, const std::string& device) {
    std::printf("[\n");
    for (size_t si = 0; si < sizes.size(); ++si) {
        const int64_t n = sizes[si];
        auto t0 = std::chrono::steady_clock::now();
        LongAttentionCapture c = synthesizeLongAttention(n, 1);
        const double synth_ms = msSince(t0);
        double norm_ms = 0, pyramid_ms = 0;
        Result<AttentionPyramid> pyr = Status::fail("not computed");
        if (device.empty()) {
            t0 = std::chrono::steady_clock::now();
            Status s = computeRowNormalisers(c);
            norm_ms = msSince(t0);
            if (!s.isOk()) {
                std::fprintf(stderr, "%s\n", s.error().c_str());
                return 1;
            }
            t0 = std::chrono::steady_clock::now();
            pyr = buildPyramid(c);
            pyramid_ms = msSince(t0);
        } else {
            // Warm-up on a small capture (device context, kernels), then normalisers + pyramid in one call.
            LongAttentionCapture warm = synthesizeLongAttention(8192, 2);
            (void)buildPyramidOnDevice(warm, device);
            t0 = std::chrono::steady_clock::now();
            pyr = buildPyramidOnDevice(c, device);
            pyramid_ms = msSince(t0);  // includes the normalisers and the q/k upload
        }
        if (!pyr) {
            std::fprintf(stderr, "%s\n", pyr.error().c_str());
            return 1;
        }
        // First exact tile: a 1024 x 1024-token region on the diagonal at 1 token per pixel (the first
        // zoom level at which the view shows individual entries).
        const int64_t r0 = n / 2, r1 = r0 + 1024, c0 = r1 - 1024;
        t0 = std::chrono::steady_clock::now();
        auto tile = computePooledTile(c, r0, r1, c0, r1, 1024, 1024);
        const double tile_ms = msSince(t0);
        // The largest tile the view computes (its budget, 2^26 score entries): 8192 x 8192 tokens pooled to 1024^2 px.
        const int64_t b0 = n - 8192;
        t0 = std::chrono::steady_clock::now();
        auto big = computePooledTile(c, b0, n, b0, n, 1024, 1024);
        const double budget_tile_ms = msSince(t0);
        if (!tile || !big) return 1;
        std::string path;
        double save_ms = 0;
        if (!out_dir.empty()) {
            path = out_dir + "/long_" + std::to_string(n) + ".safetensors";
            t0 = std::chrono::steady_clock::now();
            if (Status w = saveLongAttention(path, c, &*pyr); !w.isOk()) {
                std::fprintf(stderr, "%s\n", w.error().c_str());
                return 1;
            }
            save_ms = msSince(t0);
        }
        std::printf("  {\"tokens\": %lld, \"head_dim\": %lld, \"synthesize_ms\": %.1f, \"normalisers_ms\": %.1f, "
                    "\"pyramid_ms\": %.1f, \"pyramid_cells\": %lld, \"pyramid_bytes\": %zu, \"first_tile_ms\": %.1f, "
                    "\"overview_plus_first_tile_ms\": %.1f, \"budget_tile_ms\": %.1f, \"save_ms\": %.1f, \"file\": \"%s\", "
                    "\"peak_rss_mb\": %.1f}%s\n",
                    static_cast<long long>(n), static_cast<long long>(c.head_dim), synth_ms, norm_ms, pyramid_ms,
                    static_cast<long long>(pyr->levels.front().rows), pyr->bytes(), tile_ms, norm_ms + pyramid_ms + tile_ms,
                    budget_tile_ms, save_ms, path.c_str(),
                    [] {
                        rusage ru{};
                        getrusage(RUSAGE_SELF, &ru);
                        return ru.ru_maxrss / 1024.0;
                    }(),
                    si + 1 < sizes.size() ? "," : "");
        std::fflush(stdout);
    }
    std::printf("]\n");
    return 0;
}

#ifdef ATTNLAB_BENCH_GUI
struct Stats {
    double median = 0, p95 = 0, max = 0;
};
Stats stats(std::vector<double> v) {
    Stats s;
    if (v.empty()) return s;
    std::sort(v.begin(), v.end());
    s.median = v[v.size() / 2];
    s.p95 = v[std::min(v.size() - 1, static_cast<size_t>(0.95 * v.size()))];
    s.max = v.back();
    return s;
}

int runGui(int argc, char** argv, const std::string& file, int width, int height) {
    QApplication app(argc, argv);
    const long rss_before = rssKb();
    QElapsedTimer timer;
    timer.start();
    LongAttentionView view;
    view.resize(width, height);
    if (Status s = view.openFile(file); !s.isOk()) {
        std::fprintf(stderr, "%s\n", s.error().c_str());
        return 1;
    }
    const double open_ms = static_cast<double>(timer.nsecsElapsed()) / 1e6;
    view.show();
    LongAttentionCanvas* canvas = view.canvas();
    while (canvas->framesPainted() == 0 && timer.elapsed() < 20000) QApplication::processEvents(QEventLoop::AllEvents, 5);
    const double first_paint_ms = static_cast<double>(timer.nsecsElapsed()) / 1e6;
    const double first_frame_ms = canvas->lastFrameMs();
    const int cw = canvas->width(), ch = canvas->height();
    LongAttentionModel& model = view.model();

    // Zoom in step by step on a point of the diagonal 3/4 down the prompt, then pan along it.
    std::vector<double> zoom_paint, zoom_step, pan_paint, pan_step;
    const double fx = 0.75 * std::min(cw, ch), fy = fx;  // a point of the diagonal at the whole-prompt view
    int tiles_waited = 0;
    double tile_wait_ms_total = 0;
    for (int i = 0; i < 40; ++i) {
        QElapsedTimer t;
        t.start();
        canvas->zoomAt(fx, fy, 1.25);
        canvas->repaint();
        zoom_step.push_back(static_cast<double>(t.nsecsElapsed()) / 1e6);
        zoom_paint.push_back(canvas->lastFrameMs());
        QApplication::processEvents();
    }
    // Let the exact tile of this zoom arrive (its latency is reported separately from frame times).
    {
        QElapsedTimer t;
        t.start();
        const int before = view.tilesReceived();
        while (model.wantedTile().is_needed && !(model.hasTile() && model.tileRequest() == model.wantedTile()) &&
               t.elapsed() < 30000)
            QApplication::processEvents(QEventLoop::AllEvents, 5);
        if (view.tilesReceived() > before) {
            ++tiles_waited;
            tile_wait_ms_total += static_cast<double>(t.nsecsElapsed()) / 1e6;
        }
    }
    const double zoomed_tpp = model.tokensPerPixel();
    for (int i = 0; i < 60; ++i) {
        QElapsedTimer t;
        t.start();
        canvas->panBy(i < 30 ? -25.0 : 25.0, i < 30 ? -25.0 : 25.0);
        canvas->repaint();
        pan_step.push_back(static_cast<double>(t.nsecsElapsed()) / 1e6);
        pan_paint.push_back(canvas->lastFrameMs());
        QApplication::processEvents();
    }
    // Wait for the tile after the last pan, then zoom back out to the whole prompt.
    QElapsedTimer t;
    t.start();
    while (model.wantedTile().is_needed && !(model.hasTile() && model.tileRequest() == model.wantedTile()) &&
           t.elapsed() < 30000)
        QApplication::processEvents(QEventLoop::AllEvents, 5);
    const double pan_tile_wait_ms = static_cast<double>(t.nsecsElapsed()) / 1e6;
    std::vector<double> out_step, out_paint;
    for (int i = 0; i < 40; ++i) {
        QElapsedTimer s;
        s.start();
        canvas->zoomAt(fx, fy, 1.0 / 1.25);
        canvas->repaint();
        out_step.push_back(static_cast<double>(s.nsecsElapsed()) / 1e6);
        out_paint.push_back(canvas->lastFrameMs());
        QApplication::processEvents();
    }
    if (std::getenv("ATTNLAB_BENCH_FRAMES")) {  // every zoom frame: paint and step ms
        for (size_t i = 0; i < zoom_paint.size(); ++i) std::fprintf(stderr, "zoom %zu paint %.2f step %.2f\n", i, zoom_paint[i], zoom_step[i]);
        for (size_t i = 0; i < out_paint.size(); ++i) std::fprintf(stderr, "out %zu paint %.2f step %.2f\n", i, out_paint[i], out_step[i]);
    }
    const long rss_after = rssKb();
    const Stats zp = stats(zoom_paint), zs = stats(zoom_step), pp = stats(pan_paint), ps = stats(pan_step),
                os = stats(out_step);
    std::printf("{\"file\": \"%s\", \"tokens\": %lld, \"canvas_px\": [%d, %d], \"open_ms\": %.1f, \"first_paint_ms\": %.1f, "
                "\"first_frame_paint_ms\": %.2f,\n"
                " \"zoom_in_step_ms\": {\"median\": %.2f, \"p95\": %.2f, \"max\": %.2f}, \"zoom_in_paint_ms_median\": %.2f, \"zoom_in_paint_ms_max\": %.2f,\n"
                " \"pan_step_ms\": {\"median\": %.2f, \"p95\": %.2f, \"max\": %.2f}, \"pan_paint_ms_median\": %.2f,\n"
                " \"zoom_out_step_ms\": {\"median\": %.2f, \"p95\": %.2f, \"max\": %.2f},\n"
                " \"zoomed_tokens_per_px\": %.4f, \"tile_after_zoom_wait_ms\": %.1f, \"last_tile_compute_ms\": %.1f, "
                "\"tile_after_pan_wait_ms\": %.1f, \"tiles_received\": %d,\n"
                " \"view_model_bytes\": %zu, \"rss_growth_mb\": %.1f, \"rss_mb\": %.1f}\n",
                file.c_str(), static_cast<long long>(model.tokens()), cw, ch, open_ms, first_paint_ms, first_frame_ms,
                zs.median, zs.p95, zs.max, zp.median, zp.max, ps.median, ps.p95, ps.max, pp.median, os.median, os.p95, os.max,
                zoomed_tpp, tiles_waited ? tile_wait_ms_total : -1.0, view.lastTileMs(), pan_tile_wait_ms,
                view.tilesReceived(), model.memoryBytes(), (rss_after - rss_before) / 1024.0, rss_after / 1024.0);
    return 0;
}
#endif

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s compute [--tokens N,N] [--out-dir DIR] [--device D] | gui FILE [--width W --height H]\n",
                     argv[0]);
        return 2;
    }
    const std::string mode = argv[1];
    std::vector<int64_t> sizes{32768, 131072};
    std::string out_dir, file, device;
    int width = 1200, height = 900;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : std::string(); };
        if (a == "--tokens") sizes = parseList(next());
        else if (a == "--out-dir") out_dir = next();
        else if (a == "--device") device = next();
        else if (a == "--width") width = std::atoi(next().c_str());
        else if (a == "--height") height = std::atoi(next().c_str());
        else if (file.empty() && a.rfind("--", 0) != 0) file = a;
        else {
            std::fprintf(stderr, "unknown argument '%s'\n", a.c_str());
            return 2;
        }
    }
    if (mode == "compute") return runCompute(sizes, out_dir, device);
#ifdef ATTNLAB_BENCH_GUI
    if (mode == "gui" && !file.empty()) return runGui(argc, argv, file, width, height);
#endif
    std::fprintf(stderr, "unknown mode '%s' (gui needs a GUI build and a FILE)\n", mode.c_str());
    return 2;
}
