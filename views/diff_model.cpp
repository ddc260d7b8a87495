#include "views/diff_model.h"

#include <algorithm>
#include <cmath>

#include "views/attention_model.h"

namespace attnlab {

namespace {

// ColorBrewer RdBu (11 classes), from its blue end to its red end.
constexpr uint8_t kRdBu[11][3] = {{5, 48, 97},    {33, 102, 172}, {67, 147, 195},  {146, 197, 222},
                                  {209, 229, 240}, {247, 247, 247}, {253, 219, 199}, {244, 165, 130},
                                  {214, 96, 77},   {178, 24, 43},   {103, 0, 31}};

int64_t positionAt(const std::vector<int64_t>& v, int64_t i) {
    return i < static_cast<int64_t>(v.size()) ? v[static_cast<size_t>(i)] : i;
}

}  // namespace

Rgba8 diverging(double t) {
    if (!(t == t)) t = 0;  // NaN
    t = std::clamp(t, -1.0, 1.0);
    const double x = (t + 1.0) * 5.0;
    const int i = std::min(9, static_cast<int>(x));
    const double f = x - i;
    Rgba8 c;
    c.r = static_cast<uint8_t>(std::lround(kRdBu[i][0] + f * (kRdBu[i + 1][0] - kRdBu[i][0])));
    c.g = static_cast<uint8_t>(std::lround(kRdBu[i][1] + f * (kRdBu[i + 1][1] - kRdBu[i][1])));
    c.b = static_cast<uint8_t>(std::lround(kRdBu[i][2] + f * (kRdBu[i + 1][2] - kRdBu[i][2])));
    return c;
}

std::vector<float> attentionAfterDecisions(const RunData& run, const AttentionMatrix& m, int64_t layer,
                                           int64_t kv_head) {
    std::vector<float> out = m.probs;
    const std::vector<uint8_t> kept = keptColumns(run, m, layer, kv_head);
    if (kept.empty()) return out;
    for (int64_t r = 0; r < m.rows; ++r) {
        float* row = out.data() + r * m.cols;
        double total = 0;
        for (int64_t c = 0; c < m.cols; ++c) {
            if (!kept[static_cast<size_t>(c)]) row[c] = 0;
            total += row[c];
        }
        // A query whose visible keys were all evicted reads nothing: its row stays zero.
        if (total > 0)
            for (int64_t c = 0; c < m.cols; ++c) row[c] = static_cast<float>(row[c] / total);
    }
    return out;
}

void DiffModel::setData(std::shared_ptr<const ComparisonData> data) {
    m_data = std::move(data);
    refresh();
}

void DiffModel::select(int run_a, int run_b, int64_t layer, int64_t head) {
    m_run_a = run_a;
    m_run_b = run_b;
    m_layer = layer;
    m_head = head;
    refresh();
}

void DiffModel::refresh() {
    m_matrix_a = nullptr;
    m_rows = m_cols = 0;
    m_delta.clear();
    m_max_abs = m_mean_tv = 0;
    m_problem.clear();
    m_is_image_stale = true;
    if (!m_data) return;
    const int runs = static_cast<int>(m_data->runs.size());
    if (runs == 0) return;
    if (m_run_b < 0) m_run_b = runs - 1;
    m_run_a = std::clamp(m_run_a, 0, runs - 1);
    m_run_b = std::clamp(m_run_b, 0, runs - 1);
    m_layer = std::clamp<int64_t>(m_layer, 0, std::max<int64_t>(0, m_data->layers - 1));
    m_head = std::clamp<int64_t>(m_head, 0, std::max<int64_t>(0, m_data->heads - 1));
    const RunData& a = m_data->runs[static_cast<size_t>(m_run_a)];
    const RunData& b = m_data->runs[static_cast<size_t>(m_run_b)];
    const AttentionMatrix* ma = a.capture(m_layer, m_head);
    const AttentionMatrix* mb = b.capture(m_layer, m_head);
    if (!ma || !mb) {
        m_problem = "Layer " + std::to_string(m_layer) + ", head " + std::to_string(m_head) + " was not captured in " +
                    (!ma ? a.spec : b.spec) + ".";
        return;
    }
    if (ma->rows != mb->rows || ma->cols != mb->cols || ma->query_positions != mb->query_positions ||
        ma->key_positions != mb->key_positions) {
        m_problem = "The two runs captured different positions for this head (not the same prompt?).";
        return;
    }
    const int64_t kv = m_data->kvHeadOf(m_head);
    const std::vector<float> pa = attentionAfterDecisions(a, *ma, m_layer, kv);
    const std::vector<float> pb = attentionAfterDecisions(b, *mb, m_layer, kv);
    m_matrix_a = ma;
    m_rows = ma->rows;
    m_cols = ma->cols;
    m_delta.resize(pa.size());
    double tv = 0;
    for (size_t i = 0; i < pa.size(); ++i) {
        m_delta[i] = pb[i] - pa[i];
        m_max_abs = std::max(m_max_abs, std::fabs(double(m_delta[i])));
        tv += std::fabs(double(m_delta[i]));
    }
    m_mean_tv = m_rows > 0 ? tv / 2.0 / double(m_rows) : 0;
}

float DiffModel::delta(int64_t row, int64_t col) const {
    if (row < 0 || col < 0 || row >= m_rows || col >= m_cols) return 0;
    return m_delta[static_cast<size_t>(row * m_cols + col)];
}

bool DiffModel::isFuture(int64_t row, int64_t col) const {
    if (!m_matrix_a) return false;
    return positionAt(m_matrix_a->key_positions, col) > positionAt(m_matrix_a->query_positions, row);
}

const std::vector<std::string>& DiffModel::tokens() const {
    static const std::vector<std::string> kNone;
    return m_data ? m_data->reference_tokens : kNone;
}

std::vector<double> DiffModel::klA() const {
    if (!m_data || m_data->runs.empty()) return {};
    return m_data->runs[static_cast<size_t>(m_run_a)].kl_per_token;
}

std::vector<double> DiffModel::klB() const {
    if (!m_data || m_data->runs.empty()) return {};
    return m_data->runs[static_cast<size_t>(m_run_b)].kl_per_token;
}

std::vector<double> DiffModel::klDelta() const {
    const std::vector<double> a = klA(), b = klB();
    std::vector<double> d(std::max(a.size(), b.size()), 0.0);
    for (size_t i = 0; i < d.size(); ++i) d[i] = (i < b.size() ? b[i] : 0.0) - (i < a.size() ? a[i] : 0.0);
    return d;
}

double DiffModel::maxAbsKlDelta() const {
    double m = 0;
    for (double v : klDelta()) m = std::max(m, std::fabs(v));
    return m;
}

const RgbaImage& DiffModel::image() const {
    if (!m_is_image_stale) return m_image;
    m_is_image_stale = false;
    m_image = RgbaImage{};
    m_image.version = nextImageVersion();
    if (m_rows <= 0 || m_cols <= 0) return m_image;
    const int64_t pool = (std::max(m_rows, m_cols) + kMaxImageSide - 1) / kMaxImageSide;
    m_image.width = static_cast<int>((m_cols + pool - 1) / pool);
    m_image.height = static_cast<int>((m_rows + pool - 1) / pool);
    m_image.pixels.assign(static_cast<size_t>(m_image.width) * static_cast<size_t>(m_image.height) * 4, 0);
    const double scale = m_max_abs > 0 ? 1.0 / m_max_abs : 0.0;
    for (int y = 0; y < m_image.height; ++y) {
        for (int x = 0; x < m_image.width; ++x) {
            // Pooled texels keep the largest change, with its sign.
            double best = 0;
            bool any = false;
            for (int64_t r = y * pool; r < std::min<int64_t>(m_rows, (y + 1) * pool); ++r) {
                for (int64_t c = x * pool; c < std::min<int64_t>(m_cols, (x + 1) * pool); ++c) {
                    if (isFuture(r, c)) continue;
                    const double d = delta(r, c);
                    if (!any || std::fabs(d) > std::fabs(best)) best = d;
                    any = true;
                }
            }
            m_image.set(x, y, any ? diverging(best * scale) : kDiffFutureColor);
        }
    }
    return m_image;
}

std::string DiffModel::title() const {
    if (!m_data || m_data->runs.empty()) return "no runs yet";
    const std::string& a = m_data->runs[static_cast<size_t>(m_run_a)].spec;
    const std::string& b = m_data->runs[static_cast<size_t>(m_run_b)].spec;
    return "Δ attention (" + b + ") − (" + a + ") · layer " + std::to_string(m_layer) + " · head " +
           std::to_string(m_head);
}

std::string DiffModel::emptyReason() const {
    if (!m_data) return "Run a comparison to compare two of its runs.";
    if (m_data->runs.empty()) return "This comparison has no runs.";
    return m_problem;
}

}  // namespace attnlab
