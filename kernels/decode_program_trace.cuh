// Per-phase clocks of the decode program's consumers, for measurement builds only
// (-DEVO2_DECODE_PROGRAM_TRACE=ON). Thread 0 of every CTA reads clock64() at each phase boundary,
// keeps the sums in registers and adds them to a device table once per launch, so the timing
// itself adds a few instructions per phase and no memory traffic inside the op loop. Without the
// option Mark and Flush compile to nothing (the kernel's PTX is that of a build without them).
#pragma once

#include <cstdint>

#include "kernels/decode_program.cuh"

namespace evo2::kernels {

#ifdef EVO2_DECODE_PROGRAM_TRACE

inline constexpr int kDecodeTraceMaxCtas = 1024;

// The tables every launch adds to: [CTA][phase] cycles, and CTA 0's time inside the kernel in ns
// with its launch count. Static: decode_program.cu, the one file that includes this header, both
// fills them (PhaseClock) and reads them (TakeDecodeProgramTrace).
static __device__ unsigned long long g_decode_phase_cycles[kDecodeTraceMaxCtas][kDecodePhaseCount];
static __device__ unsigned long long g_decode_cta0_wall[2];

class PhaseClock {
 public:
  __device__ PhaseClock() {
    entry_ns_ = GlobalNs();
    last_ = Cycles();
  }
  __device__ void Mark(DecodePhase phase) {
    if (threadIdx.x != 0) return;
    const unsigned long long now = Cycles();
    sums_[static_cast<int>(phase)] += now - last_;
    last_ = now;
  }
  // At the end of the consumers' loop: the launch's sums into the device tables.
  __device__ void Flush() {
    if (threadIdx.x != 0 || blockIdx.x >= kDecodeTraceMaxCtas) return;
#pragma unroll
    for (int p = 0; p < kDecodePhaseCount; ++p) g_decode_phase_cycles[blockIdx.x][p] += sums_[p];
    if (blockIdx.x == 0) {
      g_decode_cta0_wall[0] += GlobalNs() - entry_ns_;
      g_decode_cta0_wall[1] += 1;
    }
  }

 private:
  __device__ static unsigned long long GlobalNs() {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
  }
  __device__ static unsigned long long Cycles() {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%clock64;" : "=l"(t));
    return t;
  }
  unsigned long long entry_ns_ = 0, last_ = 0;
  unsigned long long sums_[kDecodePhaseCount] = {};
};

#else

class PhaseClock {
 public:
  __device__ void Mark(DecodePhase) {}
  __device__ void Flush() {}
};

#endif

}  // namespace evo2::kernels
