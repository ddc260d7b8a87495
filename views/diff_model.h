// View model of the difference map between two runs of one comparison (same prompt, same model):
// B - A of the attention one head gives after each run's cache decisions, and B - A of the per-token
// KL from full of the two runs' output distributions. Qt-free and GL-free.
//
// Attention after a run's decisions: the run's exact prefill attention restricted to the keys its
// strategy kept for that head's KV head and renormalised per query. That is exactly the softmax a
// query with the same scores gets over the kept cache (what the first decode step reads); a run
// without a kept set (full) keeps its captured attention. The prefill itself is dense for every
// strategy we ship, so the raw captures of two runs on one model are equal and their difference
// is the effect of the kept set.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "views/colormap.h"
#include "views/view_data.h"

namespace attnlab {

// Diverging colour map (ColorBrewer RdBu, reversed): t = -1 blue, 0 near white, +1 red.
Rgba8 diverging(double t);

// Cells the causal mask hides (a query never sees later keys).
constexpr Rgba8 kDiffFutureColor{205, 205, 210, 255};

// The attention one run's queries give its kept keys (see above); empty when not captured.
std::vector<float> attentionAfterDecisions(const RunData& run, const AttentionMatrix& matrix, int64_t layer,
                                           int64_t kv_head);

class DiffModel {
public:
    static constexpr int kMaxImageSide = 2048;

    void setData(std::shared_ptr<const ComparisonData> data);
    // Out-of-range values are clamped; by default A is run 0 and B the last run.
    void select(int run_a, int run_b, int64_t layer, int64_t head);

    const ComparisonData* data() const { return m_data.get(); }
    int runA() const { return m_run_a; }
    int runB() const { return m_run_b; }
    int64_t layer() const { return m_layer; }
    int64_t head() const { return m_head; }

    // The attention difference: rows x cols of B - A, with A's capture's positions.
    int64_t rows() const { return m_rows; }
    int64_t cols() const { return m_cols; }
    const AttentionMatrix* matrix() const { return m_matrix_a; }
    float delta(int64_t row, int64_t col) const;
    bool isFuture(int64_t row, int64_t col) const;
    double maxAbsDelta() const { return m_max_abs; }  // the colour scale spans [-max, +max]
    // Sum over queries of |B - A| / 2 / rows: mean total-variation distance between the two rows.
    double meanTotalVariation() const { return m_mean_tv; }

    // Per-token KL from full of each run on full's continuation, and B - A.
    const std::vector<std::string>& tokens() const;
    std::vector<double> klA() const;
    std::vector<double> klB() const;
    std::vector<double> klDelta() const;
    double maxAbsKlDelta() const;

    const RgbaImage& image() const;
    std::string title() const;
    std::string emptyReason() const;

private:
    void refresh();

    std::shared_ptr<const ComparisonData> m_data;
    int m_run_a = 0;
    int m_run_b = -1;  // -1: the last run
    int64_t m_layer = 0;
    int64_t m_head = 0;
    const AttentionMatrix* m_matrix_a = nullptr;
    int64_t m_rows = 0;
    int64_t m_cols = 0;
    std::vector<float> m_delta;
    double m_max_abs = 0;
    double m_mean_tv = 0;
    std::string m_problem;
    mutable RgbaImage m_image;
    mutable bool m_is_image_stale = true;
};

}  // namespace attnlab
