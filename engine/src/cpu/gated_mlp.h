// Gated MLP (docs/spec/model.md §6), no biases:
//   MLP(z) = l3( φ(l1·z) ⊙ (l2·z) )
// φ = exact erf GELU in block 0 only (Arc/vortex `evo2_style_activations`), identity in every
// other block, so those MLPs are bilinear. l1 is the gated branch, l2 the linear one.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/fp8.h"
#include "ops/thread_pool.h"

namespace evo2::cpu {

enum class GateActivation { kIdentity, kGeluErf };

struct MlpWeights {
  int64_t hidden = 0;      // H
  int64_t inner = 0;       // I
  std::vector<float> w12;  // [2I, H]: rows 0..I-1 = l1, rows I..2I-1 = l2 (one GEMM for both)
  std::vector<float> w3;   // [H, I] = l3
  ops::Fp8Matrix w12_fp8;  // FP8 copies (docs/spec/fp8.md); empty unless --full-fp8
  ops::Fp8Matrix w3_fp8;
};

// Scratch a GatedMlp call reuses: the [rows, 2I] products, and the quantised input and
// product of an FP8 linear (ops::Fp8Linear) when the FP8 copies are present.
struct MlpWorkspace {
  std::vector<float> u;
  std::vector<float> fp8;
};

// z [rows, H] -> out [rows, H] (overwritten). The workspace grows to the largest call's size.
void GatedMlp(const float* z, int64_t rows, const MlpWeights& w, GateActivation act, float* out,
              MlpWorkspace& workspace, ops::ThreadPool& pool);

}  // namespace evo2::cpu
