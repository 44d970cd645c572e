// The real shapes the cuda benchmarks build with random weights, one definition for every
// benchmark program: the Llama family's Eden 7B / Llama 3.1 8B (golden/HF_FAMILIES.md) and
// BioNeMo's hybrid_mamba_8b (hf::HybridMamba8bConfig).
#pragma once

#include <cuda_runtime.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "cuda/nemotron_h/nemotron_h_cuda_model.h"
#include "cuda/nemotron_h/nemotron_h_device_weights.h"
#include "evo2/config.h"
#include "hf/llama_config.h"
#include "hf/nemotron_h_config.h"
#include "kernels/cuda_status.cuh"

namespace evo2::bench {

// "eden7b" (vocabulary 512) or "llama8b" (128 256): 32 layers, H 4096, 32 query / 8 KV heads of
// 128, F 14 336, Llama 3.1 RoPE (θ 500 000, llama3 scaling: factor 8, low 1, high 4).
inline absl::StatusOr<hf::LlamaConfig> LlamaBenchShape(const std::string& name) {
  hf::LlamaConfig c;
  c.num_layers = 32;
  c.hidden_size = 4096;
  c.num_heads = 32;
  c.num_kv_heads = 8;
  c.head_dim = 128;
  c.intermediate_size = 14336;
  c.rms_norm_eps = 1e-5;
  c.rope.theta = 500000.0;
  c.rope.llama3 = true;  // Llama 3.1: factor 8, low 1, high 4, original context 8192
  c.rope.factor = 8.0;
  c.max_position_embeddings = 131072;
  if (name == "eden7b") {
    c.vocab_size = 512;
  } else if (name == "llama8b") {
    c.vocab_size = 128256;
  } else {
    return absl::InvalidArgumentError("model must be eden7b or llama8b, got '" + name + "'");
  }
  return c;
}

// hybrid_mamba_8b with random weights of realistic scale in `act`.
inline absl::StatusOr<std::unique_ptr<cuda::CudaNemotronHModel>> RandomHybridMamba8b(DType act) {
  const hf::NemotronHConfig config = hf::HybridMamba8bConfig();
  cudaStream_t stream = nullptr;
  CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  auto weights = cuda::DeviceNemotronHWeights::Random(config, act, 1, stream);
  if (!weights.ok()) {
    cudaStreamDestroy(stream);
    return weights.status();
  }
  ModelConfig common;
  common.family = ModelFamily::kNemotronH;
  common.name = "hybrid_mamba_8b (random weights)";
  common.num_layers = static_cast<int>(config.num_layers());
  common.hidden_size = static_cast<int>(config.hidden_size);
  common.num_heads = static_cast<int>(config.num_attention_heads);
  common.head_dim = static_cast<int>(config.attention_head_dim);
  common.vocab_size = static_cast<int>(config.vocab_size);
  return cuda::CudaNemotronHModel::Create(common, config, std::move(*weights), stream);
}

}  // namespace evo2::bench
