// StreamingLLM (Xiao et al., "Efficient Streaming Language Models with Attention Sinks"): each KV
// head keeps `sink` initial entries plus the most recent ones, `budget` in all, after prefill and
// as decoding slides the window. Kept entries keep their original positions, or with rerotate=true
// move to contiguous positions within the cache (new tokens right after them).
#pragma once

#include <memory>

#include "core/strategy/strategy.h"

namespace attnlab::plugins {

std::unique_ptr<StrategyFactory> makeStreamingFactory();

}  // namespace attnlab::plugins
