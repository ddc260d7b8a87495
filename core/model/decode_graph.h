// Decode steps with static shapes over a reserved dense cache, replayed as one CUDA graph per step
// on CUDA builds (launch overhead, not bandwidth, is what holds small models back), and run
// eagerly elsewhere (which is how CPU tests check the static path against the normal one).
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>

#include "core/model/kv_cache.h"

namespace attnlab {

class Transformer;

class StaticDecoder {
public:
    // cache: dense, reserved to `capacity` entries per layer, holding `live` entries (the prompt).
    StaticDecoder(Transformer& transformer, KvCache& cache, int64_t capacity, int64_t live);
    ~StaticDecoder();

    // Captures the CUDA graph ahead of the first step (no-op elsewhere), so decode timings hold
    // only replays. `position` is the first decode position.
    void prepare(int64_t position);
    // Feeds `token` at `position` (== the number of live entries); returns logits [vocab] on the CPU
    // (on CUDA a pinned buffer that the next step overwrites: read it before stepping again).
    at::Tensor step(int64_t token, int64_t position);
    // Greedy decoding: the same step, returning the argmax of the logits (ties: the lowest id, as
    // Sampler does), computed on the device; no logits row travels to the host. Call
    // enableDeviceArgmax() before prepare() to capture the argmax with the graph up front.
    int64_t stepGreedy(int64_t token, int64_t position);
    void enableDeviceArgmax();
    bool usesCudaGraph() const;

private:
    void run(int64_t token, int64_t position);
    void capture();
    std::function<at::Tensor(int64_t, const at::Tensor&)> staticAttention() const;
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

// Whether generate() should decode through StaticDecoder: on CUDA builds when ATTNLAB_CUDA_GRAPH=1
// (opt-in for now); anywhere, eagerly, when ATTNLAB_STATIC_DECODE=1 (tests).
bool staticDecodeWanted(const at::Tensor& any_model_tensor);

}  // namespace attnlab
