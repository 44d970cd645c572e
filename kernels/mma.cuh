// Warp-level tensor-core building blocks shared by the bf16 kernels (sm_80+ PTX, used on sm_90):
// mma.sync m16n8k16 (bf16 in, fp32 accumulate), ldmatrix, packing. Fragment layouts are those of
// PTX mma.m16n8k16 (g = lane/4, i = lane%4):
//   A 16×16: a0 (g, 2i..2i+1) a1 (g+8, 2i..) a2 (g, 2i+8..) a3 (g+8, 2i+8..)
//   B 16×8 : b0 (k=2i..2i+1, n=g)  b1 (k=2i+8.., n=g)
//   C 16×8 : c0,c1 (g, 2i..2i+1)   c2,c3 (g+8, 2i..2i+1)
// ldmatrix lane l addresses row (l & 7) of matrix (l >> 3); rows must be 16-byte aligned.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

namespace evo2::kernels {

__device__ __forceinline__ void MmaBf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                        uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two bf16 in one register, `lo` in the low half (the first element of a fragment pair).
__device__ __forceinline__ uint32_t PackBf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

__device__ __forceinline__ void LdMatrixX4(uint32_t (&r)[4], const void* smem) {
  const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void LdMatrixX4Trans(uint32_t (&r)[4], const void* smem) {
  const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

}  // namespace evo2::kernels
