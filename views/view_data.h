// Value snapshots of a finished comparison, as the viewers receive them (RenderDoc style: the engine
// worker builds one, the GUI thread broadcasts it, every viewer only reads it). Qt-free and
// torch-free; shared read-only across threads as std::shared_ptr<const ComparisonData>.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/engine/model.h"
#include "core/strategy/trace.h"

namespace attnlab {

struct RunData {
    std::string spec;  // canonical strategy spec, e.g. "streaming:budget=25%,sink=4"
    std::string output_text;
    std::vector<std::string> output_tokens;  // view text of each new token
    std::string stop_reason;
    std::map<std::string, double> metrics;  // as runComparison names them
    int64_t kv_bytes = 0;
    int64_t kv_peak_bytes = 0;
    double prefill_ms = 0;
    double decode_ms_per_token = 0;
    int64_t decode_tokens = 0;
    // Exact prefill attention of full heads (the prefill itself is dense for every strategy we ship,
    // so this is the full-attention reference the kept set is judged against). Any order.
    std::vector<AttentionMatrix> captures;
    StrategyTrace trace;
    std::vector<double> kl_per_token;  // KL(full || this) on each of ComparisonData::reference_tokens

    const AttentionMatrix* capture(int64_t layer, int64_t head) const;
};

struct ComparisonData {
    std::string model_name;
    int64_t layers = 0;
    int64_t heads = 0;     // query heads per layer
    int64_t kv_heads = 0;  // grouped-query attention: heads / kv_heads query heads share one KV head
    std::vector<std::string> prompt_tokens;  // view text per prompt position
    std::string task_spec;                   // empty for a free prompt
    std::string answer;                      // the task's expected answer
    std::vector<std::string> reference_tokens;  // full's continuation (teacher-forced for the KL)
    std::vector<RunData> runs;

    int64_t kvHeadOf(int64_t head) const;
    int64_t groupSize() const;  // query heads per KV head (>= 1)
};

// Token text for one line of a view: control characters escaped, long tokens cut.
std::string displayToken(const std::string& text, size_t max_chars = 24);

}  // namespace attnlab
