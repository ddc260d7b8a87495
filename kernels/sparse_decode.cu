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
#include "kernels/device_helpers.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <cmath>

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

// The CTA's last step, shared by both variants: merge the warps' partial softmax states, stored in
// shared memory as m, l [kWarps][ROWS] and acc [kWarps][ROWS][D] (row = query head of the CTA),
// into the output (one split) or into the workspace with the log-sum-exp (several splits).
template <typename T, int D, int ROWS>
__device__ __forceinline__ void finishCta(const Args& a, const float* sm_m, const float* sm_l, const float* sm_acc,
                                          int gcount, int b, int q_head0, int split) {
    const float kNegInf = -INFINITY;
    for (int e = threadIdx.x; e < gcount * D; e += kThreads) {
        const int h = e / D;
        const int d = e % D;
        float mx = kNegInf;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, sm_m[w * ROWS + h]);
        float o = 0.f;
        float lse = kNegInf;
        if (mx != kNegInf) {
            float lsum = 0.f, osum = 0.f;
#pragma unroll
            for (int w = 0; w < kWarps; ++w) {
                const float c = exp2f(sm_m[w * ROWS + h] - mx);
                lsum += sm_l[w * ROWS + h] * c;
                osum += sm_acc[(w * ROWS + h) * D + d] * c;
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

template <typename T, int D, int GM>
__global__ void __launch_bounds__(kThreads) splitDecodeKernel(Args a) {
    constexpr int kLanesPerRow = D / 8;
    constexpr int kRowsPerWarp = 32 / kLanesPerRow;
    constexpr int kTile = tileRows<D>();
    constexpr int kWarpRows = kTile / kWarps;               // rows of a tile each warp computes
    constexpr int kSteps = kWarpRows / kRowsPerWarp;         // warp steps per tile
    const float kNegInf = -INFINITY;

    extern __shared__ __align__(16) unsigned char smem[];
    pdlWait();  // q and this step's K/V come from the kernels before (see launchKernel)
    pdlLaunchDependents();

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

    RowTileLoader<T, kTile, D, D, kThreads> loader{kb, vb, idx, bias, stride, row_begin, row_end, {}};
    loader.loadRows(0);
    auto issue = [&](int tile) {
        if (tile < tiles) loader.issue(tile, stageK(tile % kStages), stageV(tile % kStages), stageBias(tile % kStages));
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

    finishCta<T, D, GM>(a, sm_m, sm_l, sm_acc, gcount, b, q_head0, split);
}


// ---- Tensor-core variant -------------------------------------------------------------------
// Same grid and split scheme. Up to 16 query heads of a group form the rows of an mma.sync
// m16n8k16 A operand (zero rows pad a smaller group); each warp takes 16 keys of a 64-key tile:
// S = Q K^T in two n8 blocks, online softmax per row, then O += P V with P reused from the S
// accumulators as the A operand and V fragments loaded transposed by ldmatrix. K/V tiles stream
// through a 2- or 3-stage cp.async pipeline (tcStages); rows are padded by 16 bytes so fragment
// loads hit distinct banks. On Hopper, large reads take tcBulkDecodeKernel below (bulkByDefault).
constexpr int kTcTile = 64;
constexpr int kTcStages = 3;
constexpr int kTcRows = 16;

template <int D>
__host__ __device__ constexpr int tcRowElems() {
    return D + 8;
}
template <int D>
__host__ __device__ constexpr size_t tcStageBytes() {
    return 2 * kTcTile * tcRowElems<D>() * 2 + kTcTile * sizeof(float);
}

// ---- Pieces shared by the tensor-core kernels (fragment layouts of mma.sync m16n8k16) ----------

// What a tensor-core CTA works on: rows [row_begin, row_end) of KV head s (= batch * kv_heads + head)
// for query heads q_head0 .. q_head0 + gcount - 1 of batch b.
struct TcCta {
    int split, b, s, gcount, q_head0, row_begin, row_end;
};

__device__ __forceinline__ TcCta tcCta(const Args& a) {
    TcCta c;
    c.split = blockIdx.x;
    const int hkv = blockIdx.y / a.subgroups;
    const int h0 = (blockIdx.y % a.subgroups) * kTcRows;
    c.b = blockIdx.z;
    c.gcount = min(kTcRows, a.group - h0);
    c.s = c.b * a.kv_heads + hkv;
    c.q_head0 = hkv * a.group + h0;
    c.row_begin = c.split * a.chunk;
    c.row_end = min(a.lengths[c.s], c.row_begin + a.chunk);
    return c;
}

// Q as A fragments, one per 16 columns of D; rows >= gcount are zero.
template <typename T, int D>
__device__ __forceinline__ void tcLoadQ(const Args& a, const TcCta& c, uint32_t (&qa)[D / 16][4]) {
    const int g = (threadIdx.x & 31) >> 2;
    const int t4 = threadIdx.x & 3;
    const T* qb = static_cast<const T*>(a.q) + (static_cast<int64_t>(c.b) * a.q_heads + c.q_head0) * D;
    const uint32_t zero = 0;
#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks) {
        const int c0 = ks * 16 + t4 * 2;
        qa[ks][0] = g < c.gcount ? *reinterpret_cast<const uint32_t*>(qb + g * D + c0) : zero;
        qa[ks][1] = g + 8 < c.gcount ? *reinterpret_cast<const uint32_t*>(qb + (g + 8) * D + c0) : zero;
        qa[ks][2] = g < c.gcount ? *reinterpret_cast<const uint32_t*>(qb + g * D + c0 + 8) : zero;
        qa[ks][3] = g + 8 < c.gcount ? *reinterpret_cast<const uint32_t*>(qb + (g + 8) * D + c0 + 8) : zero;
    }
}

// Scores of NB blocks of 8 keys, kw + nb*8 .. of the tile in ks (rows of kRow elements): S = Q K^T,
// scaled to base 2, plus the per-key bias bs (null: none); keys >= valid are -inf. Element
// (row g or g + 8, key kw + nb*8 + t4*2 + e) is sc[nb][e] or sc[nb][2 + e].
template <typename T, int D, int NB>
__device__ __forceinline__ void tcScores(float (&sc)[NB][4], const uint32_t (&qa)[D / 16][4], const T* ks, int kw,
                                         const float* bs, int valid, float scale_log2) {
    constexpr int kRow = tcRowElems<D>();
    const int g = (threadIdx.x & 31) >> 2;
    const int t4 = threadIdx.x & 3;
    const T* tag = nullptr;
#pragma unroll
    for (int nb = 0; nb < NB; ++nb) {
        sc[nb][0] = sc[nb][1] = sc[nb][2] = sc[nb][3] = 0.f;
        const T* krow = ks + (kw + nb * 8 + g) * kRow + t4 * 2;
#pragma unroll
        for (int k16 = 0; k16 < D / 16; ++k16) {
            const uint32_t b0 = *reinterpret_cast<const uint32_t*>(krow + k16 * 16);
            const uint32_t b1 = *reinterpret_cast<const uint32_t*>(krow + k16 * 16 + 8);
            mma16816(sc[nb], qa[k16], b0, b1, tag);
        }
    }
#pragma unroll
    for (int nb = 0; nb < NB; ++nb) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
            const int key = kw + nb * 8 + t4 * 2 + e;
            const bool ok = key < valid;
            const float bv = bs ? bs[key] * kLog2e : 0.f;
            sc[nb][e] = ok ? sc[nb][e] * scale_log2 + bv : -INFINITY;
            sc[nb][2 + e] = ok ? sc[nb][2 + e] * scale_log2 + bv : -INFINITY;
        }
    }
}

// One online-softmax step over the scores of NB blocks of 8 keys: the rows' maxima m (across the
// quad), O and the partial sums l rescaled to them, and P = exp2(S - m) as NB/2 A fragments (one
// per 16 keys) with l += P.
template <typename T, int D, int NB>
__device__ __forceinline__ void tcSoftmax(const float (&sc)[NB][4], float (&m)[2], float (&l)[2], float (&o)[D / 8][4],
                                          uint32_t (&pa)[NB / 2][4]) {
    const float kNegInf = -INFINITY;
    const T* tag = nullptr;
    float tmax[2] = {kNegInf, kNegInf};
#pragma unroll
    for (int nb = 0; nb < NB; ++nb) {
        tmax[0] = fmaxf(tmax[0], fmaxf(sc[nb][0], sc[nb][1]));
        tmax[1] = fmaxf(tmax[1], fmaxf(sc[nb][2], sc[nb][3]));
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        tmax[r] = fmaxf(tmax[r], __shfl_xor_sync(0xffffffffu, tmax[r], 1));
        tmax[r] = fmaxf(tmax[r], __shfl_xor_sync(0xffffffffu, tmax[r], 2));
    }
    float corr[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        const float mn = fmaxf(m[r], tmax[r]);
        corr[r] = (mn == kNegInf || mn == m[r]) ? 1.f : exp2f(m[r] - mn);
        m[r] = mn;
        l[r] *= corr[r];
    }
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
        o[n][0] *= corr[0];
        o[n][1] *= corr[0];
        o[n][2] *= corr[1];
        o[n][3] *= corr[1];
    }
#pragma unroll
    for (int kk = 0; kk < NB / 2; ++kk) {
        float p[2][4];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int r = e >> 1;
                const float x = sc[2 * kk + h][e];
                p[h][e] = x == kNegInf ? 0.f : exp2f(x - m[r]);
                l[r] += p[h][e];
            }
        }
        pa[kk][0] = packPair(p[0][0], p[0][1], tag);
        pa[kk][1] = packPair(p[0][2], p[0][3], tag);
        pa[kk][2] = packPair(p[1][0], p[1][1], tag);
        pa[kk][3] = packPair(p[1][2], p[1][3], tag);
    }
}

// O += P V for 16 keys k0 .. k0 + 15 of the tile in vs. V fragments: matrices (keys 0-7 | 8-15) x
// (dims n*8 | n*8+8), transposed by ldmatrix.
template <typename T, int D>
__device__ __forceinline__ void tcAccumulatePV(float (&o)[D / 8][4], const uint32_t (&pa)[4], const T* vs, int k0) {
    const T* tag = nullptr;
    const int lane = threadIdx.x & 31;
    const int mi = lane >> 3;
    const int ri = lane & 7;
    const T* vrow = vs + (k0 + (mi & 1) * 8 + ri) * tcRowElems<D>() + (mi >> 1) * 8;
#pragma unroll
    for (int n = 0; n < D / 8; n += 2) {
        uint32_t vf[4];
        ldmatrixX4Trans(vf, vrow + n * 8);
        mma16816(o[n], pa, vf[0], vf[1], tag);
        mma16816(o[n + 1], pa, vf[2], vf[3], tag);
    }
}

// The last step: row sums across the quad, then the warps' partial results (m, l and O in the
// accumulator layout) through shared memory into finishCta.
template <typename T, int D>
__device__ __forceinline__ void tcFinish(const Args& a, const TcCta& c, unsigned char* smem, const float (&o)[D / 8][4],
                                         const float (&m)[2], float (&l)[2]) {
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int g = lane >> 2;
    const int t4 = lane & 3;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    }
    __syncthreads();
    float* sm_m = reinterpret_cast<float*>(smem);      // [kWarps][16]
    float* sm_l = sm_m + kWarps * kTcRows;             // [kWarps][16]
    float* sm_o = sm_l + kWarps * kTcRows;             // [kWarps][16][D]
    if (t4 == 0) {
        sm_m[warp * kTcRows + g] = m[0];
        sm_m[warp * kTcRows + g + 8] = m[1];
        sm_l[warp * kTcRows + g] = l[0];
        sm_l[warp * kTcRows + g + 8] = l[1];
    }
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
        const int col = n * 8 + t4 * 2;
        sm_o[(warp * kTcRows + g) * D + col] = o[n][0];
        sm_o[(warp * kTcRows + g) * D + col + 1] = o[n][1];
        sm_o[(warp * kTcRows + g + 8) * D + col] = o[n][2];
        sm_o[(warp * kTcRows + g + 8) * D + col + 1] = o[n][3];
    }
    __syncthreads();
    finishCta<T, D, kTcRows>(a, sm_m, sm_l, sm_o, c.gcount, c.b, c.q_head0, c.split);
}

// kStages_: pipeline depth, 2 or 3 (tcStages).
template <typename T, int D, int kStages_>
__global__ void __launch_bounds__(kThreads) tcDecodeKernel(Args a) {
    constexpr int kRow = tcRowElems<D>();
    extern __shared__ __align__(16) unsigned char smem[];
    pdlWait();  // q and this step's K/V come from the kernels before (see launchKernel)
    pdlLaunchDependents();

    const TcCta c = tcCta(a);
    uint32_t qa[D / 16][4];
    tcLoadQ<T, D>(a, c, qa);
    float o[D / 8][4] = {};
    float m[2] = {-INFINITY, -INFINITY};  // rows g and g + 8
    float l[2] = {0.f, 0.f};              // this thread's partial sums

    const T* kb = static_cast<const T*>(a.k_rows[c.s]);
    const T* vb = static_cast<const T*>(a.v_rows[c.s]);
    const int* idx = a.indices ? a.indices[c.s] : nullptr;
    const float* bias = a.bias ? a.bias[c.s] : nullptr;
    const int tiles = (max(0, c.row_end - c.row_begin) + kTcTile - 1) / kTcTile;

    auto stageK = [&](int st) { return reinterpret_cast<T*>(smem + st * tcStageBytes<D>()); };
    auto stageV = [&](int st) { return reinterpret_cast<T*>(smem + st * tcStageBytes<D>() + kTcTile * kRow * 2); };
    auto stageBias = [&](int st) {
        return reinterpret_cast<float*>(smem + st * tcStageBytes<D>() + 2 * kTcTile * kRow * 2);
    };

    RowTileLoader<T, kTcTile, D, kRow, kThreads> loader{kb, vb, idx, bias, a.row_stride, c.row_begin, c.row_end, {}};
    loader.loadRows(0);
    auto issue = [&](int tile) {
        if (tile < tiles) loader.issue(tile, stageK(tile % kStages_), stageV(tile % kStages_), stageBias(tile % kStages_));
        cpAsyncCommit();
    };
#pragma unroll
    for (int t = 0; t < kStages_ - 1; ++t) issue(t);

    const int kw = (threadIdx.x >> 5) * 16;  // this warp's first key in a tile
    for (int t = 0; t < tiles; ++t) {
        issue(t + kStages_ - 1);
        const int st = t % kStages_;
        cpAsyncWait<kStages_ - 1>();
        __syncthreads();
        float sc[2][4];
        tcScores<T, D, 2>(sc, qa, stageK(st), kw, bias ? stageBias(st) : nullptr, c.row_end - (c.row_begin + t * kTcTile),
                          a.scale_log2);
        uint32_t pa[1][4];
        tcSoftmax<T, D, 2>(sc, m, l, o, pa);
        tcAccumulatePV<T, D>(o, pa[0], stageV(st), kw);
        __syncthreads();
    }
    cpAsyncWait<0>();
    tcFinish<T, D>(a, c, smem, o, m, l);
}

// ---- Tensor-core variant with Hopper bulk copies (large reads, bulkByDefault) ---------------------
// Same fragments as tcDecodeKernel, but 128-key tiles with one K and one V buffer in
// FlashAttention-2's order: K(t+1) is copied while P V(t) runs and V(t+1) while S(t+1) = Q K(t+1)^T
// runs. Each of the 128 threads copies row i of K and of V (one 2*D-byte bulk copy each, with an L2
// evict-first hint: the rows are read once) completing on the matrix's mbarrier; the per-row bias,
// when there is one, comes by cp.async with K. Rows past the head's end are not copied: their
// scores are masked and their V rows zeroed. Each warp takes 32 keys of a tile. The CTA asks for
// kBulkSmem of shared memory so at most two run per SM (bulkSmemBytes).
// Against the 64-key, 2-stage bulk pipeline it replaced (three CTAs per SM), batch 1 at 128K in one
// process: 132.1 vs 137.5 us (4.07 vs 3.90 TB/s); batch 4 at 32K 132.4 vs 134.2. Alone, the 128-key
// tiles at three CTAs per SM were 1 % slower, the evict-first hint 1 % faster, and two CTAs per SM
// (a 256-CTA grid) 0.5 % faster with 64-key tiles and 2.5 % with 128-key tiles
// (tests/bench/results/kernel_bench-2026-11-29.md, "Session 7").
constexpr int kBulkTile = 128;
constexpr size_t kBulkSmem = 96 * 1024;  // > 1/3 of an SM's 228 KB: two CTAs per SM

template <int D>
__host__ __device__ constexpr size_t bulkSmemUsed() {
    return 2 * kBulkTile * tcRowElems<D>() * 2 + kBulkTile * sizeof(float) + 2 * sizeof(uint64_t);
}
template <int D>
constexpr size_t bulkSmemBytes() {
    static_assert(bulkSmemUsed<D>() <= kBulkSmem, "the bulk kernel's buffers fit its request");
    return kBulkSmem;
}

template <typename T, int D>
__global__ void __launch_bounds__(kThreads) tcBulkDecodeKernel(Args a) {
    constexpr int kRow = tcRowElems<D>();
    constexpr int kTile = kBulkTile;
    static_assert(kTile == kThreads, "one row of K and of V per thread");
    extern __shared__ __align__(16) unsigned char smem[];
    pdlWait();
    pdlLaunchDependents();

    const TcCta c = tcCta(a);
    uint32_t qa[D / 16][4];
    tcLoadQ<T, D>(a, c, qa);
    float o[D / 8][4] = {};
    float m[2] = {-INFINITY, -INFINITY};
    float l[2] = {0.f, 0.f};

    const T* kb = static_cast<const T*>(a.k_rows[c.s]);
    const T* vb = static_cast<const T*>(a.v_rows[c.s]);
    const int* idx = a.indices ? a.indices[c.s] : nullptr;
    const float* bias = a.bias ? a.bias[c.s] : nullptr;
    const int64_t stride = a.row_stride;
    const int tiles = (max(0, c.row_end - c.row_begin) + kTile - 1) / kTile;

    T* ksm = reinterpret_cast<T*>(smem);
    T* vsm = ksm + kTile * kRow;
    float* bsm = reinterpret_cast<float*>(vsm + kTile * kRow);
    uint64_t* bars = reinterpret_cast<uint64_t*>(bsm + kTile);  // [0]: K, [1]: V
    auto srcRow = [&](int tile) {  // this thread's storage row of `tile`, or -1 past the head's end
        const int i = c.row_begin + tile * kTile + threadIdx.x;
        return i < c.row_end ? (idx ? __ldg(idx + i) : i) : -1;
    };
    auto txBytes = [&](int tile) {
        return static_cast<uint32_t>(min(kTile, c.row_end - (c.row_begin + tile * kTile)) * D * sizeof(T));
    };
    auto issueK = [&](int tile, int r) {
        if (threadIdx.x == 0) mbarrierArriveExpectTx(&bars[0], txBytes(tile));
        if (r >= 0) bulkCopy(ksm + threadIdx.x * kRow, kb + int64_t(r) * stride, D * sizeof(T), &bars[0]);
        if (bias) cpAsync4(bsm + threadIdx.x, bias + max(r, 0), r >= 0);
        cpAsyncCommit();
    };
    auto issueV = [&](int tile, int r) {  // a row past the end is zeroed (P is 0 there, V must be finite)
        if (threadIdx.x == 0) mbarrierArriveExpectTx(&bars[1], txBytes(tile));
        if (r >= 0) {
            bulkCopy(vsm + threadIdx.x * kRow, vb + int64_t(r) * stride, D * sizeof(T), &bars[1]);
        } else {
#pragma unroll
            for (int k = 0; k < D / 8; ++k) *reinterpret_cast<uint4*>(vsm + threadIdx.x * kRow + k * 8) = make_uint4(0, 0, 0, 0);
        }
    };
    if (threadIdx.x == 0) {
        mbarrierInit(&bars[0], 1);
        mbarrierInit(&bars[1], 1);
        fenceMbarrierInit();
    }
    __syncthreads();
    int rnext = srcRow(0);
    if (tiles > 0) {
        issueK(0, rnext);
        issueV(0, rnext);
    }
    const int kw = (threadIdx.x >> 5) * 32;  // this warp's first key in a tile
    for (int t = 0; t < tiles; ++t) {
        rnext = srcRow(t + 1);
        mbarrierWait(&bars[0], t & 1);
        if (bias) {  // uniform: the bias came by cp.async, visible to all after a barrier
            cpAsyncWait<0>();
            __syncthreads();
        }
        float sc[4][4];
        tcScores<T, D, 4>(sc, qa, ksm, kw, bias ? bsm : nullptr, c.row_end - (c.row_begin + t * kTile), a.scale_log2);
        __syncthreads();  // K(t) and its bias are read: copy K(t + 1) while the rest runs
        if (t + 1 < tiles) issueK(t + 1, rnext);
        uint32_t pa[2][4];
        tcSoftmax<T, D, 4>(sc, m, l, o, pa);
        mbarrierWait(&bars[1], t & 1);
        tcAccumulatePV<T, D>(o, pa[0], vsm, kw);
        tcAccumulatePV<T, D>(o, pa[1], vsm, kw + 16);
        __syncthreads();  // V(t) is read
        if (t + 1 < tiles) issueV(t + 1, rnext);
    }
    cpAsyncWait<0>();
    tcFinish<T, D>(a, c, smem, o, m, l);
}

// One CTA per (sequence, query head). The splits are dealt round-robin to kThreads / (D/4) slices of
// threads, each thread of a slice taking 4 of the D columns, so a thread loads splits / slices
// partials (not all of them): with many splits (ragged kept subsets) the merge was a chain of
// latencies per split. Slices meet in shared memory.
template <typename T, int D>
__global__ void __launch_bounds__(kThreads) combineSplitsKernel(Args a) {
    constexpr int kCols = D / 4;                 // threads per slice (float4 columns)
    constexpr int kSlices = kThreads / kCols;
    __shared__ float sm_red[kWarps];
    __shared__ float sm_o[kSlices][D];
    __shared__ float sm_l[kSlices];
    pdlWait();
    pdlLaunchDependents();
    const int64_t row = blockIdx.x;
    const int splits = a.splits;
    const float* lse = a.ws_lse + row * splits;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    float mx = -INFINITY;
    for (int s = threadIdx.x; s < splits; s += kThreads) mx = fmaxf(mx, lse[s]);
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
    if (lane == 0) sm_red[warp] = mx;
    __syncthreads();
    mx = sm_red[0];
#pragma unroll
    for (int w = 1; w < kWarps; ++w) mx = fmaxf(mx, sm_red[w]);
    const int col = (threadIdx.x % kCols) * 4;
    const int slice = threadIdx.x / kCols;
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    float lsum = 0.f;
    if (mx != -INFINITY) {
        const float* part = a.ws_out + row * splits * D + col;
#pragma unroll 8  // independent loads in flight
        for (int s = slice; s < splits; s += kSlices) {
            const float w = exp2f(lse[s] - mx);
            const float4 x = *reinterpret_cast<const float4*>(part + static_cast<int64_t>(s) * D);
            lsum += w;
            acc.x += w * x.x;
            acc.y += w * x.y;
            acc.z += w * x.z;
            acc.w += w * x.w;
        }
    }
    sm_o[slice][col] = acc.x;
    sm_o[slice][col + 1] = acc.y;
    sm_o[slice][col + 2] = acc.z;
    sm_o[slice][col + 3] = acc.w;
    if (col == 0) sm_l[slice] = lsum;
    __syncthreads();
    for (int d = threadIdx.x; d < D; d += kThreads) {
        float o = 0.f, l = 0.f;
#pragma unroll
        for (int k = 0; k < kSlices; ++k) {
            o += sm_o[k][d];
            l += sm_l[k];
        }
        storeOne(static_cast<T*>(a.out) + row * D + d, l > 0.f ? o / l : 0.f);
    }
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

// The instantiation Pick<T, D>::kernel() for an element type and head dim (64 or 128).
template <template <typename, int> class Pick>
const void* byTypeAndDim(ElementType dtype, int head_dim) {
    if (dtype == ElementType::kBFloat16)
        return head_dim == 64 ? Pick<__nv_bfloat16, 64>::kernel() : Pick<__nv_bfloat16, 128>::kernel();
    return head_dim == 64 ? Pick<__half, 64>::kernel() : Pick<__half, 128>::kernel();
}

template <typename T, int D>
struct CombinePick {
    static const void* kernel() { return reinterpret_cast<const void*>(&combineSplitsKernel<T, D>); }
};
template <int kStages_>
struct TcPick {
    template <typename T, int D>
    struct Of {
        static const void* kernel() { return reinterpret_cast<const void*>(&tcDecodeKernel<T, D, kStages_>); }
    };
};
template <typename T, int D>
struct TcBulkPick {
    static const void* kernel() { return reinterpret_cast<const void*>(&tcBulkDecodeKernel<T, D>); }
};

const void* combineKernel(ElementType dtype, int head_dim) { return byTypeAndDim<CombinePick>(dtype, head_dim); }

// The kernel, its query heads per CTA and its dynamic shared memory for a shape and variant.
struct Choice {
    const void* kernel = nullptr;
    int heads_per_cta = 1;
    size_t smem = 0;
    int tile = 32;
};

const void* tcKernel(ElementType dtype, int head_dim, int stages) {
    return stages == 2 ? byTypeAndDim<TcPick<2>::Of>(dtype, head_dim) : byTypeAndDim<TcPick<kTcStages>::Of>(dtype, head_dim);
}

const void* tcBulkKernel(ElementType dtype, int head_dim) { return byTypeAndDim<TcBulkPick>(dtype, head_dim); }

// K/V bytes one call reads (K and V, 2 bytes an element).
double readBytes(const SparseDecodeParams& p) {
    const double rows = p.total_length > 0 ? double(p.total_length) : double(p.max_length) * p.batch * p.kv_heads;
    return rows * p.head_dim * 2.0 * 2.0;
}

// The default tensor-core path is tcBulkDecodeKernel on compute capability 9.0 once a call reads at
// least 256 MB (ATTNLAB_DECODE_BULK=0: never), the cp.async kernel below: measured in
// tests/bench/results/kernel_bench-2026-11-28.md (session 5), bulk rows are 2-4 % faster on large
// reads and level or slower on small ones (the engine's 1B decode: 1.042 vs 1.021 ms/token).
// Index lists (gathered rows) keep cp.async: at batch 1, 512K with a random quarter of the rows kept,
// 1.27x the copy floor against 1.32x with the bulk rows of session 6 (kernel_bench-2026-11-29.md).
bool bulkByDefault(const SparseDecodeParams& p) {
    static const bool enabled = !switchedOff("ATTNLAB_DECODE_BULK") && computeCapability90();
    return enabled && readBytes(p) >= 256e6 && !p.indices;
}

// Pipeline depth of the cp.async tensor-core kernel (reads below 256 MB on Hopper, every read with
// ATTNLAB_DECODE_BULK=0 or on other GPUs): 2 stages (three CTAs per SM at D = 128) once a call
// reads at least 512 MB of equal-length heads, where more resident CTAs pay; 3 (two per SM) below,
// where each CTA has few tiles and a deeper pipeline hides more of their latency, and for ragged
// heads (kept subsets: 2 stages measured 1.42x the floor at B=1 512K against 1.31x with 3).
// ATTNLAB_DECODE_STAGES=2 or 3 forces one.
int tcStages(const SparseDecodeParams& p) {
    static const int forced = [] {
        const char* env = std::getenv("ATTNLAB_DECODE_STAGES");
        const int v = env ? std::atoi(env) : 0;
        return v == 2 || v == 3 ? v : 0;
    }();
    if (forced) return forced;
    const bool uniform = p.total_length <= 0 || p.total_length == int64_t(p.max_length) * p.batch * p.kv_heads;
    return uniform && readBytes(p) >= 512e6 ? 2 : kTcStages;
}

Choice choose(const SparseDecodeParams& p) {
    Choice c;
    const int group = p.q_heads / p.kv_heads;
    if (p.variant == DecodeVariant::kCudaCores) {
        c.heads_per_cta = groupPerCta(group);
        c.kernel = splitKernel(p.dtype, p.head_dim, c.heads_per_cta);
        c.smem = p.head_dim == 64 ? kStages * stageBytes<64>() : kStages * stageBytes<128>();
        c.tile = p.head_dim == 64 ? tileRows<64>() : tileRows<128>();
    } else {
        const bool bulk = p.variant == DecodeVariant::kTensorCoresBulk ||
                          (p.variant == DecodeVariant::kTensorCores && bulkByDefault(p));
        c.heads_per_cta = kTcRows;
        if (bulk) {
            c.kernel = tcBulkKernel(p.dtype, p.head_dim);
            c.smem = p.head_dim == 64 ? bulkSmemBytes<64>() : bulkSmemBytes<128>();
            c.tile = kBulkTile;
        } else {
            const int stages = tcStages(p);
            c.kernel = tcKernel(p.dtype, p.head_dim, stages);
            c.smem = stages * (p.head_dim == 64 ? tcStageBytes<64>() : tcStageBytes<128>());
            c.tile = kTcTile;
        }
    }
    return c;
}

// Resident CTAs per SM times SMs: one full wave.
int ctasPerWave(const void* kernel, size_t smem) {
    allowDynamicSmem(kernel, smem);
    int device = 0;
    cudaGetDevice(&device);
    int sms = 0;
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    int per_sm = 0;
    cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, smem);
    return std::max(1, sms) * std::max(1, per_sm);
}

constexpr int kDefaultWaves = 1;

struct Split {
    int splits = 1;
    int chunk = 1;
};

// Rows per CTA from the total work (sum of lengths), so ragged heads still fill one wave; the split
// count is then what the longest head needs.
Split chooseSplit(const SparseDecodeParams& p) {
    Split out;
    const int max_len = std::max(1, p.max_length);
    const Choice choice = choose(p);
    const int tile = choice.tile;
    if (p.splits > 0) {
        out.splits = p.splits;
        out.chunk = (max_len + p.splits - 1) / p.splits;
        return out;
    }
    const int group = p.q_heads / p.kv_heads;
    const int subgroups = (group + choice.heads_per_cta - 1) / choice.heads_per_cta;
    const double total = p.total_length > 0 ? double(p.total_length) : double(max_len) * p.batch * p.kv_heads;
    const int wave = ctasPerWave(choice.kernel, choice.smem);
    const int ctas = p.batch * p.kv_heads * subgroups;
    const bool uniform = p.total_length <= 0 || p.total_length == int64_t(max_len) * p.batch * p.kv_heads;
    int c = 0;
    if (uniform) {
        // Equal heads: as many splits as fill `waves` full waves (a partial last wave would be a tail).
        const int waves = p.waves > 0 ? p.waves : kDefaultWaves;
        const int splits =
            std::max(1, std::min(waves * wave / std::max(1, ctas), (max_len + 2 * tile - 1) / (2 * tile)));
        c = (max_len + splits - 1) / splits;
    } else {
        // sum over heads of ceil(len / c) <= total / c + heads: leave one CTA per head of the wave
        // for the rounding, so ragged heads still fit in one wave (a partial second wave is a tail).
        const int room = wave > 2 * ctas ? wave - ctas : wave;
        c = static_cast<int>(std::ceil(total * subgroups / std::max(1, room)));
        c = std::max(c, 2 * tile);  // at least two tiles per CTA
    }
    c = (c + tile - 1) / tile * tile;
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

    if (p.variant == DecodeVariant::kTensorCoresBulk && !computeCapability90())
        return "sparse decode: bulk row copies need a compute capability 9.0 GPU";
    const int group = p.q_heads / p.kv_heads;
    const Choice choice = choose(p);
    const int gm = choice.heads_per_cta;
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
    allowDynamicSmem(choice.kernel, choice.smem);
    cudaError_t err = launchKernel(choice.kernel, grid, dim3(kThreads), args, choice.smem, stream);
    if (err == cudaSuccess && splits > 1) {
        err = launchKernel(combineKernel(p.dtype, p.head_dim), dim3(p.batch * p.q_heads), dim3(kThreads), args, 0,
                           stream);
    }
    if (err != cudaSuccess) return std::string("sparse decode: launch failed: ") + cudaGetErrorString(err);
    return {};
}

}  // namespace attnlab::kernels
