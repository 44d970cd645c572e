// The HuggingFace model families the engine runs (docs/spec/checkpoints.md §13): one loader per
// family, registered for the cpu device in the backend registry (evo2/backend_registry.h).
// Which family a directory holds is DescribeCheckpoint's answer (evo2/checkpoint.h).
#pragma once

#include <filesystem>
#include <memory>

#include "absl/status/statusor.h"
#include "evo2/config.h"
#include "evo2/model.h"
#include "hf/hf_checkpoint.h"

namespace evo2::hf {

// Registry loaders: read the checkpoint (a HuggingFace directory or a NeMo2 checkpoint of the
// family; one device only: tensor/context parallel size 1), then the family's Create function.
absl::StatusOr<std::unique_ptr<Model>> LoadLlamaModel(const LoadOptions& options);
absl::StatusOr<std::unique_ptr<Model>> LoadNemotronHModel(const LoadOptions& options);

// "LlamaForCausalLM" (Eden). engine/src/hf/llama_*.
absl::StatusOr<std::unique_ptr<Model>> CreateLlamaModel(HfCheckpoint ckpt,
                                                        const LoadOptions& options);
// "NemotronHForCausalLM" (Mamba-2 hybrid). engine/src/hf/nemotron_h_*.
absl::StatusOr<std::unique_ptr<Model>> CreateNemotronHModel(HfCheckpoint ckpt,
                                                            const LoadOptions& options);

}  // namespace evo2::hf
