#include "views/head_grid_model.h"

#include <algorithm>
#include <cmath>

#include "views/attention_model.h"

namespace attnlab {

const char* headScoreName(HeadScore score) {
    switch (score) {
        case HeadScore::Entropy: return "entropy";
        case HeadScore::SinkMass: return "sink mass";
        case HeadScore::KeptFraction: return "kept fraction";
        case HeadScore::KeptCoverage: return "kept coverage";
    }
    return "?";
}

const char* headScoreHelp(HeadScore score) {
    switch (score) {
        case HeadScore::Entropy: return "mean entropy of a query's attention over the keys it sees, / log(keys): 0 = one key, 1 = uniform";
        case HeadScore::SinkMass: return "mean attention on the first 4 prompt positions (attention sinks)";
        case HeadScore::KeptFraction: return "share of the prompt's KV entries the strategy kept for this head's KV head";
        case HeadScore::KeptCoverage: return "share of the last query's full attention that falls on kept entries";
    }
    return "";
}

std::vector<HeadScore> allHeadScores() {
    return {HeadScore::Entropy, HeadScore::SinkMass, HeadScore::KeptFraction, HeadScore::KeptCoverage};
}

double HeadStats::value(HeadScore score) const {
    switch (score) {
        case HeadScore::Entropy: return entropy;
        case HeadScore::SinkMass: return sink_mass;
        case HeadScore::KeptFraction: return kept_fraction;
        case HeadScore::KeptCoverage: return kept_coverage;
    }
    return 0;
}

HeadStats computeHeadStats(const AttentionMatrix& m, const std::vector<uint8_t>& kept) {
    HeadStats s;
    if (m.rows <= 0 || m.cols <= 0) return s;
    s.has_capture = true;
    double entropy_sum = 0, sink_sum = 0;
    int64_t entropy_rows = 0;
    for (int64_t r = 0; r < m.rows; ++r) {
        const int64_t qpos = r < static_cast<int64_t>(m.query_positions.size()) ? m.query_positions[r] : r;
        const float* row = m.probs.data() + r * m.cols;
        double h = 0, sink = 0;
        int64_t visible = 0;
        for (int64_t c = 0; c < m.cols; ++c) {
            const int64_t kpos = c < static_cast<int64_t>(m.key_positions.size()) ? m.key_positions[c] : c;
            if (kpos > qpos) continue;
            ++visible;
            const double p = row[c];
            if (p > 0) h -= p * std::log(p);
            if (kpos < kSinkTokens) sink += p;
        }
        sink_sum += sink;
        if (visible > 1) {
            entropy_sum += std::clamp(h / std::log(double(visible)), 0.0, 1.0);
            ++entropy_rows;
        }
    }
    s.entropy = entropy_rows > 0 ? entropy_sum / double(entropy_rows) : 0;
    s.sink_mass = std::clamp(sink_sum / double(m.rows), 0.0, 1.0);
    const KeptCoverage c = keptCoverage(m, kept);
    s.kept_fraction = c.total_keys > 0 ? double(c.kept_keys) / double(c.total_keys) : 1;
    s.kept_coverage = c.last_row_mass;
    return s;
}

void HeadGridModel::setData(std::shared_ptr<const ComparisonData> data) {
    m_data = std::move(data);
    refresh();
}

void HeadGridModel::setRun(int run) {
    m_run = run;
    refresh();
}

void HeadGridModel::setScore(HeadScore score) { m_score = score; }

void HeadGridModel::setSelected(int64_t layer, int64_t head) {
    m_selected_layer = layer;
    m_selected_head = head;
}

int64_t HeadGridModel::layers() const { return m_data ? m_data->layers : 0; }
int64_t HeadGridModel::heads() const { return m_data ? m_data->heads : 0; }

const HeadStats& HeadGridModel::stats(int64_t layer, int64_t head) const {
    static const HeadStats kNone;
    if (layer < 0 || head < 0 || layer >= layers() || head >= heads()) return kNone;
    const size_t i = static_cast<size_t>(layer * heads() + head);
    return i < m_stats.size() ? m_stats[i] : kNone;
}

double HeadGridModel::scoreAt(int64_t layer, int64_t head) const {
    const HeadStats& s = stats(layer, head);
    return s.has_capture ? s.value(m_score) : -1.0;
}

std::string HeadGridModel::title() const {
    if (!m_data || m_data->runs.empty()) return "no run yet";
    return m_data->runs[static_cast<size_t>(m_run)].spec + " · " + headScoreName(m_score);
}

void HeadGridModel::refresh() {
    m_stats.clear();
    m_thumbnails = RgbaImage{};
    m_thumbnails.version = nextImageVersion();
    if (!m_data || m_data->runs.empty() || m_data->layers <= 0 || m_data->heads <= 0) return;
    m_run = std::clamp(m_run, 0, static_cast<int>(m_data->runs.size()) - 1);
    const RunData& run = m_data->runs[static_cast<size_t>(m_run)];
    const int64_t L = m_data->layers, H = m_data->heads;
    m_stats.assign(static_cast<size_t>(L * H), HeadStats{});
    m_thumbnails.width = static_cast<int>(H * kThumbSide);
    m_thumbnails.height = static_cast<int>(L * kThumbSide);
    m_thumbnails.pixels.assign(static_cast<size_t>(m_thumbnails.width) * m_thumbnails.height * 4, 0);
    for (int64_t l = 0; l < L; ++l) {
        for (int64_t h = 0; h < H; ++h) {
            const AttentionMatrix* m = run.capture(l, h);
            if (!m) continue;
            const std::vector<uint8_t> kept = keptColumns(run, *m, l, m_data->kvHeadOf(h));
            m_stats[static_cast<size_t>(l * H + h)] = computeHeadStats(*m, kept);
            // Max-pool (or repeat, for small matrices) into kThumbSide x kThumbSide; sqrt so faint
            // structure stays visible.
            std::vector<float> pooled(kThumbSide * kThumbSide, 0.f);
            for (int ty = 0; ty < kThumbSide; ++ty) {
                const int64_t r0 = ty * m->rows / kThumbSide, r1 = std::max(r0 + 1, (ty + 1) * m->rows / kThumbSide);
                for (int tx = 0; tx < kThumbSide; ++tx) {
                    const int64_t c0 = tx * m->cols / kThumbSide;
                    const int64_t c1 = std::max(c0 + 1, (tx + 1) * m->cols / kThumbSide);
                    float& cell = pooled[static_cast<size_t>(ty * kThumbSide + tx)];
                    for (int64_t r = r0; r < std::min(r1, m->rows); ++r)
                        for (int64_t c = c0; c < std::min(c1, m->cols); ++c)
                            cell = std::max(cell, m->probs[static_cast<size_t>(r * m->cols + c)]);
                }
            }
            const float peak = *std::max_element(pooled.begin(), pooled.end());
            for (int ty = 0; ty < kThumbSide; ++ty) {
                for (int tx = 0; tx < kThumbSide; ++tx) {
                    const float v = peak > 0 ? std::sqrt(pooled[static_cast<size_t>(ty * kThumbSide + tx)] / peak) : 0.f;
                    m_thumbnails.set(static_cast<int>(h * kThumbSide + tx), static_cast<int>(l * kThumbSide + ty),
                                     Rgba8{255, 255, 255, static_cast<uint8_t>(std::lround(255 * v))});
                }
            }
        }
    }
}

}  // namespace attnlab
