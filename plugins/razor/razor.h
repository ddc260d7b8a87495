// RazorAttention (Tang et al., "RazorAttention: Efficient KV Cache Compression Through Retrieval
// Heads"): after prefill, retrieval KV heads keep the full cache; every other head keeps `sink`
// initial + `recent` latest entries plus one compensation token that stands for all dropped ones:
// the mean of their keys and values, weighted in the softmax by their count (an additive score bias
// of log(count)). Retrieval heads: the top `retrieval_ratio` share by the `razor` calibration, the
// paper's 14% induction + 1% echo split scaled to the ratio (ratio/15 of the heads by echo score,
// the rest by induction score).
#pragma once

#include <memory>

#include "core/strategy/strategy.h"

namespace attnlab::plugins {

std::unique_ptr<StrategyFactory> makeRazorFactory();

}  // namespace attnlab::plugins
