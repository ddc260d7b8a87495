// Split-K decode attention over per-KV-head kept entries (see sparse_decode.h).
//
// Grid: (split, kv_head * subgroups, batch). A CTA of 4 warps reads rows [split*chunk,
// (split+1)*chunk) of one KV head once for up to 8 query heads of its group. Each lane loads 16
// bytes (8 elements) of a row; D/8 lanes share a row, so a warp covers 32*8/D rows per step and
// keeps kUnroll steps of K and V loads in flight. Scores are reduced across the row's lanes with
// shuffles; each row slot keeps its own online softmax (max m, sum l, accumulator) in base 2,
// merged across slots (shuffles) and warps (shared memory) at the end. With more than one split
// the CTAs write normalised partial outputs and their log-sum-exp, and a second kernel merges them.
#include "kernels/sparse_decode.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

namespace attnlab::kernels {

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kUnroll = 4;
constexpr float kLog2e = 1.4426950408889634f;
constexpr int kMaxGroupPerCta = 8;

struct Args {
    const void* q;
    void* out;
    const void* const* k_rows;
    const void* const* v_rows;
    const int* lengths;
    const int* const* indices;
    const float* const* bias;
    int64_t row_stride;
    int q_heads, kv_heads, group, subgroups;
    int chunk, splits;
    float scale_log2;
    float* ws_out;  // [batch*q_heads, splits, D]
    float* ws_lse;  // [batch*q_heads, splits]
};

__device__ __forceinline__ void toFloat8(const uint4& raw, float (&f)[8], const __nv_bfloat16*) {
    const __nv_bfloat162* p = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float2 t = __bfloat1622float2(p[i]);
        f[2 * i] = t.x;
        f[2 * i + 1] = t.y;
    }
}

__device__ __forceinline__ void toFloat8(const uint4& raw, float (&f)[8], const __half*) {
    const __half2* p = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float2 t = __half22float2(p[i]);
        f[2 * i] = t.x;
        f[2 * i + 1] = t.y;
    }
}

__device__ __forceinline__ void storeOne(__nv_bfloat16* p, float x) { *p = __float2bfloat16(x); }
__device__ __forceinline__ void storeOne(__half* p, float x) { *p = __float2half(x); }

// Streams through data read once: skip L1, keep L2 policy default.
__device__ __forceinline__ uint4 loadStreaming(const void* p) {
    uint4 r;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
                 : "l"(p));
    return r;
}

template <typename T, int D, int GM>
__global__ void __launch_bounds__(kThreads) splitDecodeKernel(Args a) {
    constexpr int kLanesPerRow = D / 8;
    constexpr int kRowsPerWarp = 32 / kLanesPerRow;
    constexpr int kCtaStep = kWarps * kRowsPerWarp * kUnroll;
    const float kNegInf = -INFINITY;

    const int split = blockIdx.x;
    const int hkv = blockIdx.y / a.subgroups;
    const int sub = blockIdx.y % a.subgroups;
    const int b = blockIdx.z;
    const int h0 = sub * GM;
    const int gcount = min(GM, a.group - h0);
    const int s = b * a.kv_heads + hkv;
    const int len = a.lengths[s];
    const int row_begin = split * a.chunk;
    const int row_end = min(len, row_begin + a.chunk);
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int slot = lane / kLanesPerRow;
    const int col = (lane % kLanesPerRow) * 8;
    const int q_head0 = hkv * a.group + h0;  // first query head of this CTA within the sequence

    float q[GM][8];
    {
        const T* qb = static_cast<const T*>(a.q) + (static_cast<int64_t>(b) * a.q_heads + q_head0) * D + col;
#pragma unroll
        for (int h = 0; h < GM; ++h) {
            if (h < gcount) {
                toFloat8(*reinterpret_cast<const uint4*>(qb + h * D), q[h], static_cast<const T*>(nullptr));
#pragma unroll
                for (int j = 0; j < 8; ++j) q[h][j] *= a.scale_log2;
            } else {
#pragma unroll
                for (int j = 0; j < 8; ++j) q[h][j] = 0.f;
            }
        }
    }

    float m[GM], l[GM], acc[GM][8];
#pragma unroll
    for (int h = 0; h < GM; ++h) {
        m[h] = kNegInf;
        l[h] = 0.f;
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[h][j] = 0.f;
    }

    const T* kb = static_cast<const T*>(a.k_rows[s]);
    const T* vb = static_cast<const T*>(a.v_rows[s]);
    const int* idx = a.indices ? a.indices[s] : nullptr;
    const float* bias = a.bias ? a.bias[s] : nullptr;
    const int64_t stride = a.row_stride;

    for (int base = row_begin + warp * kRowsPerWarp * kUnroll; base < row_end; base += kCtaStep) {
        uint4 kr[kUnroll], vr[kUnroll];
        bool ok[kUnroll];
        float bv[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int i = base + u * kRowsPerWarp + slot;
            ok[u] = i < row_end;
            bv[u] = 0.f;
            if (ok[u]) {
                const int r = idx ? idx[i] : i;
                const int64_t off = static_cast<int64_t>(r) * stride + col;
                kr[u] = loadStreaming(kb + off);
                vr[u] = loadStreaming(vb + off);
                if (bias) bv[u] = bias[r] * kLog2e;
            } else {
                kr[u] = make_uint4(0, 0, 0, 0);
                vr[u] = make_uint4(0, 0, 0, 0);
            }
        }
        float sc[kUnroll][GM];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            float kf[8];
            toFloat8(kr[u], kf, static_cast<const T*>(nullptr));
#pragma unroll
            for (int h = 0; h < GM; ++h) {
                float d = 0.f;
#pragma unroll
                for (int j = 0; j < 8; ++j) d = fmaf(q[h][j], kf[j], d);
#pragma unroll
                for (int off = kLanesPerRow / 2; off > 0; off >>= 1) d += __shfl_xor_sync(0xffffffffu, d, off);
                sc[u][h] = ok[u] ? d + bv[u] : kNegInf;
            }
        }
#pragma unroll
        for (int h = 0; h < GM; ++h) {
            float mx = m[h];
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) mx = fmaxf(mx, sc[u][h]);
            if (mx != kNegInf && mx != m[h]) {
                const float corr = exp2f(m[h] - mx);  // 0 when m was -inf
                l[h] *= corr;
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[h][j] *= corr;
                m[h] = mx;
            }
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            float vf[8];
            toFloat8(vr[u], vf, static_cast<const T*>(nullptr));
#pragma unroll
            for (int h = 0; h < GM; ++h) {
                const float p = sc[u][h] == kNegInf ? 0.f : exp2f(sc[u][h] - m[h]);
                l[h] += p;
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[h][j] = fmaf(p, vf[j], acc[h][j]);
            }
        }
    }

    // Merge the row slots of this warp (lanes that share `col`).
#pragma unroll
    for (int off = kLanesPerRow; off < 32; off <<= 1) {
#pragma unroll
        for (int h = 0; h < GM; ++h) {
            const float mo = __shfl_xor_sync(0xffffffffu, m[h], off);
            const float lo = __shfl_xor_sync(0xffffffffu, l[h], off);
            float ao[8];
#pragma unroll
            for (int j = 0; j < 8; ++j) ao[j] = __shfl_xor_sync(0xffffffffu, acc[h][j], off);
            const float mn = fmaxf(m[h], mo);
            if (mn != kNegInf) {
                const float c1 = exp2f(m[h] - mn);
                const float c2 = exp2f(mo - mn);
                l[h] = l[h] * c1 + lo * c2;
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[h][j] = acc[h][j] * c1 + ao[j] * c2;
                m[h] = mn;
            }
        }
    }

    __shared__ float sm_m[kWarps][GM];
    __shared__ float sm_l[kWarps][GM];
    __shared__ float sm_acc[kWarps][GM][D];
    if (slot == 0) {
#pragma unroll
        for (int h = 0; h < GM; ++h) {
#pragma unroll
            for (int j = 0; j < 8; ++j) sm_acc[warp][h][col + j] = acc[h][j];
            if (lane == 0) {
                sm_m[warp][h] = m[h];
                sm_l[warp][h] = l[h];
            }
        }
    }
    __syncthreads();

    for (int e = threadIdx.x; e < GM * D; e += kThreads) {
        const int h = e / D;
        const int d = e % D;
        if (h >= gcount) continue;
        float mx = kNegInf;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, sm_m[w][h]);
        float o = 0.f;
        float lse = kNegInf;
        if (mx != kNegInf) {
            float lsum = 0.f, osum = 0.f;
#pragma unroll
            for (int w = 0; w < kWarps; ++w) {
                const float c = exp2f(sm_m[w][h] - mx);
                lsum += sm_l[w][h] * c;
                osum += sm_acc[w][h][d] * c;
            }
            o = osum / lsum;
            lse = mx + log2f(lsum);
        }
        const int64_t row = static_cast<int64_t>(b) * a.q_heads + q_head0 + h;  // (batch, query head)
        if (a.splits == 1) {
            storeOne(static_cast<T*>(a.out) + row * D + d, o);
        } else {
            a.ws_out[(row * a.splits + split) * D + d] = o;
            if (d == 0) a.ws_lse[row * a.splits + split] = lse;
        }
    }
}

template <typename T, int D>
__global__ void __launch_bounds__(D) combineSplitsKernel(Args a) {
    const int64_t row = blockIdx.x;
    const int d = threadIdx.x;
    const float* lse = a.ws_lse + row * a.splits;
    float mx = -INFINITY;
    for (int s = 0; s < a.splits; ++s) mx = fmaxf(mx, lse[s]);
    float o = 0.f;
    if (mx != -INFINITY) {
        float lsum = 0.f, osum = 0.f;
        for (int s = 0; s < a.splits; ++s) {
            const float w = exp2f(lse[s] - mx);
            lsum += w;
            osum += w * a.ws_out[(row * a.splits + s) * D + d];
        }
        o = osum / lsum;
    }
    storeOne(static_cast<T*>(a.out) + row * D + d, o);
}

int groupPerCta(int group) {
    const int g = std::min(group, kMaxGroupPerCta);
    return g <= 1 ? 1 : g <= 2 ? 2 : g <= 4 ? 4 : 8;
}

template <typename T, int D, int GM>
const void* kernelFor() {
    return reinterpret_cast<const void*>(&splitDecodeKernel<T, D, GM>);
}

template <typename T, int D>
const void* pickKernel(int gm) {
    switch (gm) {
        case 1: return kernelFor<T, D, 1>();
        case 2: return kernelFor<T, D, 2>();
        case 4: return kernelFor<T, D, 4>();
        default: return kernelFor<T, D, 8>();
    }
}

const void* splitKernel(ElementType dtype, int head_dim, int gm) {
    if (dtype == ElementType::kBFloat16)
        return head_dim == 64 ? pickKernel<__nv_bfloat16, 64>(gm) : pickKernel<__nv_bfloat16, 128>(gm);
    return head_dim == 64 ? pickKernel<__half, 64>(gm) : pickKernel<__half, 128>(gm);
}

const void* combineKernel(ElementType dtype, int head_dim) {
    if (dtype == ElementType::kBFloat16)
        return head_dim == 64 ? reinterpret_cast<const void*>(&combineSplitsKernel<__nv_bfloat16, 64>)
                              : reinterpret_cast<const void*>(&combineSplitsKernel<__nv_bfloat16, 128>);
    return head_dim == 64 ? reinterpret_cast<const void*>(&combineSplitsKernel<__half, 64>)
                          : reinterpret_cast<const void*>(&combineSplitsKernel<__half, 128>);
}

// Resident CTAs per SM times SMs: one full wave.
int ctasPerWave(const void* kernel) {
    int device = 0;
    cudaGetDevice(&device);
    int sms = 0;
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    int per_sm = 0;
    cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, 0);
    return std::max(1, sms) * std::max(1, per_sm);
}

int chunkFor(const SparseDecodeParams& p, int splits) {
    const int rows = std::max(1, p.max_length);
    int chunk = (rows + splits - 1) / splits;
    return (chunk + 15) / 16 * 16;
}

}  // namespace

bool sparseDecodeCompiled() { return true; }

int sparseDecodeSplits(const SparseDecodeParams& p) {
    if (p.splits > 0) return p.splits;
    if (p.batch <= 0 || p.kv_heads <= 0 || p.q_heads <= 0 || p.head_dim <= 0) return 1;
    const int group = p.q_heads / p.kv_heads;
    const int gm = groupPerCta(group);
    const int subgroups = (group + gm - 1) / gm;
    const int ctas = p.batch * p.kv_heads * subgroups;
    const int wave = ctasPerWave(splitKernel(p.dtype, p.head_dim == 64 ? 64 : 128, gm));
    int splits = std::max(1, wave / ctas);
    // At least 64 rows per CTA: below that the merge costs more than the split saves.
    splits = std::min(splits, std::max(1, (p.max_length + 63) / 64));
    return splits;
}

size_t sparseDecodeWorkspaceBytes(const SparseDecodeParams& p) {
    const int splits = sparseDecodeSplits(p);
    if (splits <= 1) return 0;
    const size_t rows = static_cast<size_t>(p.batch) * p.q_heads * splits;
    return rows * (static_cast<size_t>(p.head_dim) + 1) * sizeof(float);
}

std::string sparseDecodeAttention(const SparseDecodeParams& p) {
    if (p.batch <= 0 || p.q_heads <= 0 || p.kv_heads <= 0) return "sparse decode: batch, q_heads and kv_heads must be positive";
    if (p.q_heads % p.kv_heads != 0) return "sparse decode: q_heads must be a multiple of kv_heads";
    if (p.head_dim != 64 && p.head_dim != 128) return "sparse decode: head_dim must be 64 or 128";
    if (!p.q || !p.out || !p.k_rows || !p.v_rows || !p.lengths) return "sparse decode: q, out, k_rows, v_rows and lengths are required";
    const int64_t stride = p.row_stride == 0 ? p.head_dim : p.row_stride;
    if (stride < p.head_dim || stride % 8 != 0) return "sparse decode: row_stride must be >= head_dim and a multiple of 8";
    if (p.max_length < 0) return "sparse decode: max_length must be >= 0";
    const int splits = sparseDecodeSplits(p);
    const size_t need = sparseDecodeWorkspaceBytes(p);
    if (need > 0 && (!p.workspace || p.workspace_bytes < need)) return "sparse decode: workspace too small";

    const int group = p.q_heads / p.kv_heads;
    const int gm = groupPerCta(group);
    Args a{};
    a.q = p.q;
    a.out = p.out;
    a.k_rows = p.k_rows;
    a.v_rows = p.v_rows;
    a.lengths = p.lengths;
    a.indices = p.indices;
    a.bias = p.bias;
    a.row_stride = stride;
    a.q_heads = p.q_heads;
    a.kv_heads = p.kv_heads;
    a.group = group;
    a.subgroups = (group + gm - 1) / gm;
    a.splits = splits;
    a.chunk = chunkFor(p, splits);
    a.scale_log2 = p.scale * kLog2e;
    if (splits > 1) {
        a.ws_out = static_cast<float*>(p.workspace);
        a.ws_lse = a.ws_out + static_cast<size_t>(p.batch) * p.q_heads * splits * p.head_dim;
    }
    auto stream = static_cast<cudaStream_t>(p.stream);
    void* args[] = {&a};
    const dim3 grid(splits, p.kv_heads * a.subgroups, p.batch);
    cudaError_t err = cudaLaunchKernel(splitKernel(p.dtype, p.head_dim, gm), grid, dim3(kThreads), args, 0, stream);
    if (err == cudaSuccess && splits > 1) {
        err = cudaLaunchKernel(combineKernel(p.dtype, p.head_dim), dim3(p.batch * p.q_heads), dim3(p.head_dim), args, 0,
                               stream);
    }
    if (err != cudaSuccess) return std::string("sparse decode: launch failed: ") + cudaGetErrorString(err);
    return {};
}

}  // namespace attnlab::kernels
