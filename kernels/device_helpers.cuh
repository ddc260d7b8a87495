// Device helpers shared by the attention kernels: cp.async copies, mma.sync m16n8k16 with fp32
// accumulators, ldmatrix, bf16/fp16 packing. Included by .cu files only.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>
#include <set>

#include "kernels/env_switch.h"

namespace attnlab::kernels {

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

__device__ __forceinline__ uint32_t packPair(float lo, float hi, const __nv_bfloat16*) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
}
__device__ __forceinline__ uint32_t packPair(float lo, float hi, const __half*) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
}

__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1,
                                         const __nv_bfloat16*) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1,
                                         const __half*) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void ldmatrixX4Trans(uint32_t (&r)[4], const void* smem_row) {
    const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(smem_row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

// Hopper bulk copies (cp.async.bulk, plain sm_90) completing on a shared-memory mbarrier: the
// copy engine moves whole rows, so no thread issues per-16-byte copies. mbarrierInit by one thread,
// then fenceMbarrierInit and a block barrier before use; per phase one thread arrives with the
// byte count it expects (arriveExpectTx), the copies complete it, and waiters spin on the phase's
// parity.
__device__ __forceinline__ uint32_t smemAddress(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void mbarrierInit(uint64_t* bar, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smemAddress(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void fenceMbarrierInit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
#endif
}
__device__ __forceinline__ void mbarrierArriveExpectTx(uint64_t* bar, uint32_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smemAddress(bar)), "r"(bytes) : "memory");
#endif
}
__device__ __forceinline__ void mbarrierWait(uint64_t* bar, int parity) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile(
        "{\n.reg .pred done;\nwait_%=:\n"
        "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
        "@!done bra wait_%=;\n}\n" ::"r"(smemAddress(bar)),
        "r"(parity)
        : "memory");
#endif
}
// bytes: a multiple of 16; both addresses 16-byte aligned. The source lines get an L2 evict-first
// policy: data streamed once (decode's K/V rows; 1-1.5 % faster at 537 MB, kernel_bench-2026-11-29.md).
__device__ __forceinline__ void bulkCopy(void* smem, const void* gmem, uint32_t bytes, uint64_t* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    uint64_t policy;
    asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
    asm volatile(
        "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, [%3], %4;" ::"r"(
            smemAddress(smem)),
        "l"(gmem), "r"(bytes), "r"(smemAddress(bar)), "l"(policy)
        : "memory");
#endif
}

// The producer of the decode kernels: gathers tiles of kTileRows kept rows of one sequence's K and
// V (and per-row score bias) into shared memory with cp.async. Rows row_begin + tile * kTileRows ..
// are read through the index list when there is one (the next tile's row numbers are loaded one
// tile ahead, so an index list's latency overlaps the current tile's compute), else directly.
// Shared-memory rows are kSmemRow elements apart (padding against bank conflicts); rows past
// row_end are zero-filled.
template <typename T, int kTileRows, int kDim, int kSmemRow, int kThreadCount>
struct RowTileLoader {
    static constexpr int kChunksPerRow = kDim / 8;
    static constexpr int kCopies = kTileRows * kChunksPerRow / kThreadCount;  // 16-byte copies per thread per tensor
    static_assert(kCopies * kThreadCount == kTileRows * kChunksPerRow, "tile copies must divide among the threads");
    const T* k;
    const T* v;
    const int* idx;      // kept rows' numbers, or null for rows row_begin.. themselves
    const float* bias;   // per-row score bias, or null
    int64_t stride;      // elements between K (and V) rows
    int row_begin, row_end;
    int pre[kCopies];    // row numbers of the next tile to issue

    __device__ __forceinline__ void loadRows(int tile) {
#pragma unroll
        for (int c = 0; c < kCopies; ++c) {
            const int i = row_begin + tile * kTileRows + (threadIdx.x + c * kThreadCount) / kChunksPerRow;
            pre[c] = (idx && i < row_end) ? __ldg(idx + i) : i;
        }
    }
    // Issues the copies of `tile` (whose rows loadRows(tile) fetched) and fetches the next tile's rows.
    __device__ __forceinline__ void issue(int tile, T* ks, T* vs, float* bs) {
#pragma unroll
        for (int c = 0; c < kCopies; ++c) {
            const int chunk = threadIdx.x + c * kThreadCount;
            const int r = chunk / kChunksPerRow;
            const int cc = (chunk % kChunksPerRow) * 8;
            const bool valid = row_begin + tile * kTileRows + r < row_end;
            const int row = valid ? pre[c] : 0;
            const int64_t off = static_cast<int64_t>(row) * stride + cc;
            cpAsync16(ks + r * kSmemRow + cc, k + off, valid);
            cpAsync16(vs + r * kSmemRow + cc, v + off, valid);
            if (bias && cc == 0) cpAsync4(bs + r, bias + row, valid);
        }
        loadRows(tile + 1);
    }
};

// Whether the current device is compute capability 9.0 (Hopper: wgmma, bulk copies); asked once.
inline bool computeCapability90() {
    static const bool yes = [] {
        int dev = 0, major = 0, minor = 0;
        if (cudaGetDevice(&dev) != cudaSuccess) return false;
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
        return major == 9 && minor == 0;
    }();
    return yes;
}

// Lifts a kernel's dynamic shared memory cap (needed above 48 KB), once per kernel. Host side.
inline void allowDynamicSmem(const void* kernel, size_t bytes) {
    static std::mutex mutex;
    static std::set<const void*> done;
    std::lock_guard<std::mutex> lock(mutex);
    if (done.insert(kernel).second)
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
}

// Programmatic dependent launch (Hopper): a kernel launched with launchKernel() may start while the
// kernel before it in the stream still runs, once every block of that one has called
// pdlLaunchDependents(). pdlWait() blocks until the previous kernel has finished and its writes are
// visible, so everything a kernel reads that an earlier kernel writes must come after it; reads of
// constant data (weights) may come before and so overlap the previous kernel. Every block calls
// pdlWait() before it exits, so the ordering holds transitively along a chain. Where the previous
// kernel is an ordinary launch, pdlWait() returns at once (stream order already holds).
__device__ __forceinline__ void pdlWait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdlLaunchDependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// ATTNLAB_PDL=0 launches every kernel in plain stream order.
inline bool pdlEnabled() {
    static const bool enabled = !switchedOff("ATTNLAB_PDL");
    return enabled;
}

// A launch configuration with the programmatic-stream-serialisation attribute (see pdlWait); not
// copyable (the configuration points at its attribute).
struct PdlLaunch {
    cudaLaunchConfig_t config = {};
    cudaLaunchAttribute attribute = {};
    PdlLaunch(dim3 grid, dim3 block, size_t smem, cudaStream_t stream) {
        config.gridDim = grid;
        config.blockDim = block;
        config.dynamicSmemBytes = smem;
        config.stream = stream;
        attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attribute.val.programmaticStreamSerializationAllowed = 1;
        config.attrs = &attribute;
        config.numAttrs = pdlEnabled() ? 1 : 0;
    }
    PdlLaunch(const PdlLaunch&) = delete;
    PdlLaunch& operator=(const PdlLaunch&) = delete;
};

// cudaLaunchKernel (untyped arguments) as a PDL launch.
inline cudaError_t launchKernel(const void* kernel, dim3 grid, dim3 block, void** args, size_t smem,
                                cudaStream_t stream) {
    PdlLaunch launch(grid, block, smem, stream);
    return cudaLaunchKernelExC(&launch.config, kernel, args);
}

// kernel<<<grid, block, 0, stream>>>(args...) as a PDL launch.
template <typename... KernelArgs, typename... Args>
cudaError_t launchPdl(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, cudaStream_t stream, Args&&... args) {
    PdlLaunch launch(grid, block, 0, stream);
    return cudaLaunchKernelEx(&launch.config, kernel, static_cast<KernelArgs>(args)...);
}

}  // namespace attnlab::kernels
