// Synthetic comparison shared by the figure tests: two layers, four query heads over two KV heads,
// a six-token prompt; `full`, then a streaming-like run with hand-worked cache decisions.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "views/view_data.h"

namespace attnlab {
namespace figure_test {

inline const std::vector<std::string> kPrompt = {"The", " cat", " sat", " on", " the", " mat"};

// Causal attention with distinct weights, rows normalised.
inline AttentionMatrix causalMatrix(int64_t layer, int64_t head, int64_t n) {
    AttentionMatrix m;
    m.layer = layer;
    m.head = head;
    m.rows = m.cols = n;
    m.probs.assign(static_cast<size_t>(n * n), 0.f);
    for (int64_t r = 0; r < n; ++r) {
        double total = 0;
        for (int64_t c = 0; c <= r; ++c) total += double(1 + c + 3 * head + r * c % 5);
        for (int64_t c = 0; c <= r; ++c)
            m.probs[static_cast<size_t>(r * n + c)] = float(double(1 + c + 3 * head + r * c % 5) / total);
    }
    for (int64_t i = 0; i < n; ++i) {
        m.query_positions.push_back(i);
        m.key_positions.push_back(i);
    }
    return m;
}

// Two layers, four query heads over two KV heads, prompt of six tokens; `full`, then a streaming
// run that keeps positions {0, 4, 5} of every KV head at prefill and slides its window at decode
// steps 0 and 1.
inline std::shared_ptr<ComparisonData> sampleData() {
    auto d = std::make_shared<ComparisonData>();
    d->model_name = "tiny-test";
    d->layers = 2;
    d->heads = 4;
    d->kv_heads = 2;
    d->prompt_tokens = kPrompt;
    d->task_spec = "passkey:len=6";
    d->reference_tokens = {" and", " purred", "."};
    RunData full;
    full.spec = "full";
    full.output_tokens = {" and", " purred", "."};
    full.decode_tokens = 2;
    full.kl_per_token = {0, 0, 0};
    RunData streaming = full;
    streaming.spec = "streaming:budget=3,sink=1";
    streaming.kl_per_token = {0.01, 0.25, 0.5};
    for (int64_t l = 0; l < 2; ++l) {
        for (int64_t h = 0; h < 4; ++h) {
            full.captures.push_back(causalMatrix(l, h, 6));
            streaming.captures.push_back(causalMatrix(l, h, 6));
        }
        for (int64_t kv = 0; kv < 2; ++kv) {
            HeadDecision dec;
            dec.layer = l;
            dec.kv_head = kv;
            dec.stage = "compress_prefill";
            dec.budget = 3;
            dec.kept_positions = {0, 4, 5};
            streaming.trace.decisions.push_back(dec);
            // Step 0 writes position 6 and drops 4; step 1 writes 7 and drops 5.
            streaming.trace.evictions.push_back(EvictionEvent{0, l, kv, {4}});
            streaming.trace.evictions.push_back(EvictionEvent{1, l, kv, {5}});
        }
    }
    d->runs = {full, streaming};
    return d;
}

// Figures go to a temporary folder, or to $ATTNLAB_FIGURE_TEST_OUT (kept, to look at them).
}  // namespace figure_test
}  // namespace attnlab
