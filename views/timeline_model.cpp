#include "views/timeline_model.h"

#include <algorithm>
#include <map>

namespace attnlab {

namespace {

bool startsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// Priority of a state when several positions share one texel.
int rank(KvState s) {
    switch (s) {
        case KvState::Evicted: return 4;
        case KvState::Selected: return 3;
        case KvState::Alive: return 2;
        case KvState::Gone: return 1;
        case KvState::NotWritten: return 0;
    }
    return 0;
}

}  // namespace

const char* kvStateName(KvState state) {
    switch (state) {
        case KvState::NotWritten: return "not written yet";
        case KvState::Alive: return "alive";
        case KvState::Selected: return "selected";
        case KvState::Evicted: return "evicted at this step";
        case KvState::Gone: return "evicted earlier";
    }
    return "?";
}

Rgba8 kvStateColor(KvState state) {
    // Colour-blind-safe pairs (Okabe-Ito): blue alive, orange selected, vermillion evicted.
    switch (state) {
        case KvState::NotWritten: return Rgba8{250, 250, 250, 255};
        case KvState::Alive: return Rgba8{86, 180, 233, 255};
        case KvState::Selected: return Rgba8{230, 159, 0, 255};
        case KvState::Evicted: return Rgba8{213, 94, 0, 255};
        case KvState::Gone: return Rgba8{215, 215, 220, 255};
    }
    return Rgba8{};
}

void TimelineModel::setData(std::shared_ptr<const ComparisonData> data) {
    m_data = std::move(data);
    refresh();
}

void TimelineModel::select(int run, int64_t layer, int64_t kv_head) {
    m_run = run;
    m_layer = layer;
    m_kv_head = kv_head;
    refresh();
}

const RunData* TimelineModel::currentRun() const {
    if (!m_data || m_data->runs.empty()) return nullptr;
    return &m_data->runs[static_cast<size_t>(m_run)];
}

void TimelineModel::refresh() {
    m_states.clear();
    m_rows = m_cols = m_prompt = 0;
    m_has_trace = false;
    m_is_image_stale = true;
    if (!m_data) return;
    m_run = std::clamp(m_run, 0, std::max(0, static_cast<int>(m_data->runs.size()) - 1));
    m_layer = std::clamp<int64_t>(m_layer, 0, std::max<int64_t>(0, m_data->layers - 1));
    const int64_t kv_heads = std::max<int64_t>(1, m_data->kv_heads > 0 ? m_data->kv_heads : m_data->heads);
    m_kv_head = std::clamp<int64_t>(m_kv_head, 0, kv_heads - 1);
    const RunData* run = currentRun();
    if (!run) return;

    // This head's events by step (-1 = prefill).
    std::map<int64_t, std::vector<const HeadDecision*>> decisions;
    std::map<int64_t, std::vector<const EvictionEvent*>> evictions;
    int64_t last_step = -1;
    for (const HeadDecision& d : run->trace.decisions) {
        if (d.layer != m_layer || d.kv_head != m_kv_head) continue;
        decisions[d.step].push_back(&d);
        last_step = std::max(last_step, d.step);
        m_has_trace = true;
    }
    for (const EvictionEvent& e : run->trace.evictions) {
        if (e.layer != m_layer || e.kv_head != m_kv_head) continue;
        evictions[e.step].push_back(&e);
        last_step = std::max(last_step, e.step);
        m_has_trace = true;
    }
    m_prompt = static_cast<int64_t>(m_data->prompt_tokens.size());
    // Decode step s feeds output token s back in, so the last generated token is never written to
    // the cache: at most outputs - 1 steps (a reopened session may count every output as decoded).
    int64_t fed = run->decode_tokens;
    if (!run->output_tokens.empty()) fed = std::min<int64_t>(fed, static_cast<int64_t>(run->output_tokens.size()) - 1);
    const int64_t steps = std::max<int64_t>(std::max<int64_t>(fed, 0), last_step + 1);
    m_rows = 1 + steps;
    m_cols = m_prompt + steps;
    if (m_cols <= 0) return;
    m_states.assign(static_cast<size_t>(m_rows * m_cols), static_cast<uint8_t>(KvState::NotWritten));

    std::vector<uint8_t> alive(static_cast<size_t>(m_cols), 0), gone(static_cast<size_t>(m_cols), 0);
    for (int64_t p = 0; p < m_prompt; ++p) alive[static_cast<size_t>(p)] = 1;
    for (int64_t row = 0; row < m_rows; ++row) {
        const int64_t step = row - 1;
        const int64_t written = row == 0 ? m_prompt : m_prompt + step + 1;  // positions existing now
        if (row > 0 && m_prompt + step < m_cols) alive[static_cast<size_t>(m_prompt + step)] = 1;
        std::vector<uint8_t> evicted_now(static_cast<size_t>(m_cols), 0), selected_now(static_cast<size_t>(m_cols), 0);
        auto inRange = [&](int64_t p) { return p >= 0 && p < m_cols; };
        if (auto it = decisions.find(step); it != decisions.end()) {
            for (const HeadDecision* d : it->second) {
                if (!startsWith(d->stage, "compress")) continue;
                std::vector<uint8_t> kept(static_cast<size_t>(m_cols), 0);
                for (int64_t p : d->kept_positions)
                    if (inRange(p)) kept[static_cast<size_t>(p)] = 1;
                bool dropped = false;
                for (int64_t p = 0; p < m_cols; ++p) {
                    const auto i = static_cast<size_t>(p);
                    if (alive[i] && !kept[i]) {
                        alive[i] = 0;
                        evicted_now[i] = 1;
                        dropped = true;
                    }
                }
                // A decision that dropped entries chose the ones it kept (scores are not needed:
                // sessions do not store them, and a reopened run must draw the same figure).
                if (dropped)
                    for (int64_t p = 0; p < m_cols; ++p)
                        if (kept[static_cast<size_t>(p)] && alive[static_cast<size_t>(p)]) selected_now[static_cast<size_t>(p)] = 1;
            }
            for (const HeadDecision* d : it->second) {
                if (!startsWith(d->stage, "select")) continue;
                for (int64_t p : d->kept_positions)
                    if (inRange(p) && alive[static_cast<size_t>(p)]) selected_now[static_cast<size_t>(p)] = 1;
            }
        }
        if (auto it = evictions.find(step); it != evictions.end()) {
            for (const EvictionEvent* e : it->second) {
                for (int64_t p : e->evicted_positions) {
                    if (!inRange(p)) continue;
                    alive[static_cast<size_t>(p)] = 0;
                    evicted_now[static_cast<size_t>(p)] = 1;
                }
            }
        }
        uint8_t* out = m_states.data() + row * m_cols;
        for (int64_t p = 0; p < std::min(written, m_cols); ++p) {
            const auto i = static_cast<size_t>(p);
            KvState s = KvState::Gone;
            if (evicted_now[i]) {
                s = KvState::Evicted;
            } else if (alive[i]) {
                s = selected_now[i] ? KvState::Selected : KvState::Alive;
            } else if (!gone[i]) {
                s = KvState::Gone;
            }
            out[p] = static_cast<uint8_t>(s);
            if (evicted_now[i]) gone[i] = 1;
        }
    }
}

KvState TimelineModel::state(int64_t row, int64_t position) const {
    if (row < 0 || position < 0 || row >= m_rows || position >= m_cols) return KvState::NotWritten;
    return static_cast<KvState>(m_states[static_cast<size_t>(row * m_cols + position)]);
}

TimelineRowSummary TimelineModel::summary(int64_t row) const {
    TimelineRowSummary s;
    for (int64_t p = 0; p < m_cols; ++p) {
        const KvState k = state(row, p);
        if (k == KvState::Alive || k == KvState::Selected) ++s.alive;
        if (k == KvState::Selected) ++s.selected;
        if (k == KvState::Evicted) ++s.evicted;
    }
    return s;
}

std::string TimelineModel::rowLabel(int64_t row) const {
    return row == 0 ? std::string("prefill") : "step " + std::to_string(row - 1);
}

std::string TimelineModel::tokenAt(int64_t position) const {
    if (!m_data || position < 0) return "";
    if (position < m_prompt) return m_data->prompt_tokens[static_cast<size_t>(position)];
    const RunData* run = currentRun();
    const int64_t i = position - m_prompt;
    if (run && i < static_cast<int64_t>(run->output_tokens.size())) return run->output_tokens[static_cast<size_t>(i)];
    return "";
}

const RgbaImage& TimelineModel::image() const {
    if (!m_is_image_stale) return m_image;
    m_is_image_stale = false;
    m_image = RgbaImage{};
    m_image.version = nextImageVersion();
    if (m_rows <= 0 || m_cols <= 0) return m_image;
    const int64_t pool = (m_cols + kMaxImageColumns - 1) / kMaxImageColumns;
    m_image.width = static_cast<int>((m_cols + pool - 1) / pool);
    m_image.height = static_cast<int>(m_rows);
    m_image.pixels.assign(static_cast<size_t>(m_image.width) * static_cast<size_t>(m_image.height) * 4, 0);
    for (int y = 0; y < m_image.height; ++y) {
        for (int x = 0; x < m_image.width; ++x) {
            KvState best = KvState::NotWritten;
            for (int64_t p = x * pool; p < std::min<int64_t>(m_cols, (x + 1) * pool); ++p) {
                const KvState s = state(y, p);
                if (rank(s) > rank(best)) best = s;
            }
            m_image.set(x, y, kvStateColor(best));
        }
    }
    return m_image;
}

std::string TimelineModel::title() const {
    const RunData* run = currentRun();
    if (!run) return "no run yet";
    return "KV cache · " + run->spec + " · layer " + std::to_string(m_layer) + " · KV head " + std::to_string(m_kv_head);
}

std::string TimelineModel::emptyReason() const {
    if (!m_data) return "Run a comparison to see its KV cache over time.";
    if (!currentRun()) return "This comparison has no runs.";
    if (m_cols <= 0) return "This run has no tokens.";
    return "";
}

}  // namespace attnlab
