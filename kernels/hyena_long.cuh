// Hyena long inner filter plus post-gate (docs/spec/model.md §7 step 5 hcl, §12) as an
// exact chunked linear recurrence instead of the reference's 2S-point FFT (§11):
//   h_c[t] = Σ_{n<16} R[c,n] · p[c,n]^t,   p = exp(λ)   ⇒   y_c[t] = Σ_n R[c,n] · s_{c,n}[t]
//   s_{c,n}[t] = p[c,n] · s_{c,n}[t-1] + a_c[t]      (state fp32, 16 per channel, s[-1] = 0)
//   o[t, c] = round_T(round_T(round_T(y) + round_T(D_c · a_c[t])) · q[t, c])   (rounding as §10)
// O(16·S·H) work, no [H, 16, S] filter and no FFT buffers. Parallel over time by chunks:
//   1. each chunk's end state from a zero start,
//   2. a sequential scan over chunks: s_in[j] = p^len · s_in[j-1] + end[j-1]   (p^len = exp(λ·len)),
//   3. each chunk re-run from s_in[j], writing o.
// The per-step multiply by p accumulates at most `chunk` roundings of p; the carry uses exp(λ·len)
// directly, so the error does not grow with S.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace evo2::kernels {

inline constexpr int kHyenaLongModes = 16;

// Chunk length the launcher uses for a sequence of `seq` tokens (more chunks = more parallelism).
int64_t HyenaLongChunk(int64_t seq);
// fp32 scratch the launcher needs: [batch, chunks, 16, H].
size_t HyenaLongWorkspaceBytes(int64_t batch, int64_t seq, int64_t hidden);

// q, a, o: [batch, seq, H] T; log_poles, residues: [H, 16] fp32; skip_d: [H] fp32;
// workspace: HyenaLongWorkspaceBytes(...) bytes of device memory.
// initial_state: [batch, H, 16] fp32, the modal state s_{-1} before each row's position 0
// (context parallelism: a chunk's incoming state from LaunchHyenaLongIncomingState,
// kernels/hyena_long_cp.cuh), or nullptr for zero (a sequence's start). The scan starts from it
// instead of 0, so the result is the whole sequence's up to fp32 state rounding.
template <typename T>
absl::Status LaunchHyenaLongGate(const T* q, const T* a, const float* log_poles,
                                 const float* residues, const float* skip_d, T* o, void* workspace,
                                 size_t workspace_bytes, int64_t batch, int64_t seq, int64_t hidden,
                                 cudaStream_t stream, const float* initial_state = nullptr);

}  // namespace evo2::kernels
