// View model of the KV-cache timeline: for one run, layer and KV head, which cache entries (token
// positions) are alive, selected or evicted after the prefill and after each decode step, replayed
// from the strategy's trace (HeadDecision / EvictionEvent). Qt-free and GL-free.
//
// Rows: row 0 is the prefill (after its compression), row s + 1 is decode step s, which writes
// position prompt + s. Columns: positions 0 .. prompt + decode steps - 1.
// - a "compress_*" decision sets the head's cache to its kept positions; what was alive and is not
//   kept is evicted in that row (and gone after it), and when it dropped anything its kept entries
//   are shown as selected in that row (SnapKV's one-shot selection by score, StreamingLLM's sinks
//   and window by position); a decision that keeps everything (a retrieval head) selects nothing.
// - a "select*" decision (decode-time selection: the step reads only some live entries) marks its
//   positions as selected in that row; the cache itself is unchanged.
// - an EvictionEvent evicts its positions in that row (StreamingLLM's window sliding).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "views/colormap.h"
#include "views/view_data.h"

namespace attnlab {

enum class KvState : uint8_t {
    NotWritten = 0,  // the position does not exist yet at this step
    Alive = 1,
    Selected = 2,    // chosen by a selection at this step (and alive)
    Evicted = 3,     // left the cache at this step (it was read by this step's attention)
    Gone = 4,        // evicted earlier
};

const char* kvStateName(KvState state);
Rgba8 kvStateColor(KvState state);

struct TimelineRowSummary {
    int64_t alive = 0;  // alive + selected
    int64_t selected = 0;
    int64_t evicted = 0;
};

class TimelineModel {
public:
    static constexpr int kMaxImageColumns = 2048;  // longer prompts are pooled for the image

    void setData(std::shared_ptr<const ComparisonData> data);
    // Out-of-range values are clamped.
    void select(int run, int64_t layer, int64_t kv_head);

    const ComparisonData* data() const { return m_data.get(); }
    int run() const { return m_run; }
    int64_t layer() const { return m_layer; }
    int64_t kvHead() const { return m_kv_head; }
    const RunData* currentRun() const;

    int64_t rows() const { return m_rows; }
    int64_t positions() const { return m_cols; }
    int64_t promptTokens() const { return m_prompt; }
    KvState state(int64_t row, int64_t position) const;
    TimelineRowSummary summary(int64_t row) const;
    // True when the run's trace holds anything for this layer and KV head.
    bool hasTrace() const { return m_has_trace; }
    // Row label: "prefill" or "step 3".
    std::string rowLabel(int64_t row) const;
    // Token at a position: prompt tokens, then the run's output tokens fed back in decode.
    std::string tokenAt(int64_t position) const;

    // One texel per (row, position), or per pooled run of positions; a pooled texel shows the most
    // telling state in it (evicted > selected > alive > gone > not written).
    const RgbaImage& image() const;
    std::string title() const;
    std::string emptyReason() const;

private:
    void refresh();

    std::shared_ptr<const ComparisonData> m_data;
    int m_run = 0;
    int64_t m_layer = 0;
    int64_t m_kv_head = 0;
    int64_t m_rows = 0;
    int64_t m_cols = 0;
    int64_t m_prompt = 0;
    bool m_has_trace = false;
    std::vector<uint8_t> m_states;  // [row * cols + position]
    mutable RgbaImage m_image;
    mutable bool m_is_image_stale = true;
};

}  // namespace attnlab
