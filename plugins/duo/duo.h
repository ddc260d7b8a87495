// DuoAttention (Xiao et al., "DuoAttention: Efficient Long-Context LLM Inference with Retrieval and
// Streaming Heads"): retrieval KV heads keep the full cache; the others keep `sink` + `recent`
// entries, after prefill and as decoding slides. Which heads are retrieval heads comes from the
// `duo` calibration (core/strategy/calibration.h: a documented proxy for the paper's gates): the
// top `retrieval_ratio` share of KV heads by score.
#pragma once

#include <memory>

#include "core/strategy/strategy.h"

namespace attnlab::plugins {

std::unique_ptr<StrategyFactory> makeDuoFactory();

}  // namespace attnlab::plugins
