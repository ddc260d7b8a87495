// View model of the long-context attention view (issue 7): one head of a long prompt drawn from its
// pooled pyramid, with exact (pooled to screen pixels) weights recomputed for the region on screen
// when the zoom is finer than the pyramid. Never holds an N x N matrix: memory is the capture's
// q/k [N, D], the pyramid and one screen-sized tile and image. Qt-free and torch-free (the tile
// compute is core's; LongAttentionTileWorker runs it off the GUI thread).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/analysis/long_attention.h"
#include "views/colormap.h"

namespace attnlab {

enum class LongPooling { Max = 1, Mean = 2 };

struct LongAttentionHover {
    bool is_valid = false;
    bool is_masked = false;   // the key is after the query (causal)
    int64_t query = -1;
    int64_t key = -1;
    float weight = 0;         // exact weight of (query, key)
    float shown = 0;          // the pooled value drawn at that pixel
    bool is_exact_tile = false;  // the pixel is drawn from an on-demand tile (else the pyramid)
};

struct LongTileRequest {
    bool is_needed = false;
    int64_t r0 = 0, r1 = 0, c0 = 0, c1 = 0;
    int64_t out_rows = 0, out_cols = 0;
    bool operator==(const LongTileRequest& o) const {
        return is_needed == o.is_needed && r0 == o.r0 && r1 == o.r1 && c0 == o.c0 && c1 == o.c1 &&
               out_rows == o.out_rows && out_cols == o.out_cols;
    }
};

class LongAttentionModel {
public:
    // Most score entries a tile may cost (rows x visible keys); larger regions are drawn from the
    // pyramid until the user zooms in further. 2^26 is ~0.3 s on 2 CPU cores at head_dim 64.
    static constexpr int64_t kDefaultTileBudget = int64_t(1) << 26;

    void setData(std::shared_ptr<const LongAttentionCapture> capture, std::shared_ptr<const AttentionPyramid> pyramid);
    bool hasData() const { return m_capture && m_pyramid && !m_pyramid->levels.empty(); }
    int64_t tokens() const { return m_capture ? m_capture->tokens : 0; }

    void resize(int width_px, int height_px);
    int width() const { return m_width; }
    int height() const { return m_height; }

    // Viewport: pixel (x, y) shows query row0 + y * tokens_per_px, key col0 + x * tokens_per_px.
    void resetView();
    void zoomAt(double x_px, double y_px, double factor);  // factor > 1 zooms in, keeping (x, y) fixed
    void panBy(double dx_px, double dy_px);                // drag by (dx, dy) pixels
    double row0() const { return m_row0; }
    double col0() const { return m_col0; }
    double tokensPerPixel() const { return m_tpp; }

    void setPooling(LongPooling pooling);
    LongPooling pooling() const { return m_pooling; }
    void setColorScale(ColorScale scale);
    ColorScale colorScale() const { return m_scale; }
    void setTileBudget(int64_t entries) { m_tile_budget = entries; }

    // The exact tile the current viewport needs (is_needed false when the pyramid is fine enough,
    // the region is above the diagonal, or it costs more than the budget).
    LongTileRequest wantedTile() const;
    bool isRegionTooLarge() const;  // zoomed finer than the pyramid but the region is over budget
    void setTile(const LongTileRequest& request, std::shared_ptr<const PooledWeights> tile);
    const LongTileRequest& tileRequest() const { return m_tile_request; }
    bool hasTile() const { return static_cast<bool>(m_tile); }

    // Draws the viewport (pyramid level closest to the zoom, the tile where it covers) into argb():
    // width x height pixels 0xAARRGGBB (QImage::Format_RGB32's layout, so the widget blits it unconverted).
    void render();
    const std::vector<uint32_t>& argb() const { return m_argb; }
    RgbaImage image() const;  // the last render as RGBA8 (tests, export)
    // Pyramid level used by the last render (0 = finest).
    int lastLevel() const { return m_last_level; }
    ScaleRange lastRange() const { return m_last_range; }

    LongAttentionHover hoverAt(double x_px, double y_px) const;

    // Bytes the view holds: capture (q, k, normalisers), pyramid, tile, image and scratch.
    size_t memoryBytes() const;

private:
    void clampView();
    int levelFor(double tokens_per_px) const;

    std::shared_ptr<const LongAttentionCapture> m_capture;
    std::shared_ptr<const AttentionPyramid> m_pyramid;
    std::shared_ptr<const PooledWeights> m_tile;
    LongTileRequest m_tile_request;
    int m_width = 0, m_height = 0;
    double m_row0 = 0, m_col0 = 0, m_tpp = 1;
    LongPooling m_pooling = LongPooling::Max;
    ColorScale m_scale = ColorScale::Log;
    int64_t m_tile_budget = kDefaultTileBudget;
    std::vector<uint32_t> m_argb;     // width * height
    std::vector<float> m_row_values;  // scratch: one row of values per distinct source row
    std::vector<uint32_t> m_row_argb;  // scratch: the same rows coloured
    std::vector<uint32_t> m_masked_row;  // scratch: a row's colours past the diagonal
    std::vector<int32_t> m_row_cell, m_col_cell, m_row_tile, m_col_tile;
    int m_last_level = 0;
    ScaleRange m_last_range;
};

// Computes tiles on its own thread once requests pause for kDebounceMs; a newer request cancels the
// one in flight (latest wins). The
// callback runs on the worker thread with the request it answers (the view re-posts it to the GUI thread).
class LongAttentionTileWorker {
public:
    static constexpr int kDebounceMs = 40;  // quiet time before a tile is computed
    using Done = std::function<void(const LongTileRequest&, std::shared_ptr<const PooledWeights>, double compute_ms)>;
    LongAttentionTileWorker(std::shared_ptr<const LongAttentionCapture> capture, Done done);
    ~LongAttentionTileWorker();  // cancels and joins
    void request(const LongTileRequest& request);

private:
    void run();
    std::shared_ptr<const LongAttentionCapture> m_capture;
    Done m_done;
    std::mutex m_mutex;
    std::condition_variable m_cv;
    LongTileRequest m_pending;
    bool m_has_pending = false;
    bool m_is_stopping = false;
    std::atomic<bool> m_cancel{false};
    std::thread m_thread;
};

}  // namespace attnlab
