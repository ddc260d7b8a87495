#include "views/long_attention_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

namespace attnlab {

namespace {

// Cell index of token position t under edges (edges[k] <= t < edges[k + 1]); -1 outside.
int32_t cellOf(const std::vector<int64_t>& edges, double t) {
    if (t < static_cast<double>(edges.front()) || t >= static_cast<double>(edges.back())) return -1;
    auto it = std::upper_bound(edges.begin(), edges.end(), static_cast<int64_t>(std::floor(t)));
    return static_cast<int32_t>(it - edges.begin()) - 1;
}

// log2 from the float's exponent and a table over the top 10 mantissa bits (error < 0.0015 in
// log2): per-pixel std::log10 would cost several ms per frame.
struct FastLog2 {
    float mantissa[1024];
    FastLog2() {
        for (int m = 0; m < 1024; ++m) mantissa[m] = static_cast<float>(std::log2(1.0 + (m + 0.5) / 1024.0));
    }
    float operator()(float v) const {
        uint32_t bits;
        std::memcpy(&bits, &v, sizeof bits);
        const int e = static_cast<int>((bits >> 23) & 255) - 127;
        return static_cast<float>(e) + mantissa[(bits >> 13) & 1023];
    }
};
const FastLog2& fastLog2() {
    static const FastLog2 table;
    return table;
}

struct Lut {
    Rgba8 colors[256];
    Lut() {
        for (int i = 0; i < 256; ++i) colors[i] = viridis(i / 255.0);
    }
};
const Lut& lut() {
    static const Lut table;
    return table;
}

constexpr Rgba8 kMaskedColor{235, 235, 235, 255};
constexpr Rgba8 kOutsideColor{255, 255, 255, 255};

}  // namespace

void LongAttentionModel::setData(std::shared_ptr<const LongAttentionCapture> capture,
                                 std::shared_ptr<const AttentionPyramid> pyramid) {
    m_capture = std::move(capture);
    m_pyramid = std::move(pyramid);
    m_tile.reset();
    m_tile_request = {};
    resetView();
}

void LongAttentionModel::resize(int width_px, int height_px) {
    const bool was_empty = m_width <= 0 || m_height <= 0;
    m_width = std::max(0, width_px);
    m_height = std::max(0, height_px);
    // Scratch rows for the largest frame (every pixel row its own source row), touched now: the
    // first zoom step otherwise paid for growing them (page faults) on top of a cold pyramid level.
    const size_t pixels = static_cast<size_t>(m_width) * static_cast<size_t>(m_height);
    if (m_row_values.capacity() < pixels) {
        m_row_values.assign(pixels, 0.f);
        m_row_argb.assign(pixels, 0u);
    }
    if (was_empty) resetView();
    clampView();
}

void LongAttentionModel::resetView() {
    m_row0 = m_col0 = 0;
    const int side = std::max(1, std::min(m_width, m_height));
    m_tpp = tokens() > 0 ? static_cast<double>(tokens()) / side : 1.0;
}

void LongAttentionModel::clampView() {
    if (!m_capture) return;
    const double n = static_cast<double>(tokens());
    const int side = std::max(1, std::min(m_width, m_height));
    // From 1/32 token per pixel (an entry is 32 px wide) to the whole matrix on the short side.
    m_tpp = std::clamp(m_tpp, 1.0 / 32.0, n / side);
    const double rows_shown = m_tpp * m_height, cols_shown = m_tpp * m_width;
    m_row0 = std::clamp(m_row0, std::min(0.0, n - rows_shown), std::max(0.0, n - rows_shown));
    m_col0 = std::clamp(m_col0, std::min(0.0, n - cols_shown), std::max(0.0, n - cols_shown));
    if (rows_shown >= n) m_row0 = 0;
    if (cols_shown >= n) m_col0 = 0;
}

void LongAttentionModel::zoomAt(double x_px, double y_px, double factor) {
    if (!(factor > 0)) return;
    const double row = m_row0 + y_px * m_tpp, col = m_col0 + x_px * m_tpp;
    m_tpp /= factor;
    clampView();
    m_row0 = row - y_px * m_tpp;
    m_col0 = col - x_px * m_tpp;
    clampView();
}

void LongAttentionModel::panBy(double dx_px, double dy_px) {
    m_row0 -= dy_px * m_tpp;
    m_col0 -= dx_px * m_tpp;
    clampView();
}

void LongAttentionModel::setPooling(LongPooling pooling) { m_pooling = pooling; }
void LongAttentionModel::setColorScale(ColorScale scale) { m_scale = scale; }

int LongAttentionModel::levelFor(double tpp) const {
    // The finest level whose cells are at least a pixel (so max pooling never skips a cell); level 0
    // (upscaled) when even it is coarser than the pixels.
    const auto& levels = m_pyramid->levels;
    int best = 0;
    for (size_t i = 0; i < levels.size(); ++i) {
        const double cell = static_cast<double>(tokens()) / static_cast<double>(levels[i].rows);
        best = static_cast<int>(i);
        if (cell >= tpp) break;
    }
    return best;
}

LongTileRequest LongAttentionModel::wantedTile() const {
    LongTileRequest r;
    if (!hasData() || m_width <= 0 || m_height <= 0) return r;
    const double n = static_cast<double>(tokens());
    const double finest_cell = n / static_cast<double>(m_pyramid->levels.front().rows);
    if (finest_cell <= 1.0 || m_tpp >= finest_cell) return r;  // the pyramid is already as fine as the pixels
    r.r0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(m_row0)));
    r.r1 = std::min<int64_t>(tokens(), static_cast<int64_t>(std::ceil(m_row0 + m_tpp * m_height)));
    r.c0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(m_col0)));
    r.c1 = std::min<int64_t>({tokens(), static_cast<int64_t>(std::ceil(m_col0 + m_tpp * m_width)), r.r1});
    if (r.r1 <= r.r0 || r.c1 <= r.c0) return r;  // nothing on screen, or all above the diagonal
    // Cost: visible (causal) entries, roughly rows x keys up to each row.
    const double rows = static_cast<double>(r.r1 - r.r0), cols = static_cast<double>(r.c1 - r.c0);
    if (rows * cols > static_cast<double>(m_tile_budget)) return r;
    // Pooled to screen pixels (exact entries once a pixel is at most one token).
    r.out_rows = std::min<int64_t>(r.r1 - r.r0, static_cast<int64_t>(std::ceil(rows / std::max(1.0, m_tpp))));
    r.out_cols = std::min<int64_t>(r.c1 - r.c0, static_cast<int64_t>(std::ceil(cols / std::max(1.0, m_tpp))));
    r.is_needed = true;
    return r;
}

bool LongAttentionModel::isRegionTooLarge() const {
    if (!hasData() || m_width <= 0 || m_height <= 0) return false;
    const double finest_cell = static_cast<double>(tokens()) / static_cast<double>(m_pyramid->levels.front().rows);
    if (m_tpp >= finest_cell) return false;
    const double rows = std::min(m_tpp * m_height, static_cast<double>(tokens()));
    const double cols = std::min(m_tpp * m_width, static_cast<double>(tokens()));
    return rows * cols > static_cast<double>(m_tile_budget);
}

void LongAttentionModel::setTile(const LongTileRequest& request, std::shared_ptr<const PooledWeights> tile) {
    m_tile_request = request;
    m_tile = std::move(tile);
}

void LongAttentionModel::render() {
    const int w = m_width, h = m_height;
    m_argb.assign(static_cast<size_t>(std::max(0, w)) * static_cast<size_t>(std::max(0, h)), 0xffffffffu);
    if (!hasData() || w <= 0 || h <= 0) return;
    const int li = levelFor(m_tpp);
    m_last_level = li;
    const PooledWeights& level = m_pyramid->levels[static_cast<size_t>(li)];
    const PooledWeights* tile = m_tile.get();
    // Use the tile only when it is at least as fine as the level it replaces.
    if (tile && static_cast<double>(tile->row_edges.back() - tile->row_edges.front()) / tile->rows >
                    static_cast<double>(tokens()) / level.rows)
        tile = nullptr;
    const bool use_max = m_pooling == LongPooling::Max;
    const std::vector<float>& lv = use_max ? level.max : level.mean;
    const std::vector<float>* tv = tile ? (use_max ? &tile->max : &tile->mean) : nullptr;
    m_row_cell.resize(static_cast<size_t>(h));
    m_row_tile.resize(static_cast<size_t>(h));
    m_col_cell.resize(static_cast<size_t>(w));
    m_col_tile.resize(static_cast<size_t>(w));
    for (int y = 0; y < h; ++y) {
        const double t = m_row0 + (y + 0.5) * m_tpp;
        m_row_cell[static_cast<size_t>(y)] = cellOf(level.row_edges, t);
        m_row_tile[static_cast<size_t>(y)] = tile ? cellOf(tile->row_edges, t) : -1;
    }
    for (int x = 0; x < w; ++x) {
        const double t = m_col0 + (x + 0.5) * m_tpp;
        m_col_cell[static_cast<size_t>(x)] = cellOf(level.col_edges, t);
        m_col_tile[static_cast<size_t>(x)] = tile ? cellOf(tile->col_edges, t) : -1;
    }
    // First pixel column that is above the diagonal for every entry it spans (its first key is after
    // the pixel row's last query): monotonic in y.
    auto maskedFrom = [&](int y) {
        const double last_query = std::ceil(m_row0 + (y + 1) * m_tpp) - 1;
        // floor(col0 + x * tpp) > last_query  <=>  x > (last_query + 1 - col0) / tpp - (tiny)
        double x = std::ceil((last_query + 1 - m_col0) / m_tpp);
        while (x > 0 && std::floor(m_col0 + (x - 1) * m_tpp) > last_query) x -= 1;
        while (x < w && std::floor(m_col0 + x * m_tpp) <= last_query) x += 1;
        return static_cast<int>(std::clamp(x, 0.0, static_cast<double>(w)));
    };
    // Pixel rows showing the same source row (pyramid cell row and tile row) share their values:
    // zoomed in, many do. Pass 1 fills one value row per distinct source row and the frame's maximum.
    struct Run {
        int y0, y1;   // pixel rows [y0, y1)
        int32_t rc, rt;
        int visible_end = 0;  // the run's widest unmasked extent: columns past it are above the diagonal
    };
    std::vector<Run> runs;
    for (int y = 0; y < h; ++y) {
        const int32_t rc = m_row_cell[static_cast<size_t>(y)], rt = m_row_tile[static_cast<size_t>(y)];
        if (!runs.empty() && runs.back().rc == rc && runs.back().rt == rt) {
            runs.back().y1 = y + 1;
        } else {
            runs.push_back({y, y + 1, rc, rt, 0});
        }
    }
    m_row_values.resize(runs.size() * static_cast<size_t>(w));
    float vmax = 0.f;
    const float outside = std::nanf("");
    for (size_t ri = 0; ri < runs.size(); ++ri) {
        const Run& run = runs[ri];
        float* row = m_row_values.data() + ri * static_cast<size_t>(w);
        if (run.rc < 0) {
            std::fill(row, row + w, outside);
            continue;
        }
        // Only the columns left of the diagonal are computed (zoomed out, about half the frame).
        const int visible_end = maskedFrom(run.y1 - 1);
        runs[ri].visible_end = visible_end;
        const float* lrow = lv.data() + static_cast<size_t>(run.rc) * level.cols;
        const float* trow = run.rt >= 0 ? tv->data() + static_cast<size_t>(run.rt) * tile->cols : nullptr;
        for (int x = 0; x < visible_end; ++x) {
            const int32_t cc = m_col_cell[static_cast<size_t>(x)];
            if (cc < 0) {
                row[x] = outside;
                continue;
            }
            const int32_t ct = m_col_tile[static_cast<size_t>(x)];
            const float v = (trow && ct >= 0) ? trow[ct] : lrow[cc];
            row[x] = v;
            vmax = std::max(vmax, v);
        }
    }
    m_last_range = ScaleRange::forMaximum(m_scale, vmax);
    const Lut& colors = lut();
    const FastLog2& log2f = fastLog2();
    const bool is_log = m_scale == ColorScale::Log;
    const float lo2 = is_log ? static_cast<float>(std::log2(m_last_range.min_value)) : 0.f;
    const float hi2 = is_log ? static_cast<float>(std::log2(m_last_range.max_value)) : 0.f;
    const float inv_span = is_log ? 255.f / (hi2 - lo2) : 255.f / static_cast<float>(m_last_range.max_value);
    auto pack = [](Rgba8 c) {
        return 0xff000000u | (uint32_t(c.r) << 16) | (uint32_t(c.g) << 8) | uint32_t(c.b);
    };
    uint32_t palette[256];
    for (int i = 0; i < 256; ++i) palette[i] = pack(colors.colors[i]);
    const uint32_t outside_px = pack(kOutsideColor), masked_px = pack(kMaskedColor);
    // Pass 2: colour each distinct row once, then copy it to its pixel rows up to the diagonal.
    m_row_argb.resize(m_row_values.size());
    // Columns past the diagonal: the masked colour, or the outside colour past the prompt.
    m_masked_row.resize(static_cast<size_t>(w));
    for (int x = 0; x < w; ++x) m_masked_row[static_cast<size_t>(x)] = m_col_cell[static_cast<size_t>(x)] < 0 ? outside_px : masked_px;
    for (size_t ri = 0; ri < runs.size(); ++ri) {
        const Run& run = runs[ri];
        uint32_t* src = m_row_argb.data() + ri * static_cast<size_t>(w);
        const float* values = m_row_values.data() + ri * static_cast<size_t>(w);
        if (run.rc < 0) {
            for (int y = run.y0; y < run.y1; ++y) std::fill_n(m_argb.data() + static_cast<size_t>(y) * w, w, outside_px);
            continue;
        }
        for (int x = 0; x < run.visible_end; ++x) {
            const float v = values[x];
            if (std::isnan(v)) {
                src[x] = outside_px;
                continue;
            }
            float t = is_log ? (v > 0.f ? (log2f(v) - lo2) * inv_span : 0.f) : v * inv_span;
            t = std::clamp(t, 0.f, 255.f);
            src[x] = palette[static_cast<int>(t)];
        }
        for (int y = run.y0; y < run.y1; ++y) {
            uint32_t* dst = m_argb.data() + static_cast<size_t>(y) * w;
            const int from = std::min(maskedFrom(y), run.visible_end);
            std::memcpy(dst, src, sizeof(uint32_t) * static_cast<size_t>(from));
            std::memcpy(dst + from, m_masked_row.data() + from, sizeof(uint32_t) * static_cast<size_t>(w - from));
        }
    }
}

RgbaImage LongAttentionModel::image() const {
    RgbaImage img;
    img.width = m_width;
    img.height = m_height;
    img.pixels.resize(m_argb.size() * 4);
    for (size_t i = 0; i < m_argb.size(); ++i) {
        img.pixels[i * 4 + 0] = static_cast<uint8_t>(m_argb[i] >> 16);
        img.pixels[i * 4 + 1] = static_cast<uint8_t>(m_argb[i] >> 8);
        img.pixels[i * 4 + 2] = static_cast<uint8_t>(m_argb[i]);
        img.pixels[i * 4 + 3] = 255;
    }
    img.version = nextImageVersion();
    return img;
}

LongAttentionHover LongAttentionModel::hoverAt(double x_px, double y_px) const {
    LongAttentionHover hv;
    if (!hasData() || x_px < 0 || y_px < 0 || x_px >= m_width || y_px >= m_height) return hv;
    const double rt = m_row0 + y_px * m_tpp, ct = m_col0 + x_px * m_tpp;
    if (rt < 0 || ct < 0 || rt >= tokens() || ct >= tokens()) return hv;
    hv.is_valid = true;
    hv.query = static_cast<int64_t>(rt);
    hv.key = static_cast<int64_t>(ct);
    hv.is_masked = hv.key > hv.query;
    hv.weight = hv.is_masked ? 0.f : exactWeight(*m_capture, hv.query, hv.key);
    const bool use_max = m_pooling == LongPooling::Max;
    if (m_tile) {
        const int32_t r = cellOf(m_tile->row_edges, rt), c = cellOf(m_tile->col_edges, ct);
        if (r >= 0 && c >= 0) {
            hv.is_exact_tile = true;
            hv.shown = (use_max ? m_tile->max : m_tile->mean)[static_cast<size_t>(r) * m_tile->cols + c];
            return hv;
        }
    }
    const PooledWeights& level = m_pyramid->levels[static_cast<size_t>(levelFor(m_tpp))];
    const int32_t r = cellOf(level.row_edges, rt), c = cellOf(level.col_edges, ct);
    if (r >= 0 && c >= 0) hv.shown = (use_max ? level.max : level.mean)[static_cast<size_t>(r) * level.cols + c];
    return hv;
}

size_t LongAttentionModel::memoryBytes() const {
    size_t b = 0;
    if (m_capture)
        b += (m_capture->queries.size() + m_capture->keys.size() + m_capture->row_max.size() + m_capture->row_lse.size()) *
             sizeof(float);
    if (m_pyramid) b += m_pyramid->bytes();
    if (m_tile) b += m_tile->bytes();
    b += (m_argb.size() + m_row_argb.size()) * sizeof(uint32_t) + m_row_values.size() * sizeof(float) +
         (m_row_cell.size() + m_col_cell.size() + m_row_tile.size() + m_col_tile.size()) * sizeof(int32_t);
    return b;
}

LongAttentionTileWorker::LongAttentionTileWorker(std::shared_ptr<const LongAttentionCapture> capture, Done done)
    : m_capture(std::move(capture)), m_done(std::move(done)) {
    m_thread = std::thread([this] { run(); });
}

LongAttentionTileWorker::~LongAttentionTileWorker() {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_is_stopping = true;
        m_cancel = true;
    }
    m_cv.notify_all();
    if (m_thread.joinable()) m_thread.join();
}

void LongAttentionTileWorker::request(const LongTileRequest& request) {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_pending = request;
        m_has_pending = true;
        m_cancel = true;  // the tile in flight (if any) is stale now
    }
    m_cv.notify_all();
}

void LongAttentionTileWorker::run() {
    for (;;) {
        LongTileRequest req;
        {
            std::unique_lock<std::mutex> lock(m_mutex);
            m_cv.wait(lock, [this] { return m_is_stopping || m_has_pending; });
            if (m_is_stopping) return;
            // Debounce: while the user keeps zooming/panning, requests replace each other and no tile
            // computation competes with the GUI thread's frames for the CPU.
            for (;;) {
                LongTileRequest seen = m_pending;
                m_has_pending = false;
                if (m_cv.wait_for(lock, std::chrono::milliseconds(kDebounceMs), [this] { return m_is_stopping || m_has_pending; })) {
                    if (m_is_stopping) return;
                    continue;  // a newer request: wait again
                }
                m_pending = seen;
                break;
            }
            req = m_pending;
            m_has_pending = false;
            m_cancel = false;
        }
        if (!req.is_needed) continue;
        const auto t0 = std::chrono::steady_clock::now();
        Result<PooledWeights> tile =
            computePooledTile(*m_capture, req.r0, req.r1, req.c0, req.c1, req.out_rows, req.out_cols, &m_cancel);
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (!tile) continue;  // cancelled by a newer request (or an out-of-range one)
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            if (m_has_pending || m_is_stopping) continue;  // already stale
        }
        m_done(req, std::make_shared<const PooledWeights>(std::move(*tile)), ms);
    }
}

}  // namespace attnlab
