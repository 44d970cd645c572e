// The `cuda` backend: Evo 2 on one NVIDIA GPU (sm_90), bf16 weights and activations with fp32
// where the reference keeps fp32 (docs/spec/model.md §10), or fp32 throughout
// (Precision::kFp32, for checking against the golden vectors).
//
// Only declared when the engine is built with CUDA (target evo2_engine_cuda, which defines
// EVO2_WITH_CUDA=1). Call RegisterCudaBackend() once at start-up (the CLI and the worker do)
// so that LoadModel(LoadOptions{.device = Device::kCuda}) finds it in the backend registry.
#pragma once

namespace evo2 {

// Registers the Device::kCuda loaders: the Evo 2 (Hyena) family and the Llama ("Eden") family.
// Idempotent; safe to call without a GPU (the error comes from LoadModel when no device is
// present).
void RegisterCudaBackend();

// GPUs the CUDA runtime sees (0 when none or when the driver is missing); `--device auto` picks
// cuda when this is positive.
int CudaDeviceCount();

}  // namespace evo2
