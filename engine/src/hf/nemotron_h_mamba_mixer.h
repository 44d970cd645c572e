// The Mamba-2 mixer of a NemotronH 'M' layer (golden/m_hybrid_a/README.md "Mamba-2 mixer",
// steps 1–8; Megatron's MambaMixer computes the same):
//   p = W_in·u = z ‖ xBC ‖ dt_raw
//   c = SiLU(causal depthwise conv_K(xBC) + b)  = x̂ [n_h, P] ‖ B [G, N] ‖ C [G, N]
//   Δ = softplus(dt_raw + dt_bias)   (no clamp: Megatron's kernels pass no dt limit, README "dt clamp")
//   σ_h ← exp(Δ·A_h)·σ_h + Δ·x̂_hᵀ B_g(h);   y_h = σ_h C_g(h) + D_h x̂_h       (σ_h [P, N], fp32)
//   out = W_out · GatedGroupRmsNorm(y, z)
// The recurrence is evaluated exactly as written, sequentially in time (HF's chunked SSD is the
// same algebra in another order). Rows p of a head's state evolve independently, so the scan is
// parallel over (head, row) blocks. Time is processed in chunks that carry the conv window and
// the state across, so working memory is [chunk, in_proj rows] whatever S is.
#pragma once

#include <cstdint>
#include <vector>

#include "hf/nemotron_h_config.h"
#include "hf/nemotron_h_weights.h"
#include "ops/thread_pool.h"

namespace evo2::hf {

// The recurrent state of one sequence in one Mamba layer after its last position
// (cached-state decoding, evo2/decoder.h): the raw xBC rows the causal conv still needs and σ.
struct MambaState {
  std::vector<float> conv_tail;  // [K−1, C] raw xBC of positions t−K+2 … t (zeros before 0)
  std::vector<float> ssm;        // [n_h, P, N] σ, fp32
};

class MambaMixer {
 public:
  // Positions per time chunk; 2048 keeps [chunk, in_proj rows] at ~150 MB for the 8B layout.
  static constexpr int64_t kDefaultChunkTokens = 2048;

  explicit MambaMixer(const NemotronHConfig& config, int64_t chunk_tokens = kDefaultChunkTokens)
      : config_(config), chunk_tokens_(chunk_tokens) {}

  // u [S, H] (the normed layer input) -> out [S, H]. With `state`: starts from it instead of
  // the zero state of a sequence's start (when it holds one; empty vectors mean zeros) and
  // leaves the state after the last position in it, so a sequence can continue in later calls.
  void Run(const NemotronHMambaWeights& w, const float* u, int64_t S, float* out,
           ops::ThreadPool& pool, MambaState* state = nullptr);

  // The state after the last position of the latest Run.
  void SaveState(MambaState& state) const;

  // Floats of working memory Run(S) allocates.
  int64_t ScratchFloats(int64_t S) const;

 private:
  // Conv + SiLU of one chunk: window_ [K−1 + rows, C] -> xbc_ [rows, C].
  void ConvSilu(const NemotronHMambaWeights& w, int64_t rows, ops::ThreadPool& pool);
  // Δ and exp(Δ·A) for one chunk -> dt_, decay_ [rows, n_h].
  void StepSizes(const NemotronHMambaWeights& w, int64_t rows, ops::ThreadPool& pool);
  // The selective scan of one chunk, state_ carried: -> y_ [rows, d_inner].
  void Scan(const NemotronHMambaWeights& w, int64_t rows, ops::ThreadPool& pool);

  NemotronHConfig config_;
  int64_t chunk_tokens_;
  std::vector<float> proj_;    // [chunk, in_proj rows]  z ‖ xBC ‖ dt_raw
  std::vector<float> window_;  // [K−1 + chunk, C]  raw xBC, the previous K−1 positions first
  std::vector<float> xbc_;     // [chunk, C]  conv + SiLU output x̂ ‖ B ‖ C
  std::vector<float> dt_;      // [chunk, n_h]  Δ
  std::vector<float> decay_;   // [chunk, n_h]  exp(Δ·A)
  std::vector<float> y_;       // [chunk, d_inner]  scan output, then the gated norm
  std::vector<float> state_;   // [n_h, P, N]  σ, fp32, carried across chunks
};

}  // namespace evo2::hf
