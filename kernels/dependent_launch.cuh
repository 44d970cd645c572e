// Programmatic dependent launch (PDL, sm_90): a kernel launched with the
// cudaLaunchAttributeProgrammaticStreamSerialization attribute may start while the kernel before
// it on the stream is still running, once every block of that kernel has called
// AllowDependents() (or exited). It must call WaitForPrerequisites() before it reads anything
// the earlier kernel writes (the wait returns once that kernel has finished and its writes are
// visible). The decoder's weight-streaming GEMMs use this to pull their weights toward L2 while
// the small kernel before them runs (kernels/skinny_gemm.cuh).
//
// Both calls are no-ops for kernels launched without the attribute, and below sm_90.
#pragma once

namespace evo2::kernels {

__device__ __forceinline__ void AllowDependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ __forceinline__ void WaitForPrerequisites() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

}  // namespace evo2::kernels
