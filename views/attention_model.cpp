#include "views/attention_model.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace attnlab {

namespace {

constexpr Rgba8 kFutureColor{24, 24, 28, 255};

// Evicted keys keep their brightness ordering but lose their colour and most of their light.
Rgba8 dimmed(Rgba8 c) {
    const double luminance = 0.30 * c.r + 0.59 * c.g + 0.11 * c.b;
    const auto v = static_cast<uint8_t>(std::lround(30 + 0.30 * luminance));
    return Rgba8{v, v, static_cast<uint8_t>(std::min(255, v + 6)), 255};
}

}  // namespace

std::vector<HeadGroup> headGroups(const ComparisonData& data) {
    std::vector<HeadGroup> groups;
    const int64_t kv_heads = data.kv_heads > 0 ? data.kv_heads : 1;
    for (int64_t kv = 0; kv < kv_heads; ++kv) groups.push_back(HeadGroup{kv, {}});
    for (int64_t h = 0; h < data.heads; ++h) {
        const int64_t kv = std::min(data.kvHeadOf(h), kv_heads - 1);
        groups[static_cast<size_t>(kv)].query_heads.push_back(h);
    }
    return groups;
}

std::vector<uint8_t> keptColumns(const RunData& run, const AttentionMatrix& matrix, int64_t layer, int64_t kv_head) {
    const HeadDecision* decision = nullptr;
    for (const HeadDecision& d : run.trace.decisions)
        if (d.layer == layer && d.kv_head == kv_head && d.stage == "compress_prefill") decision = &d;
    if (!decision) return {};
    std::unordered_map<int64_t, size_t> column_of;
    column_of.reserve(matrix.key_positions.size());
    for (size_t c = 0; c < matrix.key_positions.size(); ++c) column_of[matrix.key_positions[c]] = c;
    std::vector<uint8_t> kept(static_cast<size_t>(matrix.cols), 0);
    for (int64_t pos : decision->kept_positions) {
        auto it = column_of.find(pos);
        if (it != column_of.end()) kept[it->second] = 1;
    }
    return kept;
}

KeptCoverage keptCoverage(const AttentionMatrix& m, const std::vector<uint8_t>& kept) {
    KeptCoverage c;
    c.total_keys = m.cols;
    if (kept.empty() || m.rows <= 0 || m.cols <= 0) {
        c.kept_keys = m.cols;
        return c;
    }
    c.has_mask = true;
    c.kept_keys = std::count(kept.begin(), kept.end(), uint8_t{1});
    double sum_rows = 0;
    for (int64_t r = 0; r < m.rows; ++r) {
        const float* row = m.probs.data() + r * m.cols;
        double total = 0, covered = 0;
        for (int64_t k = 0; k < m.cols; ++k) {
            total += row[k];
            if (kept[static_cast<size_t>(k)]) covered += row[k];
        }
        const double share = total > 0 ? covered / total : 0;
        sum_rows += share;
        if (r == m.rows - 1) c.last_row_mass = share;
    }
    c.mean_row_mass = sum_rows / double(m.rows);
    return c;
}

void AttentionViewModel::setData(std::shared_ptr<const ComparisonData> data) {
    // A focus means a prompt position: it survives a re-run on the same prompt only.
    if (!data || !m_data || data->prompt_tokens != m_data->prompt_tokens) {
        m_focus_kind = FocusKind::None;
        m_focus_position = -1;
    }
    m_data = std::move(data);
    refresh();
}

void AttentionViewModel::select(int run, int64_t layer, int64_t head) {
    m_run = run;
    m_layer = layer;
    m_head = head;
    refresh();
}

void AttentionViewModel::setScale(ColorScale scale) {
    if (scale == m_scale) return;
    m_scale = scale;
    refresh();
}

void AttentionViewModel::setMaskOverlay(bool is_on) {
    if (is_on == m_is_mask_overlay) return;
    m_is_mask_overlay = is_on;
    m_is_image_stale = true;
}

int64_t AttentionViewModel::kvHead() const { return m_data ? m_data->kvHeadOf(m_head) : 0; }

const RunData* AttentionViewModel::currentRun() const {
    if (!m_data || m_data->runs.empty()) return nullptr;
    return &m_data->runs[static_cast<size_t>(m_run)];
}

const AttentionMatrix* AttentionViewModel::matrix() const { return m_matrix; }

void AttentionViewModel::refresh() {
    m_matrix = nullptr;
    m_kept.clear();
    m_is_image_stale = true;
    if (!m_data) return;
    m_run = std::clamp(m_run, 0, std::max(0, static_cast<int>(m_data->runs.size()) - 1));
    m_layer = std::clamp<int64_t>(m_layer, 0, std::max<int64_t>(0, m_data->layers - 1));
    m_head = std::clamp<int64_t>(m_head, 0, std::max<int64_t>(0, m_data->heads - 1));
    const RunData* run = currentRun();
    if (!run) return;
    m_matrix = run->capture(m_layer, m_head);
    if (!m_matrix) return;
    m_kept = keptColumns(*run, *m_matrix, m_layer, kvHead());
    float max_value = 0;
    for (float p : m_matrix->probs) max_value = std::max(max_value, p);
    m_range = ScaleRange::forMaximum(m_scale, max_value);
}

KeptCoverage AttentionViewModel::coverage() const {
    if (!m_matrix) return KeptCoverage{};
    return keptCoverage(*m_matrix, m_kept);
}

CellInfo AttentionViewModel::cell(int64_t row, int64_t col) const {
    CellInfo info;
    if (!m_matrix || row < 0 || col < 0 || row >= m_matrix->rows || col >= m_matrix->cols) return info;
    info.is_valid = true;
    info.row = row;
    info.col = col;
    info.query_position = row < static_cast<int64_t>(m_matrix->query_positions.size())
                              ? m_matrix->query_positions[static_cast<size_t>(row)]
                              : row;
    info.key_position = col < static_cast<int64_t>(m_matrix->key_positions.size())
                            ? m_matrix->key_positions[static_cast<size_t>(col)]
                            : col;
    const auto& tokens = m_data->prompt_tokens;
    auto tokenAt = [&](int64_t pos) {
        return pos >= 0 && pos < static_cast<int64_t>(tokens.size()) ? tokens[static_cast<size_t>(pos)] : std::string();
    };
    info.query_token = tokenAt(info.query_position);
    info.key_token = tokenAt(info.key_position);
    info.weight = m_matrix->probs[static_cast<size_t>(row * m_matrix->cols + col)];
    info.is_future = info.key_position > info.query_position;
    info.is_kept = m_kept.empty() || m_kept[static_cast<size_t>(col)] != 0;
    return info;
}

const RgbaImage& AttentionViewModel::image() const {
    if (!m_is_image_stale) return m_image;
    m_is_image_stale = false;
    m_image = RgbaImage{};
    m_image.version = nextImageVersion();
    if (!m_matrix || m_matrix->rows <= 0 || m_matrix->cols <= 0) return m_image;
    const AttentionMatrix& m = *m_matrix;
    const int64_t side = std::max(m.rows, m.cols);
    const int64_t pool = (side + kMaxImageSide - 1) / kMaxImageSide;  // cells per texel side
    m_image.width = static_cast<int>((m.cols + pool - 1) / pool);
    m_image.height = static_cast<int>((m.rows + pool - 1) / pool);
    m_image.pixels.assign(static_cast<size_t>(m_image.width) * static_cast<size_t>(m_image.height) * 4, 0);
    const bool show_mask = m_is_mask_overlay && !m_kept.empty();
    for (int y = 0; y < m_image.height; ++y) {
        for (int x = 0; x < m_image.width; ++x) {
            float best = -1;
            bool any_kept = false;
            for (int64_t r = y * pool; r < std::min<int64_t>(m.rows, (y + 1) * pool); ++r) {
                const int64_t qpos = r < static_cast<int64_t>(m.query_positions.size()) ? m.query_positions[r] : r;
                for (int64_t c = x * pool; c < std::min<int64_t>(m.cols, (x + 1) * pool); ++c) {
                    const int64_t kpos = c < static_cast<int64_t>(m.key_positions.size()) ? m.key_positions[c] : c;
                    if (kpos > qpos) continue;
                    best = std::max(best, m.probs[static_cast<size_t>(r * m.cols + c)]);
                    if (!show_mask || m_kept[static_cast<size_t>(c)]) any_kept = true;
                }
            }
            if (best < 0) {
                m_image.set(x, y, kFutureColor);
                continue;
            }
            const Rgba8 c = viridis(m_range.normalize(best));
            m_image.set(x, y, any_kept ? c : dimmed(c));
        }
    }
    return m_image;
}

std::string AttentionViewModel::title() const {
    const RunData* run = currentRun();
    if (!run) return "no run yet";
    std::string t = run->spec + " · layer " + std::to_string(m_layer) + " · head " + std::to_string(m_head);
    if (m_data && m_data->kv_heads > 0 && m_data->kv_heads < m_data->heads) {
        const int64_t g = m_data->groupSize(), kv = kvHead();
        t += " (KV head " + std::to_string(kv) + ": q" + std::to_string(kv * g) + "–q" + std::to_string(kv * g + g - 1) +
             ")";
    }
    return t;
}

std::string AttentionViewModel::emptyReason() const {
    if (!m_data) return "Run a comparison to see its attention.";
    if (!currentRun()) return "This comparison has no runs.";
    if (!m_matrix)
        return "Layer " + std::to_string(m_layer) + ", head " + std::to_string(m_head) +
               " was not captured in this run (long prompts keep only the selected layer).";
    return "";
}

void AttentionViewModel::setFocus(FocusKind kind, int64_t index) {
    m_focus_kind = FocusKind::None;
    m_focus_position = -1;
    const AttentionMatrix* m = matrix();
    if (kind == FocusKind::None || !m) return;
    const std::vector<int64_t>& positions = kind == FocusKind::Query ? m->query_positions : m->key_positions;
    if (index < 0 || index >= static_cast<int64_t>(positions.size())) return;
    m_focus_kind = kind;
    m_focus_position = positions[static_cast<size_t>(index)];
}

int64_t AttentionViewModel::focusIndex() const {
    const AttentionMatrix* m = matrix();
    if (m_focus_kind == FocusKind::None || !m) return -1;
    const std::vector<int64_t>& positions = m_focus_kind == FocusKind::Query ? m->query_positions : m->key_positions;
    auto it = std::find(positions.begin(), positions.end(), m_focus_position);
    return it == positions.end() ? -1 : static_cast<int64_t>(it - positions.begin());
}

TokenFocus AttentionViewModel::tokenFocus() const {
    TokenFocus f;
    const AttentionMatrix* m = matrix();
    const int64_t index = focusIndex();
    if (!m || !m_data || index < 0) return f;
    f.kind = m_focus_kind;
    f.position = m_focus_position;
    f.tokens = m_data->prompt_tokens;
    f.weights.assign(m_data->prompt_tokens.size(), 0.0f);
    auto put = [&](int64_t position, float w) {
        if (position >= 0 && position < static_cast<int64_t>(f.weights.size())) {
            f.weights[static_cast<size_t>(position)] = w;
            f.max_weight = std::max(f.max_weight, w);
        }
    };
    if (f.kind == FocusKind::Query) {
        for (int64_t c = 0; c < m->cols; ++c) put(m->key_positions[static_cast<size_t>(c)], m->probs[size_t(index * m->cols + c)]);
    } else {
        for (int64_t r = 0; r < m->rows; ++r) put(m->query_positions[static_cast<size_t>(r)], m->probs[size_t(r * m->cols + index)]);
    }
    const std::string token =
        f.position < static_cast<int64_t>(m_data->prompt_tokens.size()) ? m_data->prompt_tokens[size_t(f.position)] : "";
    f.description = std::string(f.kind == FocusKind::Query ? "query" : "key") + " #" + std::to_string(f.position) +
                    " \"" + displayToken(token) + "\" " +
                    (f.kind == FocusKind::Query ? "→ the keys it attends to" : "← the queries that attend to it") +
                    " · layer " + std::to_string(m_layer) + " · head " + std::to_string(m_head);
    return f;
}

}  // namespace attnlab
