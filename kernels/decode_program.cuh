// A batch-1 decode step's chain of linear layers as ONE persistent kernel (sm_90).
//
// At one row a decode step is a pass over the weights, and with one launch per layer op a small
// model's step is dominated by launches, ramp-ups and tails, not by weight bytes (a 1B Evo 2
// step took 2.2 ms on an H100 against 0.66 ms of weight reads; bench/RESULTS.md). This kernel
// runs a list of ops (a "segment") with one CTA per SM:
//   * a producer warp per CTA streams that CTA's rows of every op's weight matrix, one op after
//     another, into a ring of shared-memory stages with bulk async copies (TMA), never waiting
//     for the activations: the weights of the next op are already arriving while the CTAs wait
//     for each other;
//   * 16 consumer warps form the op's input row in shared memory, take each stage's dot products
//     as it lands, then apply the op's epilogue to the CTA's own output rows;
//   * a grid-wide barrier separates ops (each reads what every CTA wrote before it); while a
//     CTA waits there it prefetches the next op's side data (norm scale, its channels' Hyena
//     filters and state) into L1, so the epilogue's dependent reads do not queue behind the
//     weight stream.
// The launch is cooperative, so all CTAs are resident and the barrier cannot deadlock.
//
// An op is  y = x̂·Wᵀ,  W [rows, in] bf16 row-major (a PyTorch Linear weight), fp32 sums, or with
// w_inv_scale W as E4M3 codes [rows, in] and every row's sum scaled once by w_inv_scale[row]
// (weight-only FP8, as skinny_gemm.cuh streams an --fp8 / --full-fp8 model's copies), with
//   input  kNormedResidual:  x̂ = round_bf16(scale ⊙ X / (‖X‖₂/√in + eps)),  X [in] fp32
//                            (rms_norm.cuh's arithmetic; §5 of docs/spec/model.md)
//          kPlain:           x̂ = X [in] bf16
//   output kStore:           y [out] bf16
//          kResidualAdd:     X_out[o] = (X_out[o] + y[o]) + bias[o]   X_out [out] fp32 (bias
//                            optional, bf16)
//          kGatedStore:      W has 2·out rows [l1; l2]:  y[o] = round(φ(round(l1·x̂)) ·
//                            round(l2·x̂)) bf16, φ = exact GELU or identity (mlp_gate.cuh)
//          kHyenaStep:       out = 3·hidden; the projection rows 3c..3c+2 of channel c, rounded
//                            to bf16, go through the Hyena mixer step of hyena_step.cuh
//                            (featurizer, FIR or modal filter, gate), writing the gated output
//                            [hidden] bf16 and updating the state rings in place. Each CTA owns
//                            whole channels.
// The sums are ordered differently from the per-op kernels (skinny_gemm.cuh, hyena_step.cuh),
// so results agree with them to fp32 rounding of the sums, not bit for bit.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/hyena_step.cuh"

namespace evo2::kernels {

enum class DecodeOpInput : int32_t { kNormedResidual, kPlain };
enum class DecodeOpOutput : int32_t { kStore, kResidualAdd, kGatedStore, kHyenaStep };

struct DecodeOp {
  DecodeOpInput input = DecodeOpInput::kPlain;
  DecodeOpOutput output = DecodeOpOutput::kStore;
  int32_t in = 0, out = 0;           // K; O (kGatedStore: the gated outputs, W has 2·O rows)
  const void* w = nullptr;           // [rows, in] bf16 or E4M3, 16-byte aligned
  const float* w_inv_scale = nullptr;  // [rows] 1/s_W of E4M3 weights, or null (bf16)
  const void* x = nullptr;           // [in] fp32 (kNormedResidual) or bf16 (kPlain)
  const void* norm_scale = nullptr;  // [in] bf16 (kNormedResidual)
  float eps = 0.f;
  int32_t gelu = 0;            // kGatedStore: φ = exact erf GELU
  void* y = nullptr;           // [O] bf16, or [O] fp32 residual (kResidualAdd), or [O/3] bf16
  const void* bias = nullptr;  // kResidualAdd: [O] bf16 or null
  // kHyenaStep: the block's filter weights and this sequence's state rings, as for
  // LaunchHyenaStep with one sequence (FIR when fir_taps is set, else modal). proj, positions,
  // out, batch and hidden are not read: the projections are this op's sums, the position the
  // segment's, the output y, and H = out / 3.
  HyenaStepArgs hyena = {};
};

// Ops per launch: the segment travels as a kernel parameter (Hopper's 32 KB parameter space).
inline constexpr int kDecodeProgramMaxOps = 48;

struct DecodeSegment {
  DecodeOp ops[kDecodeProgramMaxOps];
  int32_t n_ops = 0;
  const int32_t* position = nullptr;  // device: t, the position this step computes
  // Device counter of the grid barrier, zeroed once before the first launch and never reset
  // (each barrier adds the grid size; a launch leaves it at a multiple of it).
  unsigned long long* barrier = nullptr;
};

// Whether this device runs the kernel (sm_90 or newer, cooperative launches, enough shared
// memory); the reason when not.
absl::Status DecodeProgramAvailable();
// Checks one op against the kernel's limits (K a multiple of 8, a row within one stage, a
// normed input row of at most 8 192, pointers set); INVALID_ARGUMENT or UNIMPLEMENTED naming the
// limit.
absl::Status CheckDecodeOp(const DecodeOp& op);
// Checks every op of `segment` and that each CTA's output rows fit the kernel's shared memory
// (at most 512 per op and run on this device's grid).
absl::Status CheckDecodeSegment(const DecodeSegment& segment);
// Runs ops [0, n_ops) of `segment` in one cooperative launch (after CheckDecodeSegment).
absl::Status LaunchDecodeProgram(const DecodeSegment& segment, cudaStream_t stream);

// Where a CTA's consumers spend a launch, phase by phase (decode_program_trace.cuh): the grid
// barrier (with the op copy and the side-data prefetch), the input row, waiting for a stage,
// the dot products of a stage, the sync after the last stage, and the epilogue.
enum class DecodePhase : int32_t {
  kBarrier,
  kInput,
  kStageWait,
  kDots,
  kLastSync,
  kHyenaEpilogue,
  kOtherEpilogue
};
inline constexpr int kDecodePhaseCount = 7;

struct DecodeProgramTrace {
  double cycles_per_cta[kDecodePhaseCount] = {};  // summed over launches, averaged over CTAs
  double cycles_max_cta[kDecodePhaseCount] = {};  // the CTA with the most
  double cta0_wall_ns = 0;                        // CTA 0's time inside the kernel
  int64_t launches = 0;
};
// Whether this build times the program's phases (-DEVO2_DECODE_PROGRAM_TRACE=ON; slower).
bool DecodeProgramTraced();
// The phase clocks summed since the last call, and resets them (after synchronizing the
// device). UNIMPLEMENTED in a build without the option.
absl::StatusOr<DecodeProgramTrace> TakeDecodeProgramTrace();

}  // namespace evo2::kernels
