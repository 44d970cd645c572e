// The long filter (hcl) under context parallelism (docs/parallelism.md §3): the three kernels a
// rank needs around LaunchHyenaLongGate (kernels/hyena_long.cuh) when its chunk of Lc positions
// does not start at position 0. The filter is the exact 16-mode recurrence per channel
//   s_t = p ⊙ s_{t−1} + a_t,   y_t = Σ_n R_n s_{t,n},   o_t = (y_t + D·a_t) · q_t,   p = exp(λ)
// so a chunk that starts with state s0 instead of 0 differs by a rank-16 term:
//   s_t = p^{t+1} ⊙ s0 + s⁰_t   ⇒   o_t = o⁰_t + q_t · Σ_n R_n p_n^{t+1} s0_n     (t = 0 … Lc−1)
// and the state after chunk k is S_k = p^{Lc} ⊙ S_{k−1} + e_k (S_{−1} = 0), e_k being chunk k's
// end state from zero. A rank's hcl step is then:
//   1. LaunchHyenaLongGate on its chunks from zero (o⁰), and LaunchHyenaLongEndState (e);
//   2. all-gather e over the CP group; LaunchHyenaLongIncomingState folds S_{k−1} for its chunks;
//   3. LaunchHyenaLongStateCorrection adds q_t · Σ_n R_n p_n^{t+1} s0_n to o⁰.
// A rank's chunks may be packed as a batch (zigzag: chunks r and 2CP−1−r as B = 2 sequences of Lc
// rows); every launcher takes B.
//
// Precision. States are fp32 (inputs T = float or bf16 are widened on load). The end state runs
// the recurrence from zero over sub-chunks of at most max(64, ⌈Lc/256⌉) steps, each multiplying
// by the fp32 pole at most that many times (relative error ≲ steps·6e-8), then combines the
// sub-chunks with exp(λ·len) computed directly, so the error does not grow with Lc beyond that.
// The fold runs in double (C steps of 16 multiply-adds per channel) and stores fp32.
// The correction is exact up to fp32 rounding for fp32 outputs. For bf16 it adds to o⁰, which is
// already rounded to bf16, and rounds again: the result differs from running the gate over the
// whole sequence by at most about two bf16 steps of |o⁰| + |q·correction| per element (the
// whole-sequence gate rounds y once, model.md §10).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

// Most chunks a fold can see (2·CP for CP ≤ 256) and most target chunks per call.
inline constexpr int kHyenaLongMaxFoldChunks = 512;
inline constexpr int kHyenaLongMaxFoldTargets = 16;

// fp32 scratch LaunchHyenaLongEndState needs (sub-chunk states [batch, sub_chunks, 16, H]).
size_t HyenaLongEndStateWorkspaceBytes(int64_t batch, int64_t len, int64_t hidden);

// (a) Zero-state end state of each batch row's chunk:
//   end_state[b, c, n] = Σ_{τ<len} p[c,n]^{len−1−τ} · a[b, τ, c]
// a: [batch, len, H] T (row-major, as LaunchHyenaLongGate's a); log_poles: [H, 16] fp32;
// end_state: [batch, H, 16] fp32 (overwritten; zeros when len = 0);
// workspace: HyenaLongEndStateWorkspaceBytes(batch, len, hidden) bytes of device memory.
template <typename T>
absl::Status LaunchHyenaLongEndState(const T* a, const float* log_poles, float* end_state,
                                     void* workspace, size_t workspace_bytes, int64_t batch,
                                     int64_t len, int64_t hidden, cudaStream_t stream);

// (b) The fold over chunks: the incoming state of chunk targets[b], for b < batch,
//   incoming[b] = S_{targets[b]−1},   S_k = p^{chunk_len} ⊙ S_{k−1} + e_k,   S_{−1} = 0
// end_states: [slots, H, 16] fp32 (device), e.g. the all-gathered LaunchHyenaLongEndState outputs;
// chunk k's end state is slot slot_of_chunk[k] (host array of num_chunks entries; nullptr = slot
// k). With zigzag placement gathered rank-major ([CP][2][H, 16]) chunk r is slot 2r and chunk
// 2CP−1−r is slot 2r+1. Only chunks 0 … targets[b]−1 are read.
// targets: host array of `batch` chunk indices in [0, num_chunks); log_poles: [H, 16] fp32;
// incoming: [batch, H, 16] fp32 (overwritten). num_chunks ≤ kHyenaLongMaxFoldChunks,
// batch ≤ kHyenaLongMaxFoldTargets.
absl::Status LaunchHyenaLongIncomingState(const float* end_states, const int32_t* slot_of_chunk,
                                          int64_t num_chunks, const int32_t* targets, int64_t batch,
                                          const float* log_poles, int64_t chunk_len, int64_t hidden,
                                          float* incoming, cudaStream_t stream);

// (c) The rank-16 correction of a chunk that starts with state s0 = incoming[b]:
//   o[b, t, c] += q[b, t, c] · Σ_n R[c,n] · p[c,n]^{t+1} · s0[b, c, n]      (t < len)
// q, o: [batch, len, H] T (o in place: LaunchHyenaLongGate's zero-state output); incoming:
// [batch, H, 16] fp32; log_poles, residues: [H, 16] fp32. No workspace.
template <typename T>
absl::Status LaunchHyenaLongStateCorrection(const T* q, const float* incoming,
                                            const float* log_poles, const float* residues, T* o,
                                            int64_t batch, int64_t len, int64_t hidden,
                                            cudaStream_t stream);

}  // namespace evo2::kernels
