// The HuggingFace model families the engine runs (docs/spec/checkpoints.md §11), one factory each.
// LoadModel (evo2/model.h) sends a checkpoint here when it is a config.json + safetensors
// directory; LoadHfModel picks the family from config.json's "architectures".
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "evo2/model.h"
#include "hf/hf_checkpoint.h"

namespace evo2::hf {

absl::StatusOr<std::unique_ptr<Model>> LoadHfModel(const LoadOptions& options);

// "LlamaForCausalLM" (Eden). engine/src/hf/llama_*.
absl::StatusOr<std::unique_ptr<Model>> CreateLlamaModel(HfCheckpoint ckpt,
                                                        const LoadOptions& options);
// "NemotronHForCausalLM" (Mamba-2 hybrid). engine/src/hf/nemotron_h_*.
absl::StatusOr<std::unique_ptr<Model>> CreateNemotronHModel(HfCheckpoint ckpt,
                                                            const LoadOptions& options);

}  // namespace evo2::hf
