// The Llama ("Eden") family's weights on one GPU (golden/l_eden_a/README.md "Forward pass"), in
// the activation dtype (bf16, or fp32 in the checking mode), laid out for one GEMM per
// projection group as the CPU model has them (hf/llama_weights.h): q/k/v rows concatenated,
// gate/up rows concatenated. The RoPE frequency table (llama3-scaled when the config says so,
// hf/llama_config.h LlamaInverseFrequencies) is fp32, as transformers keeps inv_freq.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "evo2/tensor.h"
#include "hf/hf_checkpoint.h"
#include "hf/llama_config.h"
#include "hf/llama_weights.h"
#include "kernels/device_buffer.h"

namespace evo2::cuda {

struct LlamaDeviceLayer {
  const void* input_norm = nullptr;  // [H] act
  const void* wqkv = nullptr;        // [(n_q + 2 n_kv)·d, H] act: rows q_proj; k_proj; v_proj
  const void* wo = nullptr;          // [H, n_q·d] act
  const void* post_norm = nullptr;   // [H] act
  const void* w_gate_up = nullptr;   // [2F, H] act: rows gate_proj; up_proj
  const void* w_down = nullptr;      // [H, F] act
};

// Device bytes Upload/Random allocate for `config` (memory planning, the benchmark).
size_t PlannedLlamaWeightBytes(const hf::LlamaConfig& config, DType act_dtype);

class LlamaDeviceWeights {
 public:
  DType act_dtype = DType::kBFloat16;
  const void* embedding = nullptr;   // [V, H] act
  const void* final_norm = nullptr;  // [H] act
  const void* head = nullptr;        // [V, H] act: lm_head, or `embedding` when tied
  const float* inv_freq = nullptr;   // [d/2] fp32 RoPE ω_j
  std::vector<LlamaDeviceLayer> layers;
  size_t bytes = 0;  // device memory held

  // Reads, checks (hf/llama_weights.h) and uploads the checkpoint's weights converted to
  // `act_dtype`, one decoder layer at a time: the host holds the fp32 copy of the embedding, the
  // head and one layer at most, never the whole model.
  static absl::StatusOr<LlamaDeviceWeights> Upload(const hf::LlamaConfig& config,
                                                   const hf::HfCheckpoint& ckpt, DType act_dtype);
  // Random weights of realistic scale built on the device (benchmarks).
  static absl::StatusOr<LlamaDeviceWeights> Random(const hf::LlamaConfig& config, DType act_dtype,
                                                   uint64_t seed);

 private:
  absl::StatusOr<void*> Allocate(int64_t n, DType dtype);
  std::vector<kernels::DeviceBuffer> buffers_;
};

}  // namespace evo2::cuda
