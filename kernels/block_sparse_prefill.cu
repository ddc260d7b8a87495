// Block-sparse causal prefill attention (see block_sparse_prefill.h).
//
// Grid: (query tile, query head, batch). A CTA of 4 warps owns 64 query rows, 16 per warp, kept
// as mma.sync A fragments in registers. It walks its row's list of 64-key tiles; K and V tiles
// stream through a 2-stage cp.async pipeline into shared memory rows padded by 16 bytes (fragment
// loads on distinct banks). Per tile each warp computes S = Q K^T (16 x 64), masks keys past the
// prompt and, on diagonal tiles, keys after the query; updates its rows' online softmax (base 2)
// and accumulates O += P V with P reused from the S accumulators as the A operand and V fragments
// transposed by ldmatrix. Rows are normalised at the end.
#include "kernels/block_sparse_prefill.h"

#include <cuda_runtime.h>

#include <cmath>

#include "kernels/device_helpers.cuh"

namespace attnlab::kernels {

namespace {

constexpr int kTile = kPrefillTile;
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kStages = 2;
constexpr float kLog2e = 1.4426950408889634f;

struct PrefillArgs {
    const void* q;
    const void* k;
    const void* v;
    void* out;
    const int* offsets;
    const int* indices;
    int q_heads, kv_heads, tokens, q_tiles;
    float scale_log2;
    bool causal;
};

template <int D>
__host__ __device__ constexpr int rowElems() {
    return D + 8;
}
template <int D>
__host__ __device__ constexpr size_t stageBytes() {
    return 2 * kTile * rowElems<D>() * 2;
}

template <typename T, int D>
__global__ void __launch_bounds__(kThreads) blockSparsePrefillKernel(PrefillArgs a) {
    constexpr int kRow = rowElems<D>();
    constexpr int kChunksPerRow = D / 8;
    constexpr int kCopies = kTile * kChunksPerRow / kThreads;
    constexpr int kNbO = D / 8;    // n8 blocks of the output
    constexpr int kNbS = kTile / 8;  // n8 blocks of the scores
    const float kNegInf = -INFINITY;
    const T* tag = nullptr;

    extern __shared__ __align__(16) unsigned char smem[];

    const int qt = a.q_tiles - 1 - static_cast<int>(blockIdx.x);  // longest (causal) rows first
    const int h = blockIdx.y;
    const int b = blockIdx.z;
    const int group = a.q_heads / a.kv_heads;
    const int hk = h / group;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int g = lane >> 2;
    const int t4 = lane & 3;
    const int n = a.tokens;
    const int row0 = qt * kTile + warp * 16 + g;  // this thread's rows: row0 and row0 + 8

    const T* qb = static_cast<const T*>(a.q) + (static_cast<int64_t>(b) * a.q_heads + h) * n * D;
    const T* kb = static_cast<const T*>(a.k) + (static_cast<int64_t>(b) * a.kv_heads + hk) * n * D;
    const T* vb = static_cast<const T*>(a.v) + (static_cast<int64_t>(b) * a.kv_heads + hk) * n * D;
    T* ob = static_cast<T*>(a.out) + (static_cast<int64_t>(b) * a.q_heads + h) * n * D;

    uint32_t qa[D / 16][4];
#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks) {
        const int c0 = ks * 16 + t4 * 2;
        const bool r0 = row0 < n, r1 = row0 + 8 < n;
        qa[ks][0] = r0 ? *reinterpret_cast<const uint32_t*>(qb + int64_t(row0) * D + c0) : 0u;
        qa[ks][1] = r1 ? *reinterpret_cast<const uint32_t*>(qb + int64_t(row0 + 8) * D + c0) : 0u;
        qa[ks][2] = r0 ? *reinterpret_cast<const uint32_t*>(qb + int64_t(row0) * D + c0 + 8) : 0u;
        qa[ks][3] = r1 ? *reinterpret_cast<const uint32_t*>(qb + int64_t(row0 + 8) * D + c0 + 8) : 0u;
    }
    float o[kNbO][4];
#pragma unroll
    for (int i = 0; i < kNbO; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
    float m[2] = {kNegInf, kNegInf};
    float l[2] = {0.f, 0.f};

    const int list = (b * a.q_heads + h) * a.q_tiles + qt;
    const int first = a.offsets[list];
    const int count = a.offsets[list + 1] - first;
    const int* tiles = a.indices + first;

    auto stageK = [&](int st) { return reinterpret_cast<T*>(smem + st * stageBytes<D>()); };
    auto stageV = [&](int st) { return reinterpret_cast<T*>(smem + st * stageBytes<D>() + kTile * kRow * 2); };
    auto issue = [&](int j) {
        if (j < count) {
            const int k0 = tiles[j] * kTile;
            T* ks = stageK(j % kStages);
            T* vs = stageV(j % kStages);
#pragma unroll
            for (int c = 0; c < kCopies; ++c) {
                const int chunk = threadIdx.x + c * kThreads;
                const int r = chunk / kChunksPerRow;
                const int cc = (chunk % kChunksPerRow) * 8;
                const bool valid = k0 + r < n;
                const int64_t off = int64_t(valid ? k0 + r : 0) * D + cc;
                cpAsync16(ks + r * kRow + cc, kb + off, valid);
                cpAsync16(vs + r * kRow + cc, vb + off, valid);
            }
        }
        cpAsyncCommit();
    };

    issue(0);
    for (int j = 0; j < count; ++j) {
        issue(j + 1);
        cpAsyncWait<1>();
        __syncthreads();
        const T* ks = stageK(j % kStages);
        const T* vs = stageV(j % kStages);
        const int k0 = tiles[j] * kTile;

        float sc[kNbS][4];
#pragma unroll
        for (int nb = 0; nb < kNbS; ++nb) {
            sc[nb][0] = sc[nb][1] = sc[nb][2] = sc[nb][3] = 0.f;
            const T* krow = ks + (nb * 8 + g) * kRow + t4 * 2;
#pragma unroll
            for (int k16 = 0; k16 < D / 16; ++k16) {
                const uint32_t b0 = *reinterpret_cast<const uint32_t*>(krow + k16 * 16);
                const uint32_t b1 = *reinterpret_cast<const uint32_t*>(krow + k16 * 16 + 8);
                mma16816(sc[nb], qa[k16], b0, b1, tag);
            }
        }
        // Keys past the prompt, and after the query on tiles that reach the diagonal, are masked.
        const bool edge = k0 + kTile > n || (a.causal && k0 + kTile - 1 > qt * kTile);
        float tmax[2] = {kNegInf, kNegInf};
#pragma unroll
        for (int nb = 0; nb < kNbS; ++nb) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int r = e >> 1;
                float x = sc[nb][e] * a.scale_log2;
                if (edge) {
                    const int key = k0 + nb * 8 + t4 * 2 + (e & 1);
                    const int row = row0 + r * 8;
                    if (key >= n || (a.causal && key > row)) x = kNegInf;
                }
                sc[nb][e] = x;
                tmax[r] = fmaxf(tmax[r], x);
            }
        }
        float corr[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            tmax[r] = fmaxf(tmax[r], __shfl_xor_sync(0xffffffffu, tmax[r], 1));
            tmax[r] = fmaxf(tmax[r], __shfl_xor_sync(0xffffffffu, tmax[r], 2));
            const float mn = fmaxf(m[r], tmax[r]);
            corr[r] = (mn == kNegInf || mn == m[r]) ? 1.f : exp2f(m[r] - mn);
            m[r] = mn;
            l[r] *= corr[r];
        }
#pragma unroll
        for (int i = 0; i < kNbO; ++i) {
            o[i][0] *= corr[0];
            o[i][1] *= corr[0];
            o[i][2] *= corr[1];
            o[i][3] *= corr[1];
        }
        uint32_t pa[kTile / 16][4];
#pragma unroll
        for (int nb = 0; nb < kNbS; ++nb) {
            float p[4];
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int r = e >> 1;
                p[e] = sc[nb][e] == kNegInf ? 0.f : exp2f(sc[nb][e] - m[r]);
                l[r] += p[e];
            }
            pa[nb / 2][(nb & 1) * 2 + 0] = packPair(p[0], p[1], tag);
            pa[nb / 2][(nb & 1) * 2 + 1] = packPair(p[2], p[3], tag);
        }
        const int mi = lane >> 3;
        const int ri = lane & 7;
#pragma unroll
        for (int k16 = 0; k16 < kTile / 16; ++k16) {
            const T* vrow = vs + (k16 * 16 + (mi & 1) * 8 + ri) * kRow + (mi >> 1) * 8;
#pragma unroll
            for (int i = 0; i < kNbO; i += 2) {
                uint32_t vf[4];
                ldmatrixX4Trans(vf, vrow + i * 8);
                mma16816(o[i], pa[k16], vf[0], vf[1], tag);
                mma16816(o[i + 1], pa[k16], vf[2], vf[3], tag);
            }
        }
        __syncthreads();
    }
    cpAsyncWait<0>();

#pragma unroll
    for (int r = 0; r < 2; ++r) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    }
    const float inv0 = l[0] > 0.f ? 1.f / l[0] : 0.f;
    const float inv1 = l[1] > 0.f ? 1.f / l[1] : 0.f;
#pragma unroll
    for (int i = 0; i < kNbO; ++i) {
        const int col = i * 8 + t4 * 2;
        if (row0 < n) *reinterpret_cast<uint32_t*>(ob + int64_t(row0) * D + col) = packPair(o[i][0] * inv0, o[i][1] * inv0, tag);
        if (row0 + 8 < n)
            *reinterpret_cast<uint32_t*>(ob + int64_t(row0 + 8) * D + col) = packPair(o[i][2] * inv1, o[i][3] * inv1, tag);
    }
}

const void* prefillKernel(ElementType dtype, int head_dim) {
    if (dtype == ElementType::kBFloat16)
        return head_dim == 64 ? reinterpret_cast<const void*>(&blockSparsePrefillKernel<__nv_bfloat16, 64>)
                              : reinterpret_cast<const void*>(&blockSparsePrefillKernel<__nv_bfloat16, 128>);
    return head_dim == 64 ? reinterpret_cast<const void*>(&blockSparsePrefillKernel<__half, 64>)
                          : reinterpret_cast<const void*>(&blockSparsePrefillKernel<__half, 128>);
}

}  // namespace

std::string blockSparsePrefill(const BlockSparsePrefillParams& p) {
    if (p.batch <= 0 || p.q_heads <= 0 || p.kv_heads <= 0 || p.q_heads % p.kv_heads != 0)
        return "block-sparse prefill: batch and heads must be positive, q_heads a multiple of kv_heads";
    if (p.head_dim != 64 && p.head_dim != 128) return "block-sparse prefill: head_dim must be 64 or 128";
    if (p.tokens <= 0) return "block-sparse prefill: no tokens";
    if (!p.q || !p.k || !p.v || !p.out || !p.tile_offsets || !p.tile_indices)
        return "block-sparse prefill: q, k, v, out and the tile lists are required";
    PrefillArgs a{};
    a.q = p.q;
    a.k = p.k;
    a.v = p.v;
    a.out = p.out;
    a.offsets = p.tile_offsets;
    a.indices = p.tile_indices;
    a.q_heads = p.q_heads;
    a.kv_heads = p.kv_heads;
    a.tokens = p.tokens;
    a.q_tiles = (p.tokens + kTile - 1) / kTile;
    a.scale_log2 = p.scale * kLog2e;
    a.causal = p.causal;
    const void* kernel = prefillKernel(p.dtype, p.head_dim);
    const size_t smem = kStages * (p.head_dim == 64 ? stageBytes<64>() : stageBytes<128>());
    allowDynamicSmem(kernel, smem);
    void* args[] = {&a};
    const dim3 grid(a.q_tiles, p.q_heads, p.batch);
    const cudaError_t err =
        cudaLaunchKernel(kernel, grid, dim3(kThreads), args, smem, static_cast<cudaStream_t>(p.stream));
    if (err != cudaSuccess) return std::string("block-sparse prefill: launch failed: ") + cudaGetErrorString(err);
    return {};
}

}  // namespace attnlab::kernels
