// Kernel benchmark (issue 8), CUDA builds only. One process, baselines interleaved with ours:
//   decode: attnlab's split-K sparse decode over the full cache, over a kept subset per KV head
//   (ragged lengths and index lists), against at::scaled_dot_product_attention with the cuDNN and
//   flash backends, (32 query, 8 KV heads, d=128, bf16), batch x context grid.
// Every measurement is a CUDA graph of `calls` consecutive calls over rotating input copies (so
// nothing under ~3x L2 is served from cache), timed with CUDA events, median of `reps` replays.
//   prefill: attnlab's block-sparse causal prefill over random block masks (density 1, 0.5, 0.25,
//   0.1) and sink + 4K window, against cuDNN and flash causal SDPA at the same length.
//   gemv: the decode step's one-token matrix-vector products (Llama-3.2-1B shapes, bf16): attnlab's
//   fusedGemv against at::linear (cuBLAS), TB/s on the weight bytes.
// Prints one JSON object per line.
//   attnlab-kernel-bench [--quick] [--section decode|decode-waves|prefill|gemv|all] [--case BATCH:CONTEXT]
// (--case runs one decode grid point, e.g. for a profiler.)
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/block_sparse_prefill_torch.h"
#include "kernels/decode_fused_torch.h"
#include "kernels/sparse_decode.h"
#include "kernels/sparse_decode_ref.h"
#include "kernels/sparse_decode_torch.h"

namespace {

constexpr double kCopyBandwidth = 4.3e12;  // measured device copy bandwidth, bytes/s (performance.md §1)

// Median microseconds per call of fn(i) for i in [0, calls), captured as one CUDA graph.
double timeGraph(const std::function<void(int)>& fn, int calls, int reps = 20) {
    c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool();
    {
        c10::cuda::CUDAStreamGuard guard(side);
        for (int i = 0; i < 3; ++i) fn(i);  // warm-up outside the graph (plans, workspaces)
    }
    side.synchronize();
    at::cuda::CUDAGraph graph;
    {
        c10::cuda::CUDAStreamGuard guard(side);
        graph.capture_begin();
        for (int i = 0; i < calls; ++i) fn(i);
        graph.capture_end();
    }
    std::vector<double> times;
    for (int r = 0; r < reps + 2; ++r) {
        c10::cuda::CUDAStreamGuard guard(side);
        at::cuda::CUDAEvent start(cudaEventDefault), stop(cudaEventDefault);
        start.record(side);
        graph.replay();
        stop.record(side);
        stop.synchronize();
        if (r >= 2) times.push_back(start.elapsed_time(stop) * 1000.0 / calls);
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

void emit(nlohmann::json j) { std::cout << j.dump() << std::endl; }

void setBackend(const std::string& name) {
    auto& ctx = at::globalContext();
    ctx.setSDPUseFlash(name == "flash");
    ctx.setSDPUseMemEfficient(name == "efficient");
    ctx.setSDPUseMath(name == "math");
    ctx.setSDPUseCuDNN(name == "cudnn");
}

// A plan over the whole cache: every KV head of every sequence reads all `len` rows of k/v [batch, hkv, len, d].
std::unique_ptr<attnlab::kernels::SparseDecodePlan> fullCachePlan(const at::Tensor& q3, const at::Tensor& k,
                                                                  const at::Tensor& v, int64_t len, double scale,
                                                                  attnlab::kernels::DecodeVariant variant) {
    std::vector<at::Tensor> kr, vr;
    for (int64_t b = 0; b < k.size(0); ++b)
        for (int64_t h = 0; h < k.size(1); ++h) {
            kr.push_back(k[b][h]);
            vr.push_back(v[b][h]);
        }
    return std::make_unique<attnlab::kernels::SparseDecodePlan>(q3, kr, vr, std::vector<at::Tensor>{},
                                                                std::vector<at::Tensor>{},
                                                                std::vector<int>(kr.size(), int(len)), k.size(1), len,
                                                                scale, variant);
}

void decodeSection(bool quick, const std::string& only) {
    const int64_t hq = 32, hkv = 8, d = 128;
    const double scale = 1.0 / std::sqrt(double(d));
    const auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
    std::vector<std::pair<int64_t, int64_t>> grid;  // (batch, context)
    for (int64_t b : {1, 4, 16})
        for (int64_t l : {4096, 16384, 32768, 131072}) grid.push_back({b, l});
    grid.push_back({1, 524288});
    if (quick) grid = {{1, 4096}, {1, 131072}};
    if (!only.empty()) {
        const auto colon = only.find(':');
        grid = {{std::stoll(only.substr(0, colon)), std::stoll(only.substr(colon + 1))}};
    }
    for (auto [batch, len] : grid) {
        const double kv_bytes = 2.0 * batch * hkv * len * d * 2;
        const int copies = int(std::clamp(std::ceil(256e6 / kv_bytes), 1.0, 8.0));
        std::vector<at::Tensor> qs, ks, vs, outs;
        for (int c = 0; c < copies; ++c) {
            qs.push_back(at::randn({batch, hq, 1, d}, opts));
            ks.push_back(at::randn({batch, hkv, len, d}, opts));
            vs.push_back(at::randn({batch, hkv, len, d}, opts));
            outs.push_back(at::empty({batch, hq, d}, opts));
        }
        const int calls = copies * std::max(1, int(std::ceil(8.0 / copies)));
        // Full cache through our kernel: every KV head reads all rows.
        std::vector<at::Tensor> q3(copies);
        for (int c = 0; c < copies; ++c) q3[c] = qs[c].squeeze(2).contiguous();
        auto fullPlans = [&](attnlab::kernels::DecodeVariant variant) {
            std::vector<std::unique_ptr<attnlab::kernels::SparseDecodePlan>> plans;
            for (int c = 0; c < copies; ++c) plans.push_back(fullCachePlan(q3[c], ks[c], vs[c], len, scale, variant));
            return plans;
        };
        auto plans = fullPlans(attnlab::kernels::DecodeVariant::kTensorCores);
        // Correctness of this configuration against cuDNN/math SDPA on copy 0.
        setBackend("math");
        at::Tensor want = at::scaled_dot_product_attention(qs[0], ks[0], vs[0], {}, 0.0, false, scale, true).squeeze(2);
        plans[0]->run(q3[0], outs[0]);
        const double err = (outs[0].to(at::kFloat) - want.to(at::kFloat)).abs().max().item<double>();
        const double ours_us = timeGraph([&](int i) { plans[i % copies]->run(q3[i % copies], outs[i % copies]); }, calls);
        nlohmann::json row{{"section", "decode"}, {"batch", batch}, {"context", len}, {"kv_bytes", kv_bytes},
                           {"splits", plans[0]->splits()}, {"max_abs_err_vs_math", err}};
        row["attnlab_us"] = ours_us;
        row["attnlab_tbs"] = kv_bytes / (ours_us * 1e-6) / 1e12;
        for (const std::string backend : {"cudnn", "flash"}) {
            try {
                setBackend(backend);
                at::scaled_dot_product_attention(qs[0], ks[0], vs[0], {}, 0.0, false, scale, true);
                const double us = timeGraph(
                    [&](int i) {
                        at::scaled_dot_product_attention(qs[i % copies], ks[i % copies], vs[i % copies], {}, 0.0, false,
                                                         scale, true);
                    },
                    calls);
                row[backend + "_us"] = us;
                row[backend + "_tbs"] = kv_bytes / (us * 1e-6) / 1e12;
            } catch (const std::exception& e) {
                row[backend + "_error"] = std::string(e.what()).substr(0, 160);
            }
        }
        // The CUDA-core variant of the same kernel on the same inputs.
        {
            auto fma = fullPlans(attnlab::kernels::DecodeVariant::kCudaCores);
            const double us = timeGraph([&](int i) { fma[i % copies]->run(q3[i % copies], outs[i % copies]); }, calls);
            row["attnlab_fma_us"] = us;
            row["attnlab_fma_tbs"] = kv_bytes / (us * 1e-6) / 1e12;
        }
        // The tensor-core kernel with rows by cp.async (the default uses bulk copies on Hopper).
        {
            auto cpa = fullPlans(attnlab::kernels::DecodeVariant::kTensorCoresCpAsync);
            const double us = timeGraph([&](int i) { cpa[i % copies]->run(q3[i % copies], outs[i % copies]); }, calls);
            row["attnlab_cpasync_us"] = us;
            row["attnlab_cpasync_tbs"] = kv_bytes / (us * 1e-6) / 1e12;
        }
        // Ours again (A/B/A): clock drift shows as a difference between the two.
        row["attnlab_us_again"] =
            timeGraph([&](int i) { plans[i % copies]->run(q3[i % copies], outs[i % copies]); }, calls);
        emit(row);

        // Kept subsets: ragged lengths (a quarter of the context on average, varying by head) and
        // index lists (a random quarter of the rows, sorted), against kept bytes / copy bandwidth.
        if (batch <= 4) {
            for (const std::string mode : {"ragged", "indices"})
            for (const bool cpasync : {false, true}) {
                std::vector<std::unique_ptr<attnlab::kernels::SparseDecodePlan>> sub;
                double kept_rows = 0;
                for (int c = 0; c < copies; ++c) {
                    std::vector<at::Tensor> kr, vr, idx;
                    std::vector<int> lens;
                    for (int64_t b = 0; b < batch; ++b)
                        for (int64_t h = 0; h < hkv; ++h) {
                            kr.push_back(ks[c][b][h]);
                            vr.push_back(vs[c][b][h]);
                            const int64_t n = len / 8 + (len / 4) * ((b * hkv + h) % 4) / 3;  // 1/8 .. 3/8
                            lens.push_back(int(n));
                            if (mode == "indices") {
                                at::Tensor perm = at::randperm(len, at::TensorOptions().dtype(at::kLong)).narrow(0, 0, n);
                                idx.push_back(std::get<0>(perm.sort()).to(at::kInt).to(at::kCUDA));
                            }
                            if (c == 0) kept_rows += double(n);
                        }
                    sub.push_back(std::make_unique<attnlab::kernels::SparseDecodePlan>(
                        q3[c], kr, vr, idx, std::vector<at::Tensor>{}, lens, hkv, len, scale,
                        cpasync ? attnlab::kernels::DecodeVariant::kTensorCoresCpAsync : attnlab::kernels::DecodeVariant::kTensorCores));
                }
                const double kept_bytes = kept_rows * d * 2 * 2;
                const double us = timeGraph([&](int i) { sub[i % copies]->run(q3[i % copies], outs[i % copies]); }, calls);
                emit({{"section", "decode_kept"}, {"mode", mode}, {"cpasync", cpasync}, {"batch", batch}, {"context", len},
                      {"kept_bytes", kept_bytes}, {"kept_share", kept_rows / double(batch * hkv * len)}, {"attnlab_us", us},
                      {"tbs", kept_bytes / (us * 1e-6) / 1e12},
                      {"ratio_to_floor", us * 1e-6 / (kept_bytes / kCopyBandwidth)}});
            }
        }
    }
    auto& ctx = at::globalContext();
    ctx.setSDPUseFlash(true);
    ctx.setSDPUseMemEfficient(true);
    ctx.setSDPUseMath(true);
    ctx.setSDPUseCuDNN(true);
}


// Median milliseconds of fn() over `reps` calls after one warm-up (calls long enough for events).
double timeEvents(const std::function<void()>& fn, int reps = 3) {
    fn();
    std::vector<double> times;
    for (int r = 0; r < reps; ++r) {
        at::cuda::CUDAEvent start(cudaEventDefault), stop(cudaEventDefault);
        auto stream = c10::cuda::getCurrentCUDAStream();
        start.record(stream);
        fn();
        stop.record(stream);
        stop.synchronize();
        times.push_back(start.elapsed_time(stop));
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

void prefillSection(bool quick) {
    const int64_t hq = 32, hkv = 8, d = 128, block = 128;
    const double scale = 1.0 / std::sqrt(double(d));
    const auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
    std::vector<int64_t> lengths{16384, 32768, 131072};
    if (quick) lengths = {8192};
    for (int64_t n : lengths) {
        at::Tensor q = at::randn({1, hq, n, d}, opts), k = at::randn({1, hkv, n, d}, opts), v = at::randn({1, hkv, n, d}, opts);
        const double dense_causal_flops = 4.0 * hq * d * double(n) * double(n) / 2.0;
        nlohmann::json base{{"section", "prefill_dense"}, {"tokens", n}};
        for (const std::string backend : {"cudnn", "flash"}) {
            try {
                setBackend(backend);
                const double ms = timeEvents([&] { at::scaled_dot_product_attention(q, k, v, {}, 0.0, true, scale, true); });
                base[backend + "_ms"] = ms;
                base[backend + "_tflops"] = dense_causal_flops / (ms * 1e-3) / 1e12;
            } catch (const std::exception& e) {
                base[backend + "_error"] = std::string(e.what()).substr(0, 160);
            }
        }
        setBackend("cudnn");
        at::Tensor dense_ref = at::scaled_dot_product_attention(q, k, v, {}, 0.0, true, scale, true);
        emit(base);
        const double cudnn_ms = base.value("cudnn_ms", 0.0);
        const int64_t blocks = (n + block - 1) / block;
        struct Pattern {
            std::string name;
            at::Tensor mask;
        };
        std::vector<Pattern> patterns;
        for (double density : {1.0, 0.5, 0.25, 0.1}) {
            at::Tensor m = density >= 1.0 ? at::ones({1, hq, blocks, blocks}, at::kBool)
                                           : at::rand({1, hq, blocks, blocks}).lt(density);
            m.diagonal(0, 2, 3).fill_(true);  // every query block keeps its own block
            patterns.push_back({"random_" + std::to_string(density).substr(0, 4), m});
        }
        {
            // StreamingLLM-style: the first block (sink) plus a 4K-token window.
            at::Tensor m = at::zeros({1, hq, blocks, blocks}, at::kBool);
            at::Tensor qi = at::arange(blocks).unsqueeze(1), ki = at::arange(blocks).unsqueeze(0);
            m.copy_((ki.eq(0) | ((qi - ki).ge(0) & (qi - ki).lt(4096 / block))).expand({1, hq, blocks, blocks}));
            patterns.push_back({"sink_window4k", m});
        }
        for (const Pattern& pat : patterns) {
            auto t0 = std::chrono::steady_clock::now();
            attnlab::kernels::TileLists tiles = attnlab::kernels::buildTileLists(pat.mask, block, 1, hq, n, true, q.device());
            c10::cuda::getCurrentCUDAStream().synchronize();
            const double build_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            at::Tensor out;
            const double ms = timeEvents([&] { out = attnlab::kernels::blockSparseAttention(q, k, v, tiles, true, scale); });
            const int64_t q_tiles = (n + 63) / 64;
            const double causal_tiles = double(hq) * q_tiles * (q_tiles + 1) / 2.0;
            const double density = double(tiles.computed_tiles) / causal_tiles;
            const double actual_flops = double(tiles.computed_tiles) * 4.0 * 64 * 64 * d;
            nlohmann::json row{{"section", "prefill_sparse"}, {"tokens", n}, {"pattern", pat.name}, {"density", density},
                               {"tile_lists_ms", build_ms}, {"attnlab_ms", ms},
                               {"actual_tflops", actual_flops / (ms * 1e-3) / 1e12},
                               {"dense_equiv_tflops", dense_causal_flops / (ms * 1e-3) / 1e12}};
            if (cudnn_ms > 0) {
                row["speedup_vs_cudnn"] = cudnn_ms / ms;
                row["efficiency"] = cudnn_ms / ms * density;
            }
            // The mma.sync kernel on the same tiles (the default is wgmma where it runs).
            const double mma_ms = timeEvents([&] { attnlab::kernels::blockSparseAttention(q, k, v, tiles, true, scale, 1); });
            row["mma_ms"] = mma_ms;
            row["mma_actual_tflops"] = actual_flops / (mma_ms * 1e-3) / 1e12;
            if (pat.name == "random_1.00")
                row["max_abs_err_vs_cudnn"] = (out.to(at::kFloat) - dense_ref.to(at::kFloat)).abs().max().item<double>();
            emit(row);
        }
    }
    auto& ctx = at::globalContext();
    ctx.setSDPUseFlash(true);
    ctx.setSDPUseMemEfficient(true);
    ctx.setSDPUseMath(true);
    ctx.setSDPUseCuDNN(true);
}
}  // namespace

void gemvSection() {
    const auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
    struct Shape {
        const char* name;
        int64_t rows, k;
        bool silu;
    };
    // Llama-3.2-1B: hidden 2048, 32 q / 8 kv heads of 64, intermediate 8192, vocab 128256.
    const Shape shapes[] = {{"qkv", 3072, 2048, false}, {"o_proj", 2048, 2048, false}, {"gate_up_silu", 16384, 2048, true},
                            {"down", 2048, 8192, false}, {"lm_head", 128256, 2048, false}};
    for (const Shape& sh : shapes) {
        const double bytes = double(sh.rows) * sh.k * 2;
        const int copies = int(std::clamp(std::ceil(256e6 / bytes), 1.0, 16.0));
        std::vector<at::Tensor> ws, xs;
        for (int c = 0; c < copies; ++c) {
            ws.push_back(at::randn({sh.rows, sh.k}, opts) * (1.0 / std::sqrt(double(sh.k))));
            xs.push_back(at::randn({1, sh.k}, opts));
        }
        const int calls = copies * std::max(1, int(std::ceil(16.0 / copies)));
        const at::Tensor none;
        const double ours_us = timeGraph(
            [&](int i) { (void)attnlab::kernels::linearToken(xs[i % copies], ws[i % copies], none, sh.silu); }, calls);
        const double cublas_us = timeGraph(
            [&](int i) {
                at::Tensor y = at::linear(xs[i % copies], ws[i % copies]);
                if (sh.silu) {
                    const int64_t n = sh.rows / 2;
                    at::Tensor g = y.narrow(1, 0, n).contiguous(), u = y.narrow(1, n, n).contiguous();
                    attnlab::kernels::siluMul(g, u, g);
                }
            },
            calls);
        at::Tensor got = attnlab::kernels::linearToken(xs[0], ws[0], none, sh.silu).to(at::kFloat);
        at::Tensor ref = at::linear(xs[0].to(at::kFloat), ws[0].to(at::kFloat));
        if (sh.silu) {
            const int64_t n = sh.rows / 2;
            ref = at::silu(ref.narrow(1, 0, n)) * ref.narrow(1, n, n);
        }
        emit({{"section", "gemv"}, {"shape", sh.name}, {"rows", sh.rows}, {"k", sh.k}, {"weight_mb", bytes / 1e6},
              {"ours_us", ours_us}, {"cublas_us", cublas_us}, {"ours_tbs", bytes / ours_us / 1e6},
              {"cublas_tbs", bytes / cublas_us / 1e6}, {"ours_vs_copy_bw", bytes / kCopyBandwidth * 1e6 / ours_us},
              {"max_abs_err_vs_f32", (got - ref).abs().max().item<double>()}});
    }
}

// Split granularity: the same full-cache decode with its splits filling 1..8 waves of resident CTAs
// (smaller CTAs leave a shorter tail when the last ones finish), cuDNN SDPA alongside.
void decodeWavesSection() {
    const int64_t hq = 32, hkv = 8, d = 128;
    const double scale = 1.0 / std::sqrt(double(d));
    const auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
    const std::vector<std::pair<int64_t, int64_t>> grid{{1, 131072}, {4, 32768}, {1, 524288}, {4, 131072},
                                                        {16, 32768}, {1, 32768}, {4, 4096}, {16, 4096}};
    for (auto [batch, len] : grid) {
        const double kv_bytes = 2.0 * batch * hkv * len * d * 2;
        const int copies = int(std::clamp(std::ceil(256e6 / kv_bytes), 1.0, 8.0));
        const int calls = copies * std::max(1, int(std::ceil(8.0 / copies)));
        std::vector<at::Tensor> qs, q3, ks, vs, outs;
        std::vector<std::unique_ptr<attnlab::kernels::SparseDecodePlan>> plans;
        for (int c = 0; c < copies; ++c) {
            qs.push_back(at::randn({batch, hq, 1, d}, opts));
            q3.push_back(qs.back().squeeze(2).contiguous());
            ks.push_back(at::randn({batch, hkv, len, d}, opts));
            vs.push_back(at::randn({batch, hkv, len, d}, opts));
            outs.push_back(at::empty({batch, hq, d}, opts));
            plans.push_back(
                fullCachePlan(q3[c], ks[c], vs[c], len, scale, attnlab::kernels::DecodeVariant::kTensorCores));
        }
        setBackend("math");
        at::Tensor want = at::scaled_dot_product_attention(qs[0], ks[0], vs[0], {}, 0.0, false, scale, true).squeeze(2);
        nlohmann::json row{{"section", "decode_waves"}, {"batch", batch}, {"context", len}, {"kv_bytes", kv_bytes}};
        for (int waves : {1, 2, 3, 4, 6, 8}) {
            for (auto& plan : plans) plan->setWaves(waves);
            plans[0]->run(q3[0], outs[0]);
            const double err = (outs[0].to(at::kFloat) - want.to(at::kFloat)).abs().max().item<double>();
            const double us = timeGraph([&](int i) { plans[i % copies]->run(q3[i % copies], outs[i % copies]); }, calls);
            const std::string key = "w" + std::to_string(waves);
            row[key + "_splits"] = plans[0]->splits();
            row[key + "_tbs"] = kv_bytes / (us * 1e-6) / 1e12;
            row[key + "_err"] = err;
        }
        setBackend("cudnn");
        const double us = timeGraph(
            [&](int i) {
                at::scaled_dot_product_attention(qs[i % copies], ks[i % copies], vs[i % copies], {}, 0.0, false, scale, true);
            },
            calls);
        row["cudnn_tbs"] = kv_bytes / (us * 1e-6) / 1e12;
        emit(row);
    }
}

int main(int argc, char** argv) {
    bool quick = false;
    std::string section = "all", only;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--quick") quick = true;
        else if (a == "--section" && i + 1 < argc) section = argv[++i];
        else if (a == "--case" && i + 1 < argc && std::string(argv[i + 1]).find(':') != std::string::npos) only = argv[++i];
        else {
            std::cerr << "usage: attnlab-kernel-bench [--quick] [--section decode|decode-waves|prefill|gemv|all] [--case BATCH:CONTEXT]\n";
            return 2;
        }
    }
    if (!at::cuda::is_available()) {
        std::cerr << "attnlab-kernel-bench: no CUDA device\n";
        return 1;
    }
    at::manual_seed(0);
    emit({{"section", "env"}, {"device", at::cuda::getCurrentDeviceProperties()->name},
          {"sms", at::cuda::getCurrentDeviceProperties()->multiProcessorCount}});
    if (section == "all" || section == "decode") decodeSection(quick, only);
    if (section == "decode-waves") decodeWavesSection();
    if (section == "all" || section == "prefill") prefillSection(quick);
    if (section == "all" || section == "gemv") gemvSection();
    return 0;
}
