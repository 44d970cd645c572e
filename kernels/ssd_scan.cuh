// Chunked state-space-duality (SSD) scan of a Mamba-2 selective state space (Dao & Gu 2024,
// "Transformers are SSMs", §6; kernels/NOTES.md "SSD scan"). Per head h, with the head's state
// σ_h ∈ ℝ^{P×N} zero before each sequence's first position:
//   Δ_t     = softplus(dt_raw_t,h + dt_bias_h)                       (fp32; identity above 20)
//   σ_h    ← exp(Δ_t·A_h)·σ_h + Δ_t · x_t,hᵀ B_t,g(h)               (outer product P×N)
//   y_t,h,p = Σ_n σ_h[p, n] · C_t,g(h),n + D_h · x_t,h,p
// Head h reads B/C group g(h) = ⌊h / (heads/groups)⌋ (consecutive heads share a group).
//
// Evaluated in chunks of L = kSsdChunk positions, in three launches (all fp32 arithmetic):
//   1. chunk states: Δ, the within-chunk cumulative log-decay a_t = Σ_{s≤t} Δ_s A_h, and each
//      chunk's own contribution S_c = Σ_t exp(a_end − a_t) Δ_t x_tᵀ B_t  ([P, N] per chunk, head);
//   2. state passing: σ_in(c+1) = exp(a_end(c))·σ_in(c) + S_c, sequential over chunks,
//      parallel over (sequence, head, p, n); overwrites S_c with σ_in(c);
//   3. chunk outputs: y_t = Σ_{s≤t in chunk} (C_t·B_s) exp(a_t − a_s) Δ_s x_s   (quadratic form)
//                          + exp(a_t) · σ_in(c) C_t  +  D x_t.
// The decay differences a_t − a_s (s ≤ t) are ≤ 0, so no exp overflows whatever Δ is.
// The three phases are small matrix products on shared-memory tiles in fp32 SIMT (4×4 register
// tiles); the tensor-core version is future work (NOTES.md).
//
// Layout: rows r = b·seq + t of `batch` sequences of `seq` positions each; every input is a
// column block of a row-major matrix with its own leading dimension, so the launcher reads the
// conv output and the raw projection in place:
//   x [rows, ld_x] T  (head h, row p at column h·P + p),  B, C [rows, ld_bc] T (group g, n at
//   column g·N + n), dt_raw [rows, ld_dt] T (column h); dt_bias, A, D [heads] fp32;
//   y [rows, ld_y] fp32 (column h·P + p).
// Refuses shapes whose tiles do not fit the device's shared memory (UNIMPLEMENTED): on sm_90,
// P = 64 with N = 128 takes 122 KB per block, P = 64 with N = 256 192 KB; P = 128, N = 256 does not
// fit.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

inline constexpr int kSsdChunk = 64;  // positions per chunk (L)

// v1: the three phases as first written and checked on the GPU. v2: the same arithmetic with
// the fills' global loads batched (8 in flight per thread) and phase 3 in 105 instead of 122 KB
// of shared memory at P = 64, N = 128 (two blocks per SM): kernels/NOTES.md "SSD scan".
enum class SsdScanVariant { kV1, kV2 };

template <typename T>
struct SsdScanArgs {
  const T* x = nullptr;
  int64_t ld_x = 0;
  const T* B = nullptr;
  const T* C = nullptr;
  int64_t ld_bc = 0;
  const T* dt_raw = nullptr;
  int64_t ld_dt = 0;
  const float* dt_bias = nullptr;  // [heads]
  const float* A = nullptr;        // [heads]  A = −exp(A_log)
  const float* D = nullptr;        // [heads]
  float* y = nullptr;
  int64_t ld_y = 0;
  int64_t batch = 0, seq = 0, heads = 0, head_dim = 0, groups = 0, state_size = 0;
  // Scratch of SsdScanWorkspaceBytes(...) bytes (device, 16-byte aligned).
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  SsdScanVariant variant = SsdScanVariant::kV2;  // measured faster, same results (NOTES.md)
};

// Scratch bytes the scan needs: chunk states [batch, chunks, heads, P, N] fp32, Δ and the
// cumulative log-decay [batch, heads, seq] fp32 each, chunk decays [batch, heads, chunks] fp32.
size_t SsdScanWorkspaceBytes(int64_t batch, int64_t seq, int64_t heads, int64_t head_dim,
                             int64_t state_size);

template <typename T>
absl::Status LaunchSsdScan(const SsdScanArgs<T>& args, cudaStream_t stream);

}  // namespace evo2::kernels
