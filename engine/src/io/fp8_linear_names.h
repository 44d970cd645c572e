// Which checkpoint modules are the linears the engine can run in FP8 (docs/spec/fp8.md), by
// vortex and by NeMo2 name: the modules whose Transformer Engine `_extra_state` carries the
// stored scales the engine uses.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "evo2/checkpoint.h"

namespace evo2::io {

// `blocks.{i}.` + projections | out_filter_dense | inner_mha_cls.Wqkv | inner_mha_cls.out_proj |
// mlp.l1 | mlp.l2 | mlp.l3.
bool IsFp8LinearModule(absl::string_view vortex_module);

// A NeMo2 module name (without `module.`) -> the vortex modules it holds: `decoder.layers.{i}.`
// mixer.dense_projection -> projections, mixer.dense -> out_filter_dense, self_attention.linear_qkv
// -> inner_mha_cls.Wqkv, self_attention.linear_proj -> inner_mha_cls.out_proj, mlp.linear_fc1 ->
// mlp.l1 and mlp.l2 (one GEMM), mlp.linear_fc2 -> mlp.l3. Empty for other modules.
std::vector<std::string> VortexModulesOfNemoLinear(absl::string_view nemo_module);

// The stored scales (Checkpoint::fp8_scales) of block `block`'s linear `linear` ("projections",
// "inner_mha_cls.Wqkv", "mlp.l3", ...), or nullptr.
const StoredFp8Scales* FindStoredFp8Scales(const std::map<std::string, StoredFp8Scales>& stored,
                                           size_t block, absl::string_view linear);

// The one stored scale pair of block `block`'s MLP l1+l2 GEMM (the engine runs them as one, as
// NeMo's linear_fc1): nullptr when neither has stored scales; an error when only one has or
// they differ.
absl::StatusOr<const StoredFp8Scales*> StoredFp8ScalesOfMlpL12(
    const std::map<std::string, StoredFp8Scales>& stored, size_t block);

}  // namespace evo2::io
