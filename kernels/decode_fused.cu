// Fused decode-step kernels (see decode_fused.h). Rounding follows the ATen ops they replace: every
// intermediate that ATen materialises in the model dtype is rounded to it here too.
#include "kernels/decode_fused.h"
#include "kernels/device_helpers.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace attnlab::kernels {

namespace {

__device__ __forceinline__ float toF(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float toF(__half x) { return __half2float(x); }
template <typename T>
__device__ __forceinline__ T fromF(float x);
template <>
__device__ __forceinline__ __nv_bfloat16 fromF<__nv_bfloat16>(float x) {
    return __float2bfloat16(x);
}
template <>
__device__ __forceinline__ __half fromF<__half>(float x) {
    return __float2half(x);
}
template <typename T>
__device__ __forceinline__ float round(float x) {
    return toF(fromF<T>(x));
}

constexpr int kNormThreads = 1024;

template <typename T>
__global__ void __launch_bounds__(kNormThreads) rmsNormKernel(const T* x, const T* w, T* out, int hidden, float eps) {
    pdlWait();
    pdlLaunchDependents();
    const int row = blockIdx.x;
    const T* xr = x + static_cast<int64_t>(row) * hidden;
    T* orow = out + static_cast<int64_t>(row) * hidden;
    float sum = 0.f;
    for (int i = threadIdx.x; i < hidden; i += kNormThreads) {
        const float v = toF(xr[i]);
        sum += v * v;
    }
    __shared__ float partial[kNormThreads / 32];
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = sum;
    __syncthreads();
    if (threadIdx.x < 32) {
        float s = threadIdx.x < kNormThreads / 32 ? partial[threadIdx.x] : 0.f;
        for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
        if (threadIdx.x == 0) partial[0] = s;
    }
    __syncthreads();
    const float inv = rsqrtf(partial[0] / hidden + eps);
    for (int i = threadIdx.x; i < hidden; i += kNormThreads) {
        const float n = round<T>(toF(xr[i]) * inv);
        orow[i] = fromF<T>(toF(w[i]) * n);
    }
}

template <typename T>
__global__ void ropeKvKernel(const T* q, const T* k, const T* v, const int64_t* position, const float* inv_freq,
                             T* q_out, T* k_cache, T* v_cache, int64_t* pos_cache, int q_heads, int head_dim,
                             int64_t capacity) {
    pdlWait();
    pdlLaunchDependents();
    const int head = blockIdx.x;  // [0, q_heads): query heads, then key heads
    const int half = head_dim / 2;
    const int i = threadIdx.x;
    if (i >= half) return;
    const int64_t pos = *position;
    // ATen: freqs = float(pos) * inv_freq (float); cos/sin in float, rounded to the dtype.
    const float angle = static_cast<float>(pos) * inv_freq[i];
    double sd, cd;
    sincos(static_cast<double>(angle), &sd, &cd);
    const float c = round<T>(static_cast<float>(cd));
    const float s = round<T>(static_cast<float>(sd));
    const bool is_q = head < q_heads;
    const int h = is_q ? head : head - q_heads;
    const T* src = (is_q ? q : k) + static_cast<int64_t>(h) * head_dim;
    const float x1 = toF(src[i]);
    const float x2 = toF(src[i + half]);
    // x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x2, x1); each product rounded, then the sum.
    const T o1 = fromF<T>(round<T>(x1 * c) + round<T>(-x2 * s));
    const T o2 = fromF<T>(round<T>(x2 * c) + round<T>(x1 * s));
    if (is_q) {
        q_out[static_cast<int64_t>(h) * head_dim + i] = o1;
        q_out[static_cast<int64_t>(h) * head_dim + i + half] = o2;
    } else {
        T* kd = k_cache + (static_cast<int64_t>(h) * capacity + pos) * head_dim;
        T* vd = v_cache + (static_cast<int64_t>(h) * capacity + pos) * head_dim;
        const T* vs = v + static_cast<int64_t>(h) * head_dim;
        kd[i] = o1;
        kd[i + half] = o2;
        vd[i] = vs[i];
        vd[i + half] = vs[i + half];
        if (h == 0 && i == 0) pos_cache[pos] = pos;
    }
}

template <typename T>
__global__ void siluMulKernel(const T* gate, const T* up, T* out, int64_t n) {
    pdlWait();
    pdlLaunchDependents();
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float g = toF(gate[i]);
    const float s = round<T>(g / (1.f + expf(-g)));
    out[i] = fromF<T>(s * toF(up[i]));
}

// Prefill-sized rows (also any eager step): one warp per row, 16-byte loads, the row read twice
// (statistics, then the normalised product; the second read hits L1/L2). hidden % 8 == 0.
constexpr int kRowsWarps = 8;

template <typename T>
__global__ void __launch_bounds__(kRowsWarps * 32) rmsNormRowsKernel(const T* x, const T* w, T* out, int rows,
                                                                    int hidden, float eps) {
    pdlWait();
    pdlLaunchDependents();
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * kRowsWarps + (threadIdx.x >> 5);
    if (row >= rows) return;
    const T* xr = x + static_cast<int64_t>(row) * hidden;
    T* orow = out + static_cast<int64_t>(row) * hidden;
    float sum = 0.f;
    for (int i = lane * 8; i < hidden; i += 256) {
        const uint4 raw = *reinterpret_cast<const uint4*>(xr + i);
        const T* v = reinterpret_cast<const T*>(&raw);
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            const float f = toF(v[j]);
            sum += f * f;
        }
    }
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    const float inv = rsqrtf(sum / hidden + eps);
    for (int i = lane * 8; i < hidden; i += 256) {
        const uint4 raw = *reinterpret_cast<const uint4*>(xr + i);
        const uint4 wraw = *reinterpret_cast<const uint4*>(w + i);
        const T* v = reinterpret_cast<const T*>(&raw);
        const T* wv = reinterpret_cast<const T*>(&wraw);
        uint4 o;
        T* ov = reinterpret_cast<T*>(&o);
#pragma unroll
        for (int j = 0; j < 8; ++j) ov[j] = fromF<T>(toF(wv[j]) * round<T>(toF(v[j]) * inv));
        *reinterpret_cast<uint4*>(orow + i) = o;
    }
}

// gu [rows, 2*inter] = [gate | up] per row (the stacked product's output); out [rows, inter].
// 8 elements per thread; inter % 8 == 0.
template <typename T>
__global__ void siluMulRowsKernel(const T* gu, T* out, int64_t rows, int inter) {
    pdlWait();
    pdlLaunchDependents();
    const int64_t e = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * 8;
    if (e >= rows * inter) return;
    const int64_t r = e / inter;
    const int c = static_cast<int>(e - r * inter);
    const T* g = gu + r * 2 * inter + c;
    const uint4 graw = *reinterpret_cast<const uint4*>(g);
    const uint4 uraw = *reinterpret_cast<const uint4*>(g + inter);
    const T* gv = reinterpret_cast<const T*>(&graw);
    const T* uv = reinterpret_cast<const T*>(&uraw);
    uint4 o;
    T* ov = reinterpret_cast<T*>(&o);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
        const float gf = toF(gv[j]);
        ov[j] = fromF<T>(round<T>(gf / (1.f + expf(-gf))) * toF(uv[j]));
    }
    *reinterpret_cast<uint4*>(out + e) = o;
}

constexpr int kGemvWarps = 4;      // warps (rows) per block of the plain products
constexpr int kGemvNormWarps = 8;  // with the norm prologue: more rows share one block's staged x
constexpr int kGemvUnroll = 8;  // 16-byte loads in flight per lane and row

__device__ __forceinline__ float dot8(const uint4& a, const uint4& b, __nv_bfloat16) {
    const auto* pa = reinterpret_cast<const __nv_bfloat162*>(&a);
    const auto* pb = reinterpret_cast<const __nv_bfloat162*>(&b);
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float2 fa = __bfloat1622float2(pa[i]);
        const float2 fb = __bfloat1622float2(pb[i]);
        s = fmaf(fa.x, fb.x, s);
        s = fmaf(fa.y, fb.y, s);
    }
    return s;
}
__device__ __forceinline__ float dot8(const uint4& a, const uint4& b, __half) {
    const auto* pa = reinterpret_cast<const __half2*>(&a);
    const auto* pb = reinterpret_cast<const __half2*>(&b);
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float2 fa = __half22float2(pa[i]);
        const float2 fb = __half22float2(pb[i]);
        s = fmaf(fa.x, fb.x, s);
        s = fmaf(fa.y, fb.y, s);
    }
    return s;
}

// Two packed elements of a 32-bit word, as floats, and back (rounded to T).
__device__ __forceinline__ float2 unpack2(uint32_t u, __nv_bfloat16) {
    __nv_bfloat162 v;
    memcpy(&v, &u, 4);
    return __bfloat1622float2(v);
}
__device__ __forceinline__ float2 unpack2(uint32_t u, __half) {
    __half2 v;
    memcpy(&v, &u, 4);
    return __half22float2(v);
}
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
    const T a = fromF<T>(lo), b = fromF<T>(hi);
    uint16_t ua, ub;
    memcpy(&ua, &a, 2);
    memcpy(&ub, &b, 2);
    return static_cast<uint32_t>(ua) | (static_cast<uint32_t>(ub) << 16);
}

// One warp per output (kRows = 1) or per gate/up row pair (kRows = 2). Each lane reads 16-byte
// chunks lane, lane + 32, ...; kGemvUnroll chunks per row are loaded before any is used. The first
// batch of weights is loaded before pdlWait(), so it streams in while the previous kernel finishes;
// with kNorm the block then stages the normalised x in shared memory.
struct GemvKernelArgs {
    const void* w;
    const void* x;
    const void* bias;
    const void* norm_w;
    const void* residual;
    void* y;
    int n, k;
    float eps;
};

template <typename T, int kRows, bool kNorm, bool kResidual>
__global__ void __launch_bounds__((kNorm ? kGemvNormWarps : kGemvWarps) * 32) gemvKernel(GemvKernelArgs a) {
    constexpr int kWarpsPerBlock = kNorm ? kGemvNormWarps : kGemvWarps;
    // kNorm: x normalised once per block into shared memory; else read straight from global (L1).
    extern __shared__ __align__(16) unsigned char gemv_smem[];
    uint4* xsm = reinterpret_cast<uint4*>(gemv_smem);
    __shared__ float partial[kWarpsPerBlock];
    const T* w = static_cast<const T*>(a.w);
    const int n = a.n, k = a.k;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int row = blockIdx.x * kWarpsPerBlock + warp;
    const bool active = row < n;
    const int chunks = k / 8;
    const uint4* ws[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r)
        ws[r] = reinterpret_cast<const uint4*>(w + static_cast<int64_t>(active ? row + r * n : 0) * k);
    uint4 wv[kRows][kGemvUnroll];
    auto loadBatch = [&](int base) {
#pragma unroll
        for (int u = 0; u < kGemvUnroll; ++u) {
            const int c = base + lane + u * 32;
#pragma unroll
            for (int r = 0; r < kRows; ++r) wv[r][u] = active && c < chunks ? __ldcs(ws[r] + c) : make_uint4(0, 0, 0, 0);
        }
    };
    loadBatch(0);
    pdlWait();  // x, the residual and the output buffer belong to the kernels before
    pdlLaunchDependents();

    const uint4* xg = static_cast<const uint4*>(a.x);
    if (kNorm) {
        float sumsq = 0.f;
        for (int c = threadIdx.x; c < chunks; c += kWarpsPerBlock * 32) {
            const uint4 v = __ldg(xg + c);
            xsm[c] = v;
            for (const uint32_t word : {v.x, v.y, v.z, v.w}) {
                const float2 f = unpack2(word, T());
                sumsq += f.x * f.x + f.y * f.y;
            }
        }
        for (int off = 16; off > 0; off >>= 1) sumsq += __shfl_xor_sync(0xffffffffu, sumsq, off);
        if (lane == 0) partial[warp] = sumsq;
        __syncthreads();
        float total = 0.f;
#pragma unroll
        for (int i = 0; i < kWarpsPerBlock; ++i) total += partial[i];
        const float inv = rsqrtf(total / k + a.eps);
        const uint4* nw = static_cast<const uint4*>(a.norm_w);
        // n = w * round(x * inv), rounded: as fusedRmsNorm.
        auto norm2 = [&](uint32_t xw, uint32_t ww) {
            const float2 xf = unpack2(xw, T()), wf = unpack2(ww, T());
            return pack2<T>(wf.x * round<T>(xf.x * inv), wf.y * round<T>(xf.y * inv));
        };
        for (int c = threadIdx.x; c < chunks; c += kWarpsPerBlock * 32) {
            const uint4 v = xsm[c];
            const uint4 wn = __ldg(nw + c);
            xsm[c] = make_uint4(norm2(v.x, wn.x), norm2(v.y, wn.y), norm2(v.z, wn.z), norm2(v.w, wn.w));
        }
        __syncthreads();
    }
    if (!active) return;
    const uint4* xin = kNorm ? xsm : xg;

    float acc[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) acc[r] = 0.f;
    for (int base = 0;;) {
#pragma unroll
        for (int u = 0; u < kGemvUnroll; ++u) {
            const int c = base + lane + u * 32;
            const uint4 xv = c < chunks ? (kNorm ? xin[c] : __ldg(xin + c)) : make_uint4(0, 0, 0, 0);
#pragma unroll
            for (int r = 0; r < kRows; ++r) acc[r] += dot8(wv[r][u], xv, T());
        }
        base += kGemvUnroll * 32;
        if (base >= chunks) break;
        loadBatch(base);
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r)
        for (int off = 16; off > 0; off >>= 1) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], off);
    if (lane != 0) return;
    const T* bias = static_cast<const T*>(a.bias);
    T* y = static_cast<T*>(a.y);
    if (kRows == 1) {
        if (kResidual) {
            const float d = round<T>(acc[0] + (bias ? toF(bias[row]) : 0.f));
            y[row] = fromF<T>(toF(static_cast<const T*>(a.residual)[row]) + d);
        } else {
            y[row] = fromF<T>(acc[0] + (bias ? toF(bias[row]) : 0.f));
        }
    } else {
        const float g = round<T>(acc[0] + (bias ? toF(bias[row]) : 0.f));
        const float u = round<T>(acc[kRows - 1] + (bias ? toF(bias[row + n]) : 0.f));
        const float s = round<T>(g / (1.f + expf(-g)));
        y[row] = fromF<T>(s * u);
    }
}

template <typename T, int kRows, bool kNorm, bool kResidual>
cudaError_t launchGemvKernel(const GemvKernelArgs& a, cudaStream_t st) {
    auto* kernel = &gemvKernel<T, kRows, kNorm, kResidual>;
    constexpr int warps = kNorm ? kGemvNormWarps : kGemvWarps;
    const size_t smem = kNorm ? static_cast<size_t>(a.k) * sizeof(T) : 0;
    if (kNorm) allowDynamicSmem(reinterpret_cast<const void*>(kernel), static_cast<size_t>(kGemvMaxK) * sizeof(T));
    PdlLaunch launch(dim3((a.n + warps - 1) / warps), dim3(warps * 32), smem, st);
    return cudaLaunchKernelEx(&launch.config, kernel, a);
}

template <typename T>
cudaError_t launchGemv(const GemvArgs& p, cudaStream_t st) {
    const GemvKernelArgs a{p.w, p.x, p.bias, p.norm_w, p.residual, p.y, p.n, p.k, p.eps};
    const bool norm = p.norm_w != nullptr, residual = p.residual != nullptr;
    if (p.epilogue == GemvEpilogue::kSiluMul)
        return norm ? launchGemvKernel<T, 2, true, false>(a, st) : launchGemvKernel<T, 2, false, false>(a, st);
    if (residual)
        return norm ? launchGemvKernel<T, 1, true, true>(a, st) : launchGemvKernel<T, 1, false, true>(a, st);
    return norm ? launchGemvKernel<T, 1, true, false>(a, st) : launchGemvKernel<T, 1, false, false>(a, st);
}

std::string launchError(const char* what, cudaError_t launched) {
    const cudaError_t err = launched != cudaSuccess ? launched : cudaGetLastError();
    if (err == cudaSuccess) return {};
    return std::string(what) + ": launch failed: " + cudaGetErrorString(err);
}

}  // namespace

std::string fusedRmsNorm(ElementType dtype, const void* x, const void* w, void* out, int rows, int hidden, float eps,
                         void* stream) {
    if (rows <= 0 || hidden <= 0 || !x || !w || !out) return "fused rmsnorm: bad arguments";
    auto st = static_cast<cudaStream_t>(stream);
    cudaError_t err;
    if (dtype == ElementType::kBFloat16)
        err = launchPdl(rmsNormKernel<__nv_bfloat16>, dim3(rows), dim3(kNormThreads), st,
                        static_cast<const __nv_bfloat16*>(x), static_cast<const __nv_bfloat16*>(w),
                        static_cast<__nv_bfloat16*>(out), hidden, eps);
    else
        err = launchPdl(rmsNormKernel<__half>, dim3(rows), dim3(kNormThreads), st, static_cast<const __half*>(x),
                        static_cast<const __half*>(w), static_cast<__half*>(out), hidden, eps);
    return launchError("fused rmsnorm", err);
}

std::string fusedRopeKvWrite(ElementType dtype, const void* q, const void* k, const void* v, const int64_t* position,
                             const float* inv_freq, void* q_out, void* k_cache, void* v_cache, int64_t* pos_cache,
                             int q_heads, int kv_heads, int head_dim, int64_t capacity, void* stream) {
    if (head_dim <= 0 || head_dim % 2 || head_dim > 2048 || q_heads <= 0 || kv_heads <= 0)
        return "fused rope: bad head counts or head_dim";
    auto st = static_cast<cudaStream_t>(stream);
    const int threads = (head_dim / 2 + 31) / 32 * 32;
    cudaError_t err;
    if (dtype == ElementType::kBFloat16)
        err = launchPdl(ropeKvKernel<__nv_bfloat16>, dim3(q_heads + kv_heads), dim3(threads), st,
            static_cast<const __nv_bfloat16*>(q), static_cast<const __nv_bfloat16*>(k),
            static_cast<const __nv_bfloat16*>(v), position, inv_freq, static_cast<__nv_bfloat16*>(q_out),
            static_cast<__nv_bfloat16*>(k_cache), static_cast<__nv_bfloat16*>(v_cache), pos_cache, q_heads, head_dim,
            capacity);
    else
        err = launchPdl(ropeKvKernel<__half>, dim3(q_heads + kv_heads), dim3(threads), st,
            static_cast<const __half*>(q), static_cast<const __half*>(k), static_cast<const __half*>(v), position,
            inv_freq, static_cast<__half*>(q_out), static_cast<__half*>(k_cache), static_cast<__half*>(v_cache),
            pos_cache, q_heads, head_dim, capacity);
    return launchError("fused rope", err);
}

std::string fusedSiluMul(ElementType dtype, const void* gate, const void* up, void* out, int64_t n, void* stream) {
    if (n <= 0 || !gate || !up || !out) return "fused silu*mul: bad arguments";
    auto st = static_cast<cudaStream_t>(stream);
    const int threads = 256;
    const unsigned blocks = static_cast<unsigned>((n + threads - 1) / threads);
    cudaError_t err;
    if (dtype == ElementType::kBFloat16)
        err = launchPdl(siluMulKernel<__nv_bfloat16>, dim3(blocks), dim3(threads), st, static_cast<const __nv_bfloat16*>(gate),
                                                                 static_cast<const __nv_bfloat16*>(up),
                                                                 static_cast<__nv_bfloat16*>(out), n);
    else
        err = launchPdl(siluMulKernel<__half>, dim3(blocks), dim3(threads), st, static_cast<const __half*>(gate),
                                                          static_cast<const __half*>(up), static_cast<__half*>(out), n);
    return launchError("fused silu*mul", err);
}

std::string fusedRmsNormRows(ElementType dtype, const void* x, const void* w, void* out, int rows, int hidden, float eps,
                             void* stream) {
    if (rows <= 0 || hidden <= 0 || hidden % 8 || !x || !w || !out) return "rmsnorm rows: bad arguments";
    auto st = static_cast<cudaStream_t>(stream);
    const dim3 grid((rows + kRowsWarps - 1) / kRowsWarps), block(kRowsWarps * 32);
    cudaError_t err;
    if (dtype == ElementType::kBFloat16)
        err = launchPdl(rmsNormRowsKernel<__nv_bfloat16>, grid, block, st, static_cast<const __nv_bfloat16*>(x),
                        static_cast<const __nv_bfloat16*>(w), static_cast<__nv_bfloat16*>(out), rows, hidden, eps);
    else
        err = launchPdl(rmsNormRowsKernel<__half>, grid, block, st, static_cast<const __half*>(x),
                        static_cast<const __half*>(w), static_cast<__half*>(out), rows, hidden, eps);
    return launchError("rmsnorm rows", err);
}

std::string fusedSiluMulRows(ElementType dtype, const void* gu, void* out, int64_t rows, int inter, void* stream) {
    if (rows <= 0 || inter <= 0 || inter % 8 || !gu || !out) return "silu*mul rows: bad arguments";
    auto st = static_cast<cudaStream_t>(stream);
    const int threads = 256;
    const int64_t vectors = rows * inter / 8;
    const dim3 grid(static_cast<unsigned>((vectors + threads - 1) / threads)), block(threads);
    cudaError_t err;
    if (dtype == ElementType::kBFloat16)
        err = launchPdl(siluMulRowsKernel<__nv_bfloat16>, grid, block, st, static_cast<const __nv_bfloat16*>(gu),
                        static_cast<__nv_bfloat16*>(out), rows, inter);
    else
        err = launchPdl(siluMulRowsKernel<__half>, grid, block, st, static_cast<const __half*>(gu),
                        static_cast<__half*>(out), rows, inter);
    return launchError("silu*mul rows", err);
}

std::string fusedGemv(const GemvArgs& p) {
    if (p.n <= 0 || p.k <= 0 || !p.w || !p.x || !p.y) return "fused gemv: bad arguments";
    if (p.k % 8 || p.k > kGemvMaxK || reinterpret_cast<uintptr_t>(p.w) % 16 || reinterpret_cast<uintptr_t>(p.x) % 16 ||
        reinterpret_cast<uintptr_t>(p.norm_w) % 16)
        return "fused gemv: k must be a multiple of 8 up to kGemvMaxK and W, x, norm_w 16-byte aligned";
    if (p.residual && p.epilogue != GemvEpilogue::kStore) return "fused gemv: a residual add needs the plain epilogue";
    auto st = static_cast<cudaStream_t>(p.stream);
    const cudaError_t err = p.dtype == ElementType::kBFloat16 ? launchGemv<__nv_bfloat16>(p, st) : launchGemv<__half>(p, st);
    return launchError("fused gemv", err);
}

}  // namespace attnlab::kernels
