// Hopper warpgroup matrix multiply (wgmma, sm_90a) for the attention kernels: shared-memory matrix
// descriptors for 128-byte-swizzled tiles, m64nNk16 with A from registers and B from shared memory
// (fp32 accumulators, bf16/fp16 inputs), and the fences around them. Included by .cu files only;
// every instruction here exists only when compiling for sm_90a (ATTNLAB_WGMMA_AVAILABLE).
//
// Tile layout used with these descriptors (K, V and any B operand): a tile of R rows of 64-element
// (128-byte) "planes", plane p holding columns 64p..64p+63 of every row; row r of a plane at byte
// r * 128, its 16-byte chunk c stored at chunk position c ^ (r % 8) (the 128-byte swizzle). Plane
// bases must be 1024-byte aligned. swizzledOffset() gives the byte offset of (row, 16-byte chunk).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define ATTNLAB_WGMMA_AVAILABLE 1
#endif

namespace attnlab::kernels {

// Byte offset of 16-byte chunk `chunk` (0 .. D/8-1) of row `row` in a tile of `rows` rows.
__host__ __device__ constexpr int swizzledOffset(int row, int chunk, int rows) {
    return (chunk >> 3) * rows * 128 + row * 128 + (((chunk & 7) ^ (row & 7)) << 4);
}

// A shared-memory matrix descriptor with the 128-byte swizzle. For a K-major operand (B = K rows
// with the reduction dimension contiguous) the leading offset is unused and the stride is 1024 (8
// rows); for an MN-major operand (B = V rows: the reduction runs over rows) the leading offset is
// the distance between 64-column planes and the stride 1024 (8 reduction rows).
__device__ __forceinline__ uint64_t smemDescriptor(const void* smem, uint32_t leading_bytes, uint32_t stride_bytes) {
    const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
    uint64_t d = (addr & 0x3FFFFu) >> 4;
    d |= static_cast<uint64_t>((leading_bytes >> 4) & 0x3FFFu) << 16;
    d |= static_cast<uint64_t>((stride_bytes >> 4) & 0x3FFFu) << 32;
    d |= 1ull << 62;  // 128-byte swizzle
    return d;
}

#ifdef ATTNLAB_WGMMA_AVAILABLE
__device__ __forceinline__ void wgmmaFence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmmaCommit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmmaWait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Shared memory written by the generic proxy (ordinary stores, cp.async) that wgmma reads next.
__device__ __forceinline__ void fenceProxyAsync() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// Keeps the compiler from moving reads or writes of registers that an in-flight wgmma owns across
// the wait (the asm statements above do not tell it when the hardware is done with them).
template <int N>
__device__ __forceinline__ void pinRegisters(float (&r)[N]) {
#pragma unroll
    for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}
template <int N>
__device__ __forceinline__ void pinRegisters(uint32_t (&r)[N][4]) {
#pragma unroll
    for (int i = 0; i < N; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) asm volatile("" : "+r"(r[i][j])::"memory");
}

// d (+)= a * B for one m64nNk16 step: a is this thread's A fragment (the mma.sync m16n8k16 A layout
// over the warp's 16 rows of the 64), d its accumulator fragment (n8 block i at d[4i..4i+3]: rows
// g and g+8, columns 2t and 2t+1). accumulate = 0 overwrites d. kTransB = 0: B is K-major; 1: MN-major.
#define ATTNLAB_WGMMA_RS_N64(PTX, CTYPE) \
    template <int kTransB> \
    __device__ __forceinline__ void wgmmaRS(float(&d)[32], const uint32_t(&a)[4], uint64_t desc, int accumulate, const CTYPE*) { \
        asm volatile( \
            "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n" \
            "wgmma.mma_async.sync.aligned.m64n64k16.f32." PTX "." PTX " {" \
            "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15," \
            "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31" \
            "}, {%32,%33,%34,%35}, %36, p, 1, 1, %38;\n}\n" \
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
              "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
              "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
              "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]) \
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(accumulate), "n"(kTransB)); \
    }

#define ATTNLAB_WGMMA_RS_N128(PTX, CTYPE) \
    template <int kTransB> \
    __device__ __forceinline__ void wgmmaRS(float(&d)[64], const uint32_t(&a)[4], uint64_t desc, int accumulate, const CTYPE*) { \
        asm volatile( \
            "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n" \
            "wgmma.mma_async.sync.aligned.m64n128k16.f32." PTX "." PTX " {" \
            "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15," \
            "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31," \
            "%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47," \
            "%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63" \
            "}, {%64,%65,%66,%67}, %68, p, 1, 1, %70;\n}\n" \
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
              "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
              "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
              "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), \
              "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), \
              "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), \
              "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
              "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]) \
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(accumulate), "n"(kTransB)); \
    }

ATTNLAB_WGMMA_RS_N64("bf16", __nv_bfloat16)
ATTNLAB_WGMMA_RS_N64("f16", __half)
ATTNLAB_WGMMA_RS_N128("bf16", __nv_bfloat16)
ATTNLAB_WGMMA_RS_N128("f16", __half)
#undef ATTNLAB_WGMMA_RS_N64
#undef ATTNLAB_WGMMA_RS_N128
#endif  // ATTNLAB_WGMMA_AVAILABLE

}  // namespace attnlab::kernels
