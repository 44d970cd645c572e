// The Mamba-2 mixer one token at a time (Dao & Gu 2024, "Transformers are SSMs", the recurrent
// form; golden/m_hybrid_a/README.md "Mamba-2 mixer"; docs/spec/model.md §12), and the state a
// prompt leaves behind, for a cached-state decoder. Same arithmetic as the parallel kernels
// (kernels/causal_conv_silu.cuh, kernels/ssd_scan.cuh): fp32, inputs read from T, one rounding to
// T where those kernels round.
//
// Conv tail: the last K−1 conv inputs (x‖B‖C before the conv) of each sequence as a ring
// [K−1, C] T, slot τ mod (K−1) ← input at position τ (kernels/hyena_state.cuh
// LaunchRingFromRows derives it from a prompt, zeros before position 0).
//
// LaunchMambaConvStep, sequence b at position t = positions[b]:
//   out[b, c] = SiLU( bias[c] + Σ_{k<K−1} w[c, k] · in[t − K + 1 + k, c] + w[c, K−1] · in[b, c] )
// reading the older inputs from the ring, then storing in[b, c] at slot t mod (K−1).
//
// LaunchSsmStep, per sequence b and head h (group g(h) = ⌊h / (heads/groups)⌋):
//   Δ = softplus(dt_raw[b, h] + dt_bias[h])  (identity above 20)
//   σ[b, h] ← exp(Δ·A_h)·σ[b, h] + Δ · x[b, h]ᵀ B[b, g]     (σ [P, N] fp32)
//   y[b, h·P + p] = Σ_n σ[b, h][p, n] · C[b, g, n] + D_h · x[b, h·P + p]
//
// LaunchSsmState: σ after positions 0..S−1 of one sequence from zero, the same recurrence run
// over the prompt (fp32, sequential in t per state element, Δ and exp(Δ·A) per position shared
// through shared memory): the prefill's SSM state, from the parallel forward's conv output and
// raw projection.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// in: [B, ld_in] T (channels 0..C−1, the new conv inputs); w: [C, K] fp32; bias: [C] fp32 or
// nullptr; ring: [B, K−1, C] T; positions: [B] int32 (device); out: [B, C] T. 2 ≤ K ≤ 8.
template <typename T>
absl::Status LaunchMambaConvStep(const T* in, int64_t ld_in, const float* w, const float* bias,
                                 const int32_t* positions, T* ring, T* out, int64_t batch,
                                 int64_t channels, int64_t kernel_size, cudaStream_t stream);

template <typename T>
struct SsmStepArgs {
  const T* x = nullptr;  // [rows, ld_x] T (head h, p at column h·P + p)
  int64_t ld_x = 0;
  const T* B = nullptr;  // [rows, ld_bc] T (group g, n at column g·N + n)
  const T* C = nullptr;  // [rows, ld_bc] T (LaunchSsmStep only)
  int64_t ld_bc = 0;
  const T* dt_raw = nullptr;  // [rows, ld_dt] T (column h)
  int64_t ld_dt = 0;
  const float* dt_bias = nullptr;  // [heads]
  const float* A = nullptr;        // [heads]  −exp(A_log)
  const float* D = nullptr;        // [heads]  (LaunchSsmStep only)
  float* state = nullptr;          // [B, heads, P, N] fp32 (LaunchSsmState: [heads, P, N])
  float* y = nullptr;              // [B, ld_y] fp32 (LaunchSsmStep only)
  int64_t ld_y = 0;
  int64_t rows = 0;  // LaunchSsmStep: sequences B (one row each); LaunchSsmState: positions S
  int64_t heads = 0, head_dim = 0, groups = 0, state_size = 0;  // n_h, P, G, N (N ≤ 256)
};

template <typename T>
absl::Status LaunchSsmStep(const SsmStepArgs<T>& args, cudaStream_t stream);

// Overwrites args.state [heads, P, N] with σ after args.rows positions (≥ 1).
template <typename T>
absl::Status LaunchSsmState(const SsmStepArgs<T>& args, cudaStream_t stream);

}  // namespace evo2::kernels
