// Shared-memory mbarriers and bulk async copies (TMA without a tensor map, sm_90), and the
// grid-wide barrier, as the weight-streaming kernels use them (decode_program.cu,
// weight_stream_probe.cu). PTX ISA: mbarrier, cp.async.bulk, ld.acquire.
#pragma once

#include <cstdint>

namespace evo2::kernels {

__device__ __forceinline__ uint32_t SharedAddress(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void BarrierInit(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(SharedAddress(bar)), "r"(count)
               : "memory");
}

__device__ __forceinline__ void BarrierArrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(SharedAddress(bar)) : "memory");
}

__device__ __forceinline__ void BarrierExpectBytes(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(SharedAddress(bar)),
               "r"(bytes)
               : "memory");
}

// Waits until the barrier's phase of parity `parity` has completed.
__device__ __forceinline__ void BarrierWait(uint64_t* bar, uint32_t parity) {
  const uint32_t addr = SharedAddress(bar);
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
        " selp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(addr), "r"(parity)
        : "memory");
  } while (done == 0);
}

// Global → shared bulk copy whose completion counts `bytes` on `bar`.
__device__ __forceinline__ void BulkCopy(void* dst, const void* src, uint32_t bytes,
                                         uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::
          "r"(SharedAddress(dst)),
      "l"(src), "r"(bytes), "r"(SharedAddress(bar))
      : "memory");
}

// Makes the barrier initialisations above visible to the bulk-copy unit.
__device__ __forceinline__ void FenceBarrierInit() {
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
}

__device__ __forceinline__ unsigned long long LoadAcquire(const unsigned long long* p) {
  unsigned long long v;
  asm volatile("ld.acquire.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
  return v;
}

// One thread per CTA's part of a grid-wide barrier (the cooperative-groups pattern: fence, one
// arrival per CTA, spin until the round is full, fence); the caller synchronises its CTA before
// and after. The counter only grows: `old / grid` is the round this arrival belongs to, so it is
// zeroed once and never reset.
__device__ __forceinline__ void GridArriveAndWait(unsigned long long* counter) {
  __threadfence();
  const unsigned long long grid = gridDim.x;
  const unsigned long long old = atomicAdd(counter, 1ull);
  const unsigned long long target = (old / grid + 1) * grid;
  while (LoadAcquire(counter) < target) {
  }
  __threadfence();
}

}  // namespace evo2::kernels
