// The Llama ("Eden") family's cuda entry in the backend registry (evo2/backend_registry.h);
// RegisterCudaBackend() (evo2/cuda_backend.h) registers it.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "evo2/model.h"

namespace evo2::cuda {

// Reads the HF checkpoint (config.json + safetensors), checks every tensor, uploads it in the
// requested precision (bf16 by default, fp32 for checking) and builds the model. Errors:
// FAILED_PRECONDITION without a GPU; UNIMPLEMENTED for engine groups (TP/CP/devices > 1) and
// FP8, which this family does not have on cuda (LoadModel refuses LoRA for it before).
absl::StatusOr<std::unique_ptr<Model>> LoadLlamaCudaModel(const LoadOptions& options);

}  // namespace evo2::cuda
