// Block-sparse causal prefill attention (see block_sparse_prefill.h).
//
// Grid: (query tile, query head, batch). A CTA of 4 warps owns 64 query rows, 16 per warp, kept as
// tensor-core A fragments in registers. It walks its row's list of 64-key tiles; K and V tiles
// stream through a cp.async pipeline into shared memory. Per tile the CTA computes S = Q K^T
// (64 x 64), masks keys past the prompt and, on diagonal tiles, keys after the query; updates its
// rows' online softmax (base 2) and accumulates O += P V with P reused from the S accumulators as
// the A operand. Rows are normalised at the end. Two kernels share that outline: one on mma.sync
// (any sm_80+ GPU) and one on Hopper's wgmma (sm_90a builds on compute capability 9.0 GPUs), which
// the host picks by default where it can run.
#include "kernels/block_sparse_prefill.h"

#include <cuda_runtime.h>

#include <cmath>

#include "kernels/device_helpers.cuh"
#include "kernels/wgmma.cuh"

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

// One 64-key tile of the online softmax for this thread's two rows (row0, row0 + 8): scales the
// scores s (kNbS n8 blocks, the mma accumulator layout: block nb at s[4nb..4nb+3]) to base 2,
// masks keys past the prompt and, on tiles that reach the diagonal, keys after the query, updates
// the running max m and sum l, rescales the output accumulators o (kNbO n8 blocks) and packs the
// probabilities into pa, the A fragments of the P V product (16 keys each).
template <typename T, int kNbS, int kNbO>
__device__ __forceinline__ void softmaxTile(float (&s)[kNbS * 4], float (&o)[kNbO * 4], float (&m)[2], float (&l)[2],
                                            uint32_t (&pa)[kNbS / 2][4], const PrefillArgs& a, int k0, int qt,
                                            int row0, int t4) {
    const float kNegInf = -INFINITY;
    const T* tag = nullptr;
    const int n = a.tokens;
    const bool edge = k0 + kTile > n || (a.causal && k0 + kTile - 1 > qt * kTile);
    float tmax[2] = {kNegInf, kNegInf};
#pragma unroll
    for (int nb = 0; nb < kNbS; ++nb) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const int r = e >> 1;
            float x = s[nb * 4 + e] * a.scale_log2;
            if (edge) {
                const int key = k0 + nb * 8 + t4 * 2 + (e & 1);
                const int row = row0 + r * 8;
                if (key >= n || (a.causal && key > row)) x = kNegInf;
            }
            s[nb * 4 + e] = x;
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
        o[i * 4 + 0] *= corr[0];
        o[i * 4 + 1] *= corr[0];
        o[i * 4 + 2] *= corr[1];
        o[i * 4 + 3] *= corr[1];
    }
#pragma unroll
    for (int nb = 0; nb < kNbS; ++nb) {
        float p[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const int r = e >> 1;
            p[e] = s[nb * 4 + e] == kNegInf ? 0.f : exp2f(s[nb * 4 + e] - m[r]);
            l[r] += p[e];
        }
        pa[nb / 2][(nb & 1) * 2 + 0] = packPair(p[0], p[1], tag);
        pa[nb / 2][(nb & 1) * 2 + 1] = packPair(p[2], p[3], tag);
    }
}

// Loads this thread's Q A-fragments (rows row0 and row0 + 8; zeros past the prompt).
template <typename T, int D>
__device__ __forceinline__ void loadQFragments(uint32_t (&qa)[D / 16][4], const T* qb, int row0, int t4, int n) {
#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks) {
        const int c0 = ks * 16 + t4 * 2;
        const bool r0 = row0 < n, r1 = row0 + 8 < n;
        qa[ks][0] = r0 ? *reinterpret_cast<const uint32_t*>(qb + int64_t(row0) * D + c0) : 0u;
        qa[ks][1] = r1 ? *reinterpret_cast<const uint32_t*>(qb + int64_t(row0 + 8) * D + c0) : 0u;
        qa[ks][2] = r0 ? *reinterpret_cast<const uint32_t*>(qb + int64_t(row0) * D + c0 + 8) : 0u;
        qa[ks][3] = r1 ? *reinterpret_cast<const uint32_t*>(qb + int64_t(row0 + 8) * D + c0 + 8) : 0u;
    }
}

// Normalises this thread's two output rows by their softmax sums and stores them.
template <typename T, int D>
__device__ __forceinline__ void storeRows(const float (&o)[D / 2], float (&l)[2], T* ob, int row0, int t4, int n) {
    const T* tag = nullptr;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    }
    const float inv0 = l[0] > 0.f ? 1.f / l[0] : 0.f;
    const float inv1 = l[1] > 0.f ? 1.f / l[1] : 0.f;
#pragma unroll
    for (int i = 0; i < D / 8; ++i) {
        const int col = i * 8 + t4 * 2;
        if (row0 < n)
            *reinterpret_cast<uint32_t*>(ob + int64_t(row0) * D + col) = packPair(o[i * 4] * inv0, o[i * 4 + 1] * inv0, tag);
        if (row0 + 8 < n)
            *reinterpret_cast<uint32_t*>(ob + int64_t(row0 + 8) * D + col) =
                packPair(o[i * 4 + 2] * inv1, o[i * 4 + 3] * inv1, tag);
    }
}

// This CTA's work: query tile, head, K/V/Q/O base pointers and its list of key tiles.
template <typename T, int D>
struct CtaWork {
    int qt, count;
    const int* tiles;
    const T *qb, *kb, *vb;
    T* ob;
    __device__ __forceinline__ CtaWork(const PrefillArgs& a) {
        qt = a.q_tiles - 1 - static_cast<int>(blockIdx.x);  // longest (causal) rows first
        const int h = blockIdx.y, b = blockIdx.z;
        const int hk = h / (a.q_heads / a.kv_heads);
        const int64_t n = a.tokens;
        qb = static_cast<const T*>(a.q) + (static_cast<int64_t>(b) * a.q_heads + h) * n * D;
        kb = static_cast<const T*>(a.k) + (static_cast<int64_t>(b) * a.kv_heads + hk) * n * D;
        vb = static_cast<const T*>(a.v) + (static_cast<int64_t>(b) * a.kv_heads + hk) * n * D;
        ob = static_cast<T*>(a.out) + (static_cast<int64_t>(b) * a.q_heads + h) * n * D;
        const int list = (b * a.q_heads + h) * a.q_tiles + qt;
        const int first = a.offsets[list];
        count = a.offsets[list + 1] - first;
        tiles = a.indices + first;
    }
};

// mma.sync kernel (any sm_80+ GPU): 4 warps, 16 query rows each, Q in registers, K/V tiles padded
// by 16 bytes per row in a 2-stage cp.async pipeline, K fragments by 32-bit shared loads, V by
// ldmatrix.trans.
template <typename T, int D>
__global__ void __launch_bounds__(kThreads) blockSparsePrefillKernel(PrefillArgs a) {
    constexpr int kRow = rowElems<D>();
    constexpr int kChunksPerRow = D / 8;
    constexpr int kCopies = kTile * kChunksPerRow / kThreads;
    constexpr int kNbO = D / 8;    // n8 blocks of the output
    constexpr int kNbS = kTile / 8;  // n8 blocks of the scores
    const T* tag = nullptr;

    extern __shared__ __align__(16) unsigned char smem[];
    const CtaWork<T, D> w(a);
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int g = lane >> 2;
    const int t4 = lane & 3;
    const int n = a.tokens;
    const int row0 = w.qt * kTile + warp * 16 + g;  // this thread's rows: row0 and row0 + 8

    uint32_t qa[D / 16][4];
    loadQFragments<T, D>(qa, w.qb, row0, t4, n);
    float o[kNbO * 4];
#pragma unroll
    for (int i = 0; i < kNbO * 4; ++i) o[i] = 0.f;
    float m[2] = {-INFINITY, -INFINITY};
    float l[2] = {0.f, 0.f};

    auto stageK = [&](int st) { return reinterpret_cast<T*>(smem + st * stageBytes<D>()); };
    auto stageV = [&](int st) { return reinterpret_cast<T*>(smem + st * stageBytes<D>() + kTile * kRow * 2); };
    auto issue = [&](int j) {
        if (j < w.count) {
            const int k0 = w.tiles[j] * kTile;
            T* ks = stageK(j % kStages);
            T* vs = stageV(j % kStages);
#pragma unroll
            for (int c = 0; c < kCopies; ++c) {
                const int chunk = threadIdx.x + c * kThreads;
                const int r = chunk / kChunksPerRow;
                const int cc = (chunk % kChunksPerRow) * 8;
                const bool valid = k0 + r < n;
                const int64_t off = int64_t(valid ? k0 + r : 0) * D + cc;
                cpAsync16(ks + r * kRow + cc, w.kb + off, valid);
                cpAsync16(vs + r * kRow + cc, w.vb + off, valid);
            }
        }
        cpAsyncCommit();
    };

    issue(0);
    for (int j = 0; j < w.count; ++j) {
        issue(j + 1);
        cpAsyncWait<1>();
        __syncthreads();
        const T* ks = stageK(j % kStages);
        const T* vs = stageV(j % kStages);
        const int k0 = w.tiles[j] * kTile;

        float sc[kNbS * 4];
#pragma unroll
        for (int nb = 0; nb < kNbS; ++nb) {
            float(&c4)[4] = *reinterpret_cast<float(*)[4]>(&sc[nb * 4]);
            c4[0] = c4[1] = c4[2] = c4[3] = 0.f;
            const T* krow = ks + (nb * 8 + g) * kRow + t4 * 2;
#pragma unroll
            for (int k16 = 0; k16 < D / 16; ++k16) {
                const uint32_t b0 = *reinterpret_cast<const uint32_t*>(krow + k16 * 16);
                const uint32_t b1 = *reinterpret_cast<const uint32_t*>(krow + k16 * 16 + 8);
                mma16816(c4, qa[k16], b0, b1, tag);
            }
        }
        uint32_t pa[kTile / 16][4];
        softmaxTile<T, kNbS, kNbO>(sc, o, m, l, pa, a, k0, w.qt, row0, t4);
        const int mi = lane >> 3;
        const int ri = lane & 7;
#pragma unroll
        for (int k16 = 0; k16 < kTile / 16; ++k16) {
            const T* vrow = vs + (k16 * 16 + (mi & 1) * 8 + ri) * kRow + (mi >> 1) * 8;
#pragma unroll
            for (int i = 0; i < kNbO; i += 2) {
                uint32_t vf[4];
                ldmatrixX4Trans(vf, vrow + i * 8);
                mma16816(*reinterpret_cast<float(*)[4]>(&o[i * 4]), pa[k16], vf[0], vf[1], tag);
                mma16816(*reinterpret_cast<float(*)[4]>(&o[(i + 1) * 4]), pa[k16], vf[2], vf[3], tag);
            }
        }
        __syncthreads();
    }
    cpAsyncWait<0>();
    storeRows<T, D>(o, l, w.ob, row0, t4, n);
}

// wgmma kernel (sm_90a): one warpgroup of 4 warps owns 64 query rows (16 per warp, Q in registers
// as wgmma A fragments). K and V tiles stream through a kWgStages-deep cp.async pipeline into
// 128-byte-swizzled shared memory (kernels/wgmma.cuh); per tile S = Q K^T is 8 (D=128) m64n64k16
// steps with K as a K-major B operand, then the online softmax in registers, then O += P V with P
// straight from the S accumulators as A fragments and V as an MN-major B operand (m64nDk16). Two
// CTAs share a multiprocessor, so one's softmax overlaps the other's matrix work.
constexpr int kWgStages = 2;
template <int D>
__host__ __device__ constexpr int wgTileBytes() {
    return kTile * D * 2;
}
template <int D>
__host__ __device__ constexpr size_t wgSmemBytes() {
    return size_t(kWgStages) * 2 * wgTileBytes<D>() + 1024;  // + alignment slack
}

template <typename T, int D>
__global__ void __launch_bounds__(kThreads, 2) blockSparsePrefillWgmmaKernel(PrefillArgs a) {
#ifdef ATTNLAB_WGMMA_AVAILABLE
    constexpr int kChunksPerRow = D / 8;
    constexpr int kCopies = kTile * kChunksPerRow / kThreads;
    constexpr int kNbO = D / 8;
    constexpr int kNbS = kTile / 8;
    constexpr int kTileB = wgTileBytes<D>();
    constexpr uint32_t kPlaneBytes = kTile * 128;  // one 64-column plane of a tile
    const T* tag = nullptr;

    extern __shared__ __align__(1024) unsigned char smem_raw[];
    unsigned char* smem = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
    const CtaWork<T, D> w(a);
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int t4 = lane & 3;
    const int n = a.tokens;
    const int row0 = w.qt * kTile + warp * 16 + (lane >> 2);

    uint32_t qa[D / 16][4];
    loadQFragments<T, D>(qa, w.qb, row0, t4, n);
    float o[kNbO * 4];
#pragma unroll
    for (int i = 0; i < kNbO * 4; ++i) o[i] = 0.f;
    float m[2] = {-INFINITY, -INFINITY};
    float l[2] = {0.f, 0.f};

    auto stageK = [&](int st) { return smem + st * 2 * kTileB; };
    auto stageV = [&](int st) { return smem + st * 2 * kTileB + kTileB; };
    auto issue = [&](int j) {
        if (j < w.count) {
            const int k0 = w.tiles[j] * kTile;
            unsigned char* ks = stageK(j % kWgStages);
            unsigned char* vs = stageV(j % kWgStages);
#pragma unroll
            for (int c = 0; c < kCopies; ++c) {
                const int chunk = threadIdx.x + c * kThreads;
                const int r = chunk / kChunksPerRow;
                const int cc = chunk % kChunksPerRow;
                const bool valid = k0 + r < n;
                const int64_t off = int64_t(valid ? k0 + r : 0) * D + cc * 8;
                const int dst = swizzledOffset(r, cc, kTile);
                cpAsync16(ks + dst, w.kb + off, valid);
                cpAsync16(vs + dst, w.vb + off, valid);
            }
        }
        cpAsyncCommit();
    };

#pragma unroll
    for (int s = 0; s < kWgStages - 1; ++s) issue(s);
    for (int j = 0; j < w.count; ++j) {
        issue(j + kWgStages - 1);
        cpAsyncWait<kWgStages - 1>();
        fenceProxyAsync();
        __syncthreads();
        const unsigned char* ks = stageK(j % kWgStages);
        const unsigned char* vs = stageV(j % kWgStages);
        const int k0 = w.tiles[j] * kTile;

        float sc[kNbS * 4];
        wgmmaFence();
#pragma unroll
        for (int k16 = 0; k16 < D / 16; ++k16) {
            const uint64_t desc = smemDescriptor(ks + (k16 >> 2) * kPlaneBytes + (k16 & 3) * 32, 16, 1024);
            wgmmaRS<0>(sc, qa[k16], desc, k16 > 0, tag);
        }
        wgmmaCommit();
        wgmmaWait<0>();
        pinRegisters(sc);

        uint32_t pa[kTile / 16][4];
        softmaxTile<T, kNbS, kNbO>(sc, o, m, l, pa, a, k0, w.qt, row0, t4);

        wgmmaFence();
#pragma unroll
        for (int k16 = 0; k16 < kTile / 16; ++k16) {
            const uint64_t desc = smemDescriptor(vs + k16 * 16 * 128, kPlaneBytes, 1024);
            wgmmaRS<1>(o, pa[k16], desc, 1, tag);
        }
        wgmmaCommit();
        wgmmaWait<0>();
        pinRegisters(o);
        pinRegisters(pa);
        __syncthreads();
    }
    cpAsyncWait<0>();
    storeRows<T, D>(o, l, w.ob, row0, t4, n);
#endif
}

const void* prefillKernel(ElementType dtype, int head_dim, bool wgmma) {
    const bool bf16 = dtype == ElementType::kBFloat16, d64 = head_dim == 64;
    if (wgmma) {
        if (bf16)
            return d64 ? reinterpret_cast<const void*>(&blockSparsePrefillWgmmaKernel<__nv_bfloat16, 64>)
                       : reinterpret_cast<const void*>(&blockSparsePrefillWgmmaKernel<__nv_bfloat16, 128>);
        return d64 ? reinterpret_cast<const void*>(&blockSparsePrefillWgmmaKernel<__half, 64>)
                   : reinterpret_cast<const void*>(&blockSparsePrefillWgmmaKernel<__half, 128>);
    }
    if (bf16)
        return d64 ? reinterpret_cast<const void*>(&blockSparsePrefillKernel<__nv_bfloat16, 64>)
                   : reinterpret_cast<const void*>(&blockSparsePrefillKernel<__nv_bfloat16, 128>);
    return d64 ? reinterpret_cast<const void*>(&blockSparsePrefillKernel<__half, 64>)
               : reinterpret_cast<const void*>(&blockSparsePrefillKernel<__half, 128>);
}

__global__ void wgmmaProbeKernel(int* built) {
#ifdef ATTNLAB_WGMMA_AVAILABLE
    *built = 1;
#else
    *built = 0;
#endif
}

// The wgmma kernel exists only where this file was compiled for sm_90a and runs only on compute
// capability 9.0: asked once per process (a one-int probe kernel says which code the GPU runs).
bool wgmmaRunnable() {
    static const bool runnable = [] {
        if (!computeCapability90()) return false;
        int* flag = nullptr;
        if (cudaMalloc(&flag, sizeof(int)) != cudaSuccess) return false;
        int built = 0;
        wgmmaProbeKernel<<<1, 1>>>(flag);
        const bool ok = cudaMemcpy(&built, flag, sizeof(int), cudaMemcpyDeviceToHost) == cudaSuccess;
        cudaFree(flag);
        return ok && built == 1;
    }();
    return runnable;
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
    bool wgmma = false;
    if (p.kernel == PrefillKernel::kWgmma) {
        if (!wgmmaRunnable()) return "block-sparse prefill: the wgmma kernel needs an sm_90a build on a compute capability 9.0 GPU";
        wgmma = true;
    } else if (p.kernel == PrefillKernel::kAuto) {
        static const bool allowed = !switchedOff("ATTNLAB_PREFILL_WGMMA");
        wgmma = allowed && wgmmaRunnable();
    }
    const void* kernel = prefillKernel(p.dtype, p.head_dim, wgmma);
    const size_t smem = wgmma ? (p.head_dim == 64 ? wgSmemBytes<64>() : wgSmemBytes<128>())
                              : kStages * (p.head_dim == 64 ? stageBytes<64>() : stageBytes<128>());
    allowDynamicSmem(kernel, smem);
    void* args[] = {&a};
    const dim3 grid(a.q_tiles, p.q_heads, p.batch);
    const cudaError_t err =
        cudaLaunchKernel(kernel, grid, dim3(kThreads), args, smem, static_cast<cudaStream_t>(p.stream));
    if (err != cudaSuccess) return std::string("block-sparse prefill: launch failed: ") + cudaGetErrorString(err);
    return {};
}

}  // namespace attnlab::kernels
