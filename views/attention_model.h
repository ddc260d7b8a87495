// View models of the attention and mask views: which matrix is on screen, its colour image, what
// is under the mouse, and what the strategy kept. Built from a ComparisonData snapshot on the GUI
// thread; no Qt, no GL, so the tests drive them directly.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "views/colormap.h"
#include "views/view_data.h"

namespace attnlab {

// Query heads that read the same KV head (grouped-query attention).
struct HeadGroup {
    int64_t kv_head = 0;
    std::vector<int64_t> query_heads;
};

std::vector<HeadGroup> headGroups(const ComparisonData& data);

// Kept KV entries of one KV head after the strategy's prefill compression, as a mask over the
// matrix's key columns (1 = kept). Empty when the run recorded no decision for that head (full
// attention keeps everything).
std::vector<uint8_t> keptColumns(const RunData& run, const AttentionMatrix& matrix, int64_t layer, int64_t kv_head);

// How much of the full-attention mass the kept keys cover.
struct KeptCoverage {
    bool has_mask = false;      // false: the strategy kept every entry of this head
    int64_t kept_keys = 0;
    int64_t total_keys = 0;
    double last_row_mass = 1;   // the last prompt query: what the first decode step resembles
    double mean_row_mass = 1;   // mean over every prompt query
};

KeptCoverage keptCoverage(const AttentionMatrix& matrix, const std::vector<uint8_t>& kept);

// One matrix cell under the mouse.
struct CellInfo {
    bool is_valid = false;
    int64_t row = -1;
    int64_t col = -1;
    int64_t query_position = -1;
    int64_t key_position = -1;
    std::string query_token;
    std::string key_token;
    float weight = 0;
    bool is_future = false;  // the causal mask hides this key from this query
    bool is_kept = true;
};

// Row / column focus: one query's attention over the prompt, or how every query attends to one key,
// as a weight per prompt position, so the prompt text can be tinted token by token.
enum class FocusKind { None = 0, Query = 1, Key = 2 };

struct TokenFocus {
    FocusKind kind = FocusKind::None;
    int64_t position = -1;       // the focused token's prompt position
    std::vector<std::string> tokens;  // ComparisonData::prompt_tokens: the text to tint
    std::vector<float> weights;       // per prompt position; 0 where none
    float max_weight = 0;
    std::string description;     // e.g. "query #37 \" the\" → keys · layer 1 · head 3"
};

class AttentionViewModel {
public:
    // Textures stay within this many texels per side: larger matrices are max-pooled for the image
    // (hover and export still read exact cells).
    static constexpr int kMaxImageSide = 2048;

    void setData(std::shared_ptr<const ComparisonData> data);
    // Out-of-range values are clamped; a run without captures shows an empty view.
    void select(int run, int64_t layer, int64_t head);
    void setScale(ColorScale scale);
    void setMaskOverlay(bool is_on);

    const ComparisonData* data() const { return m_data.get(); }
    int run() const { return m_run; }
    int64_t layer() const { return m_layer; }
    int64_t head() const { return m_head; }
    int64_t kvHead() const;
    ColorScale scale() const { return m_scale; }
    bool isMaskOverlay() const { return m_is_mask_overlay; }

    const RunData* currentRun() const;
    const AttentionMatrix* matrix() const;  // nullptr when not captured
    const std::vector<uint8_t>& keptMask() const { return m_kept; }
    KeptCoverage coverage() const;
    // Exact cell, in matrix rows / columns.
    CellInfo cell(int64_t row, int64_t col) const;
    ScaleRange range() const { return m_range; }
    // The colour image of the current matrix (kept columns bright and the rest dimmed when the mask
    // overlay is on); rebuilt lazily, `version` changes with it.
    const RgbaImage& image() const;
    // "streaming:budget=25%,sink=4 · layer 1 · head 5 (KV head 1: q4–q7)"
    std::string title() const;
    // Why the view is empty, or "".
    std::string emptyReason() const;

    // Focus the query of matrix row `index` (its row) or the key of column `index` (its column);
    // FocusKind::None clears it. The focus follows its prompt position across head and run changes.
    void setFocus(FocusKind kind, int64_t index);
    FocusKind focusKind() const { return m_focus_kind; }
    int64_t focusPosition() const { return m_focus_position; }
    // Matrix row (Query) or column (Key) of the focus in the current matrix; -1 if not on it.
    int64_t focusIndex() const;
    TokenFocus tokenFocus() const;

private:
    void refresh();

    std::shared_ptr<const ComparisonData> m_data;
    int m_run = 0;
    int64_t m_layer = 0;
    int64_t m_head = 0;
    ColorScale m_scale = ColorScale::Linear;
    bool m_is_mask_overlay = false;
    FocusKind m_focus_kind = FocusKind::None;
    int64_t m_focus_position = -1;
    const AttentionMatrix* m_matrix = nullptr;
    std::vector<uint8_t> m_kept;
    ScaleRange m_range;
    mutable RgbaImage m_image;
    mutable bool m_is_image_stale = true;
};

}  // namespace attnlab
