// View model of the head grid: one cell per (layer, query head), coloured by a score computed from
// the exact prefill attention and the strategy's trace, with a small thumbnail of the pattern.
// Qt-free and GL-free.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "views/colormap.h"
#include "views/view_data.h"

namespace attnlab {

enum class HeadScore { Entropy = 1, SinkMass = 2, KeptFraction = 3, KeptCoverage = 4 };

const char* headScoreName(HeadScore score);
const char* headScoreHelp(HeadScore score);
std::vector<HeadScore> allHeadScores();

// Every score lies in [0, 1].
struct HeadStats {
    bool has_capture = false;
    double entropy = 0;        // mean over queries of H(row) / log(visible keys)
    double sink_mass = 0;      // mean over queries of the weight on the first kSinkTokens positions
    double kept_fraction = 1;  // kept KV entries / prompt tokens of this head's KV head
    double kept_coverage = 1;  // share of the last query's attention on kept keys

    double value(HeadScore score) const;
};

// The first few positions, as StreamingLLM's default sink count.
constexpr int64_t kSinkTokens = 4;

HeadStats computeHeadStats(const AttentionMatrix& matrix, const std::vector<uint8_t>& kept);

class HeadGridModel {
public:
    static constexpr int kThumbSide = 32;  // texels per thumbnail side

    void setData(std::shared_ptr<const ComparisonData> data);
    void setRun(int run);
    void setScore(HeadScore score);
    void setSelected(int64_t layer, int64_t head);

    const ComparisonData* data() const { return m_data.get(); }
    int run() const { return m_run; }
    HeadScore score() const { return m_score; }
    int64_t layers() const;
    int64_t heads() const;
    int64_t selectedLayer() const { return m_selected_layer; }
    int64_t selectedHead() const { return m_selected_head; }
    const HeadStats& stats(int64_t layer, int64_t head) const;
    // The chosen score, or a negative value when the head was not captured.
    double scoreAt(int64_t layer, int64_t head) const;
    // Thumbnails of every head in one atlas: cell (layer, head) at x = head * kThumbSide,
    // y = layer * kThumbSide; white with the pattern in alpha.
    const RgbaImage& thumbnails() const { return m_thumbnails; }
    std::string title() const;

private:
    void refresh();

    std::shared_ptr<const ComparisonData> m_data;
    int m_run = 0;
    HeadScore m_score = HeadScore::Entropy;
    int64_t m_selected_layer = 0;
    int64_t m_selected_head = 0;
    std::vector<HeadStats> m_stats;  // [layer * heads + head]
    RgbaImage m_thumbnails;
};

}  // namespace attnlab
