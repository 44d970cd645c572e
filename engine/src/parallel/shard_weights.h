// One tensor-parallel rank's weights (Megatron's splits, docs/spec/predict-cli.md §5.3, and
// docs/parallelism.md §1), cut from the full fp32 weights of the CPU backend:
//   column-parallel (rows of [out, in]): Hyena projections (channel triples 3c..3c+2 stay
//     together: rows [3·c0, 3·c1)), Wqkv (whole heads: rows [h0·3d, h1·3d)), MLP l1 and l2;
//   row-parallel (columns): out_filter_dense, out_proj, l3 — partial sums, all-reduced;
//   per channel: featurizer taps, hcs/hcm taps (whole filter groups), hcm/hcl D, hcl poles
//     and residues;
//   vocabulary-parallel: embedding rows [v0, v0 + V/TP) (input lookup and tied head);
//   replicated: norms, output biases (added once, after the all-reduce), rotary frequencies.
// The result uses the CPU backend's own Weights layout with local sizes (H/TP channels, I/TP
// MLP width, V/TP embedding rows); the full-size dims (H of the residual stream) are unchanged.
#pragma once

#include "cpu/cpu_weights.h"
#include "evo2/config.h"

namespace evo2::parallel {

// `tp` must divide the dimensions (parallel/group_layout.h checks).
cpu::Weights ShardWeights(const ModelConfig& config, const cpu::Weights& full, int tp, int rank);

}  // namespace evo2::parallel
