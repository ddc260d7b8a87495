// View model of the budget sweep chart (issue 7): points of strategies at several budgets (from a
// sweep run, a sweep or quality-benchmark JSON file, or the columns of the comparison on screen),
// grouped into one line per strategy over KV bytes, with a quality metric (accuracy, KL, top-1) and a
// time metric (decode ms per token, prefill ms) to plot. Qt-free and GL-free.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/analysis/budget_sweep.h"

namespace attnlab {

struct ComparisonData;

enum class SweepMetric { Accuracy = 1, Kl = 2, Top1 = 3, DecodeMs = 4, PrefillMs = 5 };

// "accuracy", "kl", "top1", "decode", "prefill" (the CLI's names); parse returns false for others.
const char* sweepMetricKey(SweepMetric metric);
bool parseSweepMetric(const std::string& key, SweepMetric* metric);
// Axis title, e.g. "KL(full ‖ strategy), nats".
std::string sweepMetricTitle(SweepMetric metric);
double sweepMetricValue(const SweepPoint& point, SweepMetric metric);  // NaN when not measured

// The points of a comparison: one per run (full too when it was listed; else a full point with only
// what is known: KV bytes from any run's share, KL 0, top-1 1).
SweepResult sweepResultFromComparison(const ComparisonData& data);

struct SweepSeries {
    std::string strategy;
    std::vector<size_t> points;  // indices into SweepResult::points, by KV share (then KV bytes)
    size_t color_index = 0;      // stable per strategy name within one result
};

class SweepModel {
public:
    static constexpr SweepMetric kQualityMetrics[] = {SweepMetric::Accuracy, SweepMetric::Kl, SweepMetric::Top1};
    static constexpr SweepMetric kTimeMetrics[] = {SweepMetric::DecodeMs, SweepMetric::PrefillMs};

    void setResult(std::shared_ptr<const SweepResult> result);
    void setComparison(const ComparisonData& data);  // sweepResultFromComparison
    void clear();
    // Auto picks accuracy when any point has it, else KL.
    void setQualityMetric(SweepMetric metric);
    void setQualityMetricAuto();
    void setTimeMetric(SweepMetric metric);

    const SweepResult* result() const { return m_result.get(); }
    std::shared_ptr<const SweepResult> resultPtr() const { return m_result; }
    SweepMetric qualityMetric() const { return m_quality; }
    SweepMetric timeMetric() const { return m_time; }
    bool hasMetric(SweepMetric metric) const;  // any point with a finite value

    const std::vector<SweepSeries>& series() const { return m_series; }  // strategies other than full
    const SweepPoint* fullPoint() const;
    const SweepPoint& point(size_t index) const { return m_result->points[index]; }
    // Largest KV share of any point (at least 1, the full cache).
    double maxKvShare() const;
    double maxValue(SweepMetric metric) const;  // 0 when none

    std::string title() const;
    std::string emptyReason() const;

private:
    void regroup();

    std::shared_ptr<const SweepResult> m_result;
    std::vector<SweepSeries> m_series;
    SweepMetric m_quality = SweepMetric::Accuracy;
    SweepMetric m_time = SweepMetric::DecodeMs;
    bool m_is_quality_auto = true;
};

}  // namespace attnlab
