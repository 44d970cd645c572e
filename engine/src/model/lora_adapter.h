// LoRA adapters (docs/spec/checkpoints.md §12): low-rank updates of a model's linear layers,
// merged into the base weights at load so that the forward is the plain model's.
//
// A NeMo2 PEFT adapter holds, for each adapted linear `<prefix>` (its base weight is
// `<prefix>.weight`, [out, in]):
//   <prefix>.adapter.linear_in.weight   A [r, in]
//   <prefix>.adapter.linear_out.weight  B [out, r]
// and the adapter computes y = W·x + (alpha / r)·B·(A·x), so the merged weight is
//   W' = W + (alpha / r)·B·A.
// alpha and r come from the LoRA transform saved in `context/io.json` (NeMo's defaults, 32 and
// 32, where the transform leaves them unset); r must equal every A's row count.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "evo2/tensor.h"

namespace evo2 {

struct LoraPair {
  std::string in_key;   // the adapter's tensor names, for errors
  std::string out_key;
  std::string target;   // NeMo name of the base weight, e.g. decoder.layers.3.mlp.linear_fc1.weight
  Tensor a;             // linear_in  [r, in]
  Tensor b;             // linear_out [out, r]
};

struct LoraAdapter {
  std::filesystem::path source;
  double alpha = 32;
  int64_t rank = 0;  // r
  std::vector<LoraPair> pairs;
  double scale() const { return alpha / static_cast<double>(rank); }
};

// `path`: a NeMo2 adapter checkpoint (the directory holding `weights/` and `context/`, or its
// `weights/`), or a `.safetensors` file with the same tensor names whose header metadata (or an
// `adapter_config.json` beside it) gives `alpha` (and optionally `dim`). Errors name the file and
// the tensor.
absl::StatusOr<LoraAdapter> LoadLoraAdapter(const std::filesystem::path& path);

// Adds (alpha / r)·B·A to each target, in fp32 (the merged weights become fp32 tensors), in
// the engine's names. Refuses, naming the adapter tensor, a target the engine cannot merge, one
// the checkpoint lacks, and shapes that do not match the base weight.
absl::Status MergeLoraAdapter(const LoraAdapter& adapter, TensorMap& tensors);

}  // namespace evo2
