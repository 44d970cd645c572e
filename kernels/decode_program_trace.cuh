// Per-phase clocks of the decode program's consumers, for measurement builds only
// (-DEVO2_DECODE_PROGRAM_TRACE=ON). Thread 0 of every CTA reads clock64() at each phase boundary,
// keeps the sums in registers and adds them to a device table once per launch, so the timing
// itself adds a few instructions per phase and no memory traffic inside the op loop. Without the
// option Mark compiles to nothing (and the kernel's PTX is that of a build without this header).
#pragma once

#include <cstdint>

#include "kernels/decode_program.cuh"

namespace evo2::kernels {

#ifdef EVO2_DECODE_PROGRAM_TRACE

inline constexpr int kDecodeTraceMaxCtas = 1024;

// The device tables a launch adds to (defined in decode_program.cu): [CTA][phase] cycles, and
// CTA 0's time inside the kernel in ns with its launch count.
struct PhaseTables {
  unsigned long long (*cycles)[kDecodePhaseCount];
  unsigned long long* cta0_wall;
};

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
  __device__ void Flush(PhaseTables tables) {
    if (threadIdx.x != 0 || blockIdx.x >= kDecodeTraceMaxCtas) return;
#pragma unroll
    for (int p = 0; p < kDecodePhaseCount; ++p) tables.cycles[blockIdx.x][p] += sums_[p];
    if (blockIdx.x == 0) {
      tables.cta0_wall[0] += GlobalNs() - entry_ns_;
      tables.cta0_wall[1] += 1;
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
};

#endif

}  // namespace evo2::kernels
