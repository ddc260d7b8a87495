// SnapKV (Li et al., "SnapKV: LLM Knows What You are Looking for Before Generation"): one-shot
// compression of the prompt's cache at the end of prefill. Definition used here (issue 4):
//   score[j] = sum over the last `window` prompt queries of their causal softmax attention to j,
//              averaged over the query heads of the KV head's group (no K/V repeat: GQA keeps its saving);
//   pooled   = 1-D average pool of width `kernel` over the prefix scores, same size, zero padding counted;
//   keep     = the window itself + the top (budget - window) prefix positions, ties to the lower position.
// Generated tokens are appended uncompressed.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>

#include "core/strategy/strategy.h"

namespace attnlab::plugins {

std::unique_ptr<StrategyFactory> makeSnapKvFactory();

// The selection for one KV head (exposed for tests). q_group: [G, T, D] queries of the group's heads
// (all prompt rows; only the last `window` are used), k: [T, D], positions: [T].
// Returns the kept indices (ascending) and fills pooled_scores with the prefix scores [T - window].
at::Tensor snapKvSelect(const at::Tensor& q_group, const at::Tensor& k, const at::Tensor& positions, int64_t budget,
                        int64_t window, int64_t kernel, double scale, int64_t sliding_window,
                        at::Tensor* pooled_scores = nullptr);

}  // namespace attnlab::plugins
