// Split-K decode attention over per-KV-head kept entries (see sparse_decode.h).
//
// Grid: (split, kv_head * subgroups, batch). A CTA of 4 warps reads rows [split*chunk,
// (split+1)*chunk) of one KV head once for up to 8 query heads of its group. K and V stream through
// a 4-stage cp.async pipeline of 8 KB tiles in shared memory (index lists are read one tile ahead).
// Each lane reads 16 bytes (8 elements) of a row; D/8 lanes share a row, so a warp covers 32*8/D
// rows per step. Scores are reduced across the row's lanes with shuffles; each row slot keeps its
// own online softmax (max m, sum l, accumulator) in base 2,
// merged across slots (shuffles) and warps (shared memory) at the end. With more than one split
// the CTAs write normalised partial outputs and their log-sum-exp, and a second kernel merges them.
#include "kernels/sparse_decode.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <set>

namespace attnlab::kernels {

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
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


__device__ __forceinline__ void cpAsync16(void* smem, const void* gmem, bool valid) {
    const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    const int bytes = valid ? 16 : 0;  // 0: fill with zeros, read nothing
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(gmem), "r"(bytes));
}
__device__ __forceinline__ void cpAsync4(void* smem, const void* gmem, bool valid) {
    const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    const int bytes = valid ? 4 : 0;
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(dst), "l"(gmem), "r"(bytes));
}
__device__ __forceinline__ void cpAsyncCommit() { asm volatile("cp.async.commit_group;"); }
template <int N>
__device__ __forceinline__ void cpAsyncWait() {
    asm volatile("cp.async.wait_group %0;" ::"n"(N));
}

// Rows of K (and of V) per pipeline stage: 8 KB each.
template <int D>
__host__ __device__ constexpr int tileRows() {
    return 8192 / (D * 2);
}
constexpr int kStages = 4;

template <int D>
__host__ __device__ constexpr size_t stageBytes() {
    return 2 * 8192 + tileRows<D>() * sizeof(float);  // K tile, V tile, bias
}

template <typename T, int D, int GM>
__global__ void __launch_bounds__(kThreads) splitDecodeKernel(Args a) {
    constexpr int kLanesPerRow = D / 8;
    constexpr int kRowsPerWarp = 32 / kLanesPerRow;
    constexpr int kTile = tileRows<D>();
    constexpr int kWarpRows = kTile / kWarps;               // rows of a tile each warp computes
    constexpr int kSteps = kWarpRows / kRowsPerWarp;         // warp steps per tile
    constexpr int kChunksPerThread = kTile * kLanesPerRow / kThreads;  // 16-byte copies per thread per tensor
    const float kNegInf = -INFINITY;

    extern __shared__ __align__(16) unsigned char smem[];

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
    const int q_head0 = hkv * a.group + h0;

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
    const int rows = max(0, row_end - row_begin);
    const int tiles = (rows + kTile - 1) / kTile;

    auto stageK = [&](int st) { return reinterpret_cast<T*>(smem + st * stageBytes<D>()); };
    auto stageV = [&](int st) { return reinterpret_cast<T*>(smem + st * stageBytes<D>() + 8192); };
    auto stageBias = [&](int st) { return reinterpret_cast<float*>(smem + st * stageBytes<D>() + 2 * 8192); };

    // Row numbers of the next tile to issue, loaded one tile ahead so an index list's latency
    // overlaps the compute of the current tile.
    int pre[kChunksPerThread];
    auto loadRows = [&](int tile) {
#pragma unroll
        for (int c = 0; c < kChunksPerThread; ++c) {
            const int i = row_begin + tile * kTile + (threadIdx.x + c * kThreads) / kLanesPerRow;
            pre[c] = (idx && i < row_end) ? __ldg(idx + i) : i;
        }
    };
    loadRows(0);
    auto issue = [&](int tile) {
        if (tile < tiles) {
            const int st = tile % kStages;
            T* ks = stageK(st);
            T* vs = stageV(st);
#pragma unroll
            for (int c = 0; c < kChunksPerThread; ++c) {
                const int chunk = threadIdx.x + c * kThreads;
                const int r = chunk / kLanesPerRow;
                const int cc = (chunk % kLanesPerRow) * 8;
                const int i = row_begin + tile * kTile + r;
                const bool valid = i < row_end;
                const int row = valid ? pre[c] : 0;
                const int64_t off = static_cast<int64_t>(row) * stride + cc;
                cpAsync16(ks + r * D + cc, kb + off, valid);
                cpAsync16(vs + r * D + cc, vb + off, valid);
                if (bias && cc == 0) cpAsync4(stageBias(st) + r, bias + row, valid);
            }
            loadRows(tile + 1);
        }
        cpAsyncCommit();  // an empty group keeps the wait count uniform
    };

#pragma unroll
    for (int t = 0; t < kStages - 1; ++t) issue(t);

    for (int t = 0; t < tiles; ++t) {
        issue(t + kStages - 1);
        cpAsyncWait<kStages - 1>();
        __syncthreads();
        const int st = t % kStages;
        const T* ks = stageK(st);
        const T* vs = stageV(st);
        const float* bs = stageBias(st);
        const int tile_base = row_begin + t * kTile;
        float sc[kSteps][GM];
#pragma unroll
        for (int u = 0; u < kSteps; ++u) {
            const int r = warp * kWarpRows + u * kRowsPerWarp + slot;
            const bool ok = tile_base + r < row_end;
            float kf[8];
            toFloat8(*reinterpret_cast<const uint4*>(ks + r * D + col), kf, static_cast<const T*>(nullptr));
            const float bv = bias ? bs[r] * kLog2e : 0.f;
#pragma unroll
            for (int h = 0; h < GM; ++h) {
                float d = 0.f;
#pragma unroll
                for (int j = 0; j < 8; ++j) d = fmaf(q[h][j], kf[j], d);
#pragma unroll
                for (int off = kLanesPerRow / 2; off > 0; off >>= 1) d += __shfl_xor_sync(0xffffffffu, d, off);
                sc[u][h] = ok ? d + bv : kNegInf;
            }
        }
#pragma unroll
        for (int h = 0; h < GM; ++h) {
            float mx = m[h];
#pragma unroll
            for (int u = 0; u < kSteps; ++u) mx = fmaxf(mx, sc[u][h]);
            if (mx != kNegInf && mx != m[h]) {
                const float corr = exp2f(m[h] - mx);
                l[h] *= corr;
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[h][j] *= corr;
                m[h] = mx;
            }
        }
#pragma unroll
        for (int u = 0; u < kSteps; ++u) {
            const int r = warp * kWarpRows + u * kRowsPerWarp + slot;
            float vf[8];
            toFloat8(*reinterpret_cast<const uint4*>(vs + r * D + col), vf, static_cast<const T*>(nullptr));
#pragma unroll
            for (int h = 0; h < GM; ++h) {
                const float p = sc[u][h] == kNegInf ? 0.f : exp2f(sc[u][h] - m[h]);
                l[h] += p;
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[h][j] = fmaf(p, vf[j], acc[h][j]);
            }
        }
        __syncthreads();  // this stage is refilled by the next iteration's issue
    }
    cpAsyncWait<0>();

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

    // Across warps, through the (now idle) pipeline buffers.
    __syncthreads();
    float* sm_m = reinterpret_cast<float*>(smem);             // [kWarps][GM]
    float* sm_l = sm_m + kWarps * GM;                          // [kWarps][GM]
    float* sm_acc = sm_l + kWarps * GM;                        // [kWarps][GM][D]
    if (slot == 0) {
#pragma unroll
        for (int h = 0; h < GM; ++h) {
#pragma unroll
            for (int j = 0; j < 8; ++j) sm_acc[(warp * GM + h) * D + col + j] = acc[h][j];
            if (lane == 0) {
                sm_m[warp * GM + h] = m[h];
                sm_l[warp * GM + h] = l[h];
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
        for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, sm_m[w * GM + h]);
        float o = 0.f;
        float lse = kNegInf;
        if (mx != kNegInf) {
            float lsum = 0.f, osum = 0.f;
#pragma unroll
            for (int w = 0; w < kWarps; ++w) {
                const float c = exp2f(sm_m[w * GM + h] - mx);
                lsum += sm_l[w * GM + h] * c;
                osum += sm_acc[(w * GM + h) * D + d] * c;
            }
            o = osum / lsum;
            lse = mx + log2f(lsum);
        }
        const int64_t row = static_cast<int64_t>(b) * a.q_heads + q_head0 + h;
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

size_t dynamicSmem(int head_dim) {
    return head_dim == 64 ? kStages * stageBytes<64>() : kStages * stageBytes<128>();
}

// Lifts a kernel's dynamic shared memory cap, once per kernel.
void allowSmem(const void* kernel, size_t bytes) {
    static std::mutex mutex;
    static std::set<const void*> done;
    std::lock_guard<std::mutex> lock(mutex);
    if (done.insert(kernel).second)
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
}

// Resident CTAs per SM times SMs: one full wave.
int ctasPerWave(const void* kernel, int head_dim) {
    const size_t smem = dynamicSmem(head_dim);
    allowSmem(kernel, smem);
    int device = 0;
    cudaGetDevice(&device);
    int sms = 0;
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    int per_sm = 0;
    cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, smem);
    return std::max(1, sms) * std::max(1, per_sm);
}

struct Split {
    int splits = 1;
    int chunk = 1;
};

// Rows per CTA from the total work (sum of lengths), so ragged heads still fill one wave; the split
// count is then what the longest head needs.
Split chooseSplit(const SparseDecodeParams& p) {
    Split out;
    const int max_len = std::max(1, p.max_length);
    const int tile = p.head_dim == 64 ? tileRows<64>() : tileRows<128>();
    if (p.splits > 0) {
        out.splits = p.splits;
        out.chunk = (max_len + p.splits - 1) / p.splits;
        return out;
    }
    const int group = p.q_heads / p.kv_heads;
    const int gm = groupPerCta(group);
    const int subgroups = (group + gm - 1) / gm;
    const double total = p.total_length > 0 ? double(p.total_length) : double(max_len) * p.batch * p.kv_heads;
    const int wave = ctasPerWave(splitKernel(p.dtype, p.head_dim == 64 ? 64 : 128, gm), p.head_dim);
    double chunk = total * subgroups / std::max(1, wave);
    chunk = std::max(chunk, double(2 * tile));  // at least two tiles per CTA
    const int c = static_cast<int>(std::ceil(chunk / tile)) * tile;
    out.splits = std::max(1, (max_len + c - 1) / c);
    out.chunk = c;
    return out;
}

}  // namespace

bool sparseDecodeCompiled() { return true; }

int sparseDecodeSplits(const SparseDecodeParams& p) {
    if (p.batch <= 0 || p.kv_heads <= 0 || p.q_heads <= 0 || p.head_dim <= 0 || p.q_heads % p.kv_heads) return 1;
    return chooseSplit(p).splits;
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
    const Split split = chooseSplit(p);
    const int splits = split.splits;
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
    a.chunk = split.chunk;
    a.scale_log2 = p.scale * kLog2e;
    if (splits > 1) {
        a.ws_out = static_cast<float*>(p.workspace);
        a.ws_lse = a.ws_out + static_cast<size_t>(p.batch) * p.q_heads * splits * p.head_dim;
    }
    auto stream = static_cast<cudaStream_t>(p.stream);
    void* args[] = {&a};
    const dim3 grid(splits, p.kv_heads * a.subgroups, p.batch);
    const void* kernel = splitKernel(p.dtype, p.head_dim, gm);
    allowSmem(kernel, dynamicSmem(p.head_dim));
    cudaError_t err = cudaLaunchKernel(kernel, grid, dim3(kThreads), args, dynamicSmem(p.head_dim), stream);
    if (err == cudaSuccess && splits > 1) {
        err = cudaLaunchKernel(combineKernel(p.dtype, p.head_dim), dim3(p.batch * p.q_heads), dim3(p.head_dim), args, 0,
                               stream);
    }
    if (err != cudaSuccess) return std::string("sparse decode: launch failed: ") + cudaGetErrorString(err);
    return {};
}

}  // namespace attnlab::kernels
