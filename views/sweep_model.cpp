#include "views/sweep_model.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "views/view_data.h"

namespace attnlab {

const char* sweepMetricKey(SweepMetric metric) {
    switch (metric) {
        case SweepMetric::Accuracy: return "accuracy";
        case SweepMetric::Kl: return "kl";
        case SweepMetric::Top1: return "top1";
        case SweepMetric::DecodeMs: return "decode";
        case SweepMetric::PrefillMs: return "prefill";
    }
    return "?";
}

bool parseSweepMetric(const std::string& key, SweepMetric* metric) {
    for (SweepMetric m : {SweepMetric::Accuracy, SweepMetric::Kl, SweepMetric::Top1, SweepMetric::DecodeMs,
                          SweepMetric::PrefillMs})
        if (key == sweepMetricKey(m)) {
            *metric = m;
            return true;
        }
    return false;
}

std::string sweepMetricTitle(SweepMetric metric) {
    switch (metric) {
        case SweepMetric::Accuracy: return "accuracy";
        case SweepMetric::Kl: return "KL(full \u2016 strategy), nats";
        case SweepMetric::Top1: return "top-1 agreement with full";
        case SweepMetric::DecodeMs: return "decode, ms per token";
        case SweepMetric::PrefillMs: return "prefill, ms";
    }
    return "";
}

double sweepMetricValue(const SweepPoint& p, SweepMetric metric) {
    switch (metric) {
        case SweepMetric::Accuracy: return p.accuracy;
        case SweepMetric::Kl: return p.kl_vs_full;
        case SweepMetric::Top1: return p.top1_vs_full;
        case SweepMetric::DecodeMs: return p.decode_ms_per_token;
        case SweepMetric::PrefillMs: return p.prefill_ms;
    }
    return kSweepMissing;
}

SweepResult sweepResultFromComparison(const ComparisonData& data) {
    SweepResult r;
    r.model = data.model_name;
    r.input = data.task_spec.empty() ? "free prompt" : data.task_spec;
    r.prompt_tokens = static_cast<int64_t>(data.prompt_tokens.size());
    r.trials = 1;
    r.source = "comparison";
    bool has_full = false;
    for (const RunData& run : data.runs) {
        SweepPoint p = sweepPointFromMetrics(run.spec, run.metrics);
        if (p.kv_bytes <= 0) p.kv_bytes = double(run.kv_bytes);
        if (!std::isfinite(p.prefill_ms)) p.prefill_ms = run.prefill_ms;
        if (!std::isfinite(p.decode_ms_per_token)) p.decode_ms_per_token = run.decode_ms_per_token;
        has_full = has_full || p.isFull();
        r.points.push_back(std::move(p));
    }
    if (!has_full && !r.points.empty()) {
        SweepPoint full;
        full.strategy = full.spec = "full";
        full.kv_share = 1;
        full.kl_vs_full = 0;
        full.top1_vs_full = 1;
        full.kv_bytes = r.fullKvBytes();
        r.points.insert(r.points.begin(), full);
    }
    std::stable_sort(r.points.begin(), r.points.end(),
                     [](const SweepPoint& a, const SweepPoint& b) { return a.isFull() && !b.isFull(); });
    return r;
}

void SweepModel::setResult(std::shared_ptr<const SweepResult> result) {
    m_result = std::move(result);
    regroup();
    if (m_is_quality_auto) setQualityMetricAuto();
}

void SweepModel::setComparison(const ComparisonData& data) {
    setResult(std::make_shared<const SweepResult>(sweepResultFromComparison(data)));
}

void SweepModel::clear() {
    m_result.reset();
    regroup();
}

void SweepModel::setQualityMetric(SweepMetric metric) {
    m_quality = metric;
    m_is_quality_auto = false;
}

void SweepModel::setQualityMetricAuto() {
    m_is_quality_auto = true;
    m_quality = hasMetric(SweepMetric::Accuracy) || !hasMetric(SweepMetric::Kl) ? SweepMetric::Accuracy
                                                                                : SweepMetric::Kl;
}

void SweepModel::setTimeMetric(SweepMetric metric) { m_time = metric; }

bool SweepModel::hasMetric(SweepMetric metric) const {
    if (!m_result) return false;
    return std::any_of(m_result->points.begin(), m_result->points.end(),
                       [&](const SweepPoint& p) { return std::isfinite(sweepMetricValue(p, metric)); });
}

const SweepPoint* SweepModel::fullPoint() const { return m_result ? m_result->full() : nullptr; }

double SweepModel::maxKvShare() const {
    double m = 1.0;
    if (m_result)
        for (const SweepPoint& p : m_result->points)
            if (std::isfinite(p.kv_share)) m = std::max(m, p.kv_share);
    return m;
}

double SweepModel::maxValue(SweepMetric metric) const {
    double m = 0;
    if (m_result)
        for (const SweepPoint& p : m_result->points)
            if (const double v = sweepMetricValue(p, metric); std::isfinite(v)) m = std::max(m, v);
    return m;
}

void SweepModel::regroup() {
    m_series.clear();
    if (!m_result) return;
    std::map<std::string, size_t> index;
    for (size_t i = 0; i < m_result->points.size(); ++i) {
        const SweepPoint& p = m_result->points[i];
        if (p.isFull() || !std::isfinite(p.kv_share)) continue;
        auto it = index.find(p.strategy);
        if (it == index.end()) {
            it = index.emplace(p.strategy, m_series.size()).first;
            SweepSeries s;
            s.strategy = p.strategy;
            s.color_index = m_series.size();
            m_series.push_back(std::move(s));
        }
        m_series[it->second].points.push_back(i);
    }
    for (SweepSeries& s : m_series)
        std::stable_sort(s.points.begin(), s.points.end(), [&](size_t a, size_t b) {
            const SweepPoint& pa = m_result->points[a];
            const SweepPoint& pb = m_result->points[b];
            return pa.kv_share != pb.kv_share ? pa.kv_share < pb.kv_share : pa.kv_bytes < pb.kv_bytes;
        });
}

std::string SweepModel::title() const {
    if (!m_result) return "Budget sweep";
    std::string t = "Budget sweep · " + m_result->model;
    if (!m_result->input.empty()) t += " · " + m_result->input;
    return t;
}

std::string SweepModel::emptyReason() const {
    if (!m_result) return "Run a comparison (or Sweep, or open a sweep / quality-benchmark JSON) to chart it.";
    if (m_series.empty() && !fullPoint()) return "No points with KV bytes to chart.";
    return "";
}

}  // namespace attnlab
