// What the strategy stages decided, for views and tests. Plain values, torch-free.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace attnlab {

// One KV head's cache after a stage: the original positions it keeps, and the scores that chose them.
struct HeadDecision {
    int64_t layer = 0;
    int64_t kv_head = 0;
    std::string stage;                  // "compress_prefill", "compress_decode", ...
    int64_t step = -1;                  // decode step, -1 for prefill
    int64_t budget = 0;                 // entries this head was allowed
    std::vector<int64_t> kept_positions;  // ascending
    std::vector<float> scores;          // per prompt position when the strategy scores (may be empty)
};

// Decode-time eviction: which positions left which head at which step (StreamingLLM's sliding window).
struct EvictionEvent {
    int64_t step = 0;
    int64_t layer = 0;
    int64_t kv_head = 0;
    std::vector<int64_t> evicted_positions;
};

struct StrategyTrace {
    std::vector<HeadDecision> decisions;
    std::vector<EvictionEvent> evictions;
    std::map<std::string, std::string> notes;  // e.g. head roles ("retrieval"/"streaming") per layer/head
    std::vector<std::vector<int>> head_roles;  // [layer][kv_head]: 1 retrieval/full, 0 compressed; empty if n/a
};

}  // namespace attnlab
