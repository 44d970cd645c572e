#include "cuda/llama/llama_cuda_weights.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"
#include "kernels/random_fill.cuh"

namespace evo2::cuda {
namespace {

struct LayerShape {
  int64_t H, qkv_rows, q_dim, F;
};

LayerShape ShapeOf(const hf::LlamaConfig& c) {
  return {c.hidden_size, (c.num_heads + 2 * c.num_kv_heads) * c.head_dim, c.num_heads * c.head_dim,
          c.intermediate_size};
}

// Copies host fp32 values to `dst` as `dtype` (bf16: round to nearest even, evo2/tensor.h).
absl::Status CopyToDevice(void* dst, const std::vector<float>& values, DType dtype) {
  if (dtype == DType::kFloat32) {
    CUDA_RETURN_IF_ERROR(
        cudaMemcpy(dst, values.data(), values.size() * sizeof(float), cudaMemcpyHostToDevice));
    return absl::OkStatus();
  }
  std::vector<uint16_t> bits(values.size());
  for (size_t i = 0; i < values.size(); ++i) bits[i] = FloatToBFloat16(values[i]);
  CUDA_RETURN_IF_ERROR(
      cudaMemcpy(dst, bits.data(), bits.size() * sizeof(uint16_t), cudaMemcpyHostToDevice));
  return absl::OkStatus();
}

}  // namespace

size_t PlannedLlamaWeightBytes(const hf::LlamaConfig& c, DType act_dtype) {
  const LayerShape s = ShapeOf(c);
  const int64_t per_layer = 2 * s.H + s.qkv_rows * s.H + s.H * s.q_dim + 3 * s.F * s.H;
  const int64_t head = c.tie_word_embeddings ? 0 : c.vocab_size * s.H;
  const int64_t act = c.vocab_size * s.H + s.H + head + c.num_layers * per_layer;
  return static_cast<size_t>(act) * DTypeSize(act_dtype) +
         static_cast<size_t>(c.head_dim / 2) * sizeof(float);
}

absl::StatusOr<void*> LlamaDeviceWeights::Allocate(int64_t n, DType dtype) {
  const size_t bytes_needed = static_cast<size_t>(n) * DTypeSize(dtype);
  ASSIGN_OR_RETURN(auto buf, kernels::DeviceBuffer::Allocate(bytes_needed));
  void* p = buf.get();
  buffers_.push_back(std::move(buf));
  bytes += bytes_needed;
  return p;
}

absl::StatusOr<LlamaDeviceWeights> LlamaDeviceWeights::Upload(const hf::LlamaConfig& config,
                                                              const hf::HfCheckpoint& ckpt,
                                                              DType act_dtype) {
  LlamaDeviceWeights w;
  w.act_dtype = act_dtype;
  // Moves one host tensor to a fresh device allocation and frees the host copy.
  auto put = [&](std::vector<float>& values, DType dtype) -> absl::StatusOr<const void*> {
    ASSIGN_OR_RETURN(void* p, w.Allocate(static_cast<int64_t>(values.size()), dtype));
    RETURN_IF_ERROR(CopyToDevice(p, values, dtype));
    std::vector<float>().swap(values);
    return static_cast<const void*>(p);
  };
  ASSIGN_OR_RETURN(hf::LlamaWeights outer, hf::LoadLlamaOuterWeights(ckpt, config));
  ASSIGN_OR_RETURN(w.embedding, put(outer.embedding, act_dtype));
  ASSIGN_OR_RETURN(w.final_norm, put(outer.final_norm, act_dtype));
  if (outer.lm_head.empty()) {
    w.head = w.embedding;  // tie_word_embeddings
  } else {
    ASSIGN_OR_RETURN(w.head, put(outer.lm_head, act_dtype));
  }
  std::vector<float> inv_freq = hf::LlamaInverseFrequencies(config);
  ASSIGN_OR_RETURN(const void* f, put(inv_freq, DType::kFloat32));
  w.inv_freq = static_cast<const float*>(f);
  for (int64_t l = 0; l < config.num_layers; ++l) {
    ASSIGN_OR_RETURN(hf::LlamaLayerWeights host, hf::LoadLlamaLayerWeights(ckpt, config, l));
    LlamaDeviceLayer d;
    ASSIGN_OR_RETURN(d.input_norm, put(host.input_norm, act_dtype));
    ASSIGN_OR_RETURN(d.wqkv, put(host.wqkv, act_dtype));
    ASSIGN_OR_RETURN(d.wo, put(host.wo, act_dtype));
    ASSIGN_OR_RETURN(d.post_norm, put(host.post_norm, act_dtype));
    ASSIGN_OR_RETURN(d.w_gate_up, put(host.w_gate_up, act_dtype));
    ASSIGN_OR_RETURN(d.w_down, put(host.w_down, act_dtype));
    w.layers.push_back(d);
  }
  return w;
}

absl::StatusOr<LlamaDeviceWeights> LlamaDeviceWeights::Random(const hf::LlamaConfig& config,
                                                              DType act_dtype, uint64_t seed) {
  LlamaDeviceWeights w;
  w.act_dtype = act_dtype;
  const LayerShape s = ShapeOf(config);
  uint64_t counter = seed;
  // Uniform in [-a, a) (std a/√3) or [lo, hi) of the activation dtype.
  auto fill = [&](int64_t n, float lo, float hi) -> absl::StatusOr<const void*> {
    ASSIGN_OR_RETURN(void* p, w.Allocate(n, act_dtype));
    RETURN_IF_ERROR(
        act_dtype == DType::kFloat32
            ? kernels::LaunchFillUniform(static_cast<float*>(p), n, lo, hi, ++counter, nullptr)
            : kernels::LaunchFillUniform(static_cast<__nv_bfloat16*>(p), n, lo, hi, ++counter,
                                         nullptr));
    return static_cast<const void*>(p);
  };
  const float in_scale = std::sqrt(3.f / static_cast<float>(s.H));  // unit-variance outputs
  const float branch = in_scale / std::sqrt(2.f * static_cast<float>(config.num_layers));
  ASSIGN_OR_RETURN(w.embedding, fill(config.vocab_size * s.H, -1.f, 1.f));
  ASSIGN_OR_RETURN(w.final_norm, fill(s.H, 0.9f, 1.1f));
  if (config.tie_word_embeddings) {
    w.head = w.embedding;
  } else {
    ASSIGN_OR_RETURN(w.head, fill(config.vocab_size * s.H, -in_scale, in_scale));
  }
  std::vector<float> inv_freq = hf::LlamaInverseFrequencies(config);
  ASSIGN_OR_RETURN(void* f, w.Allocate(static_cast<int64_t>(inv_freq.size()), DType::kFloat32));
  RETURN_IF_ERROR(CopyToDevice(f, inv_freq, DType::kFloat32));
  w.inv_freq = static_cast<const float*>(f);
  const float down = std::sqrt(3.f / static_cast<float>(s.F)) /
                     std::sqrt(2.f * static_cast<float>(config.num_layers));
  for (int64_t i = 0; i < config.num_layers; ++i) {
    LlamaDeviceLayer d;
    ASSIGN_OR_RETURN(d.input_norm, fill(s.H, 0.9f, 1.1f));
    ASSIGN_OR_RETURN(d.wqkv, fill(s.qkv_rows * s.H, -in_scale, in_scale));
    ASSIGN_OR_RETURN(d.wo, fill(s.H * s.q_dim, -branch, branch));
    ASSIGN_OR_RETURN(d.post_norm, fill(s.H, 0.9f, 1.1f));
    ASSIGN_OR_RETURN(d.w_gate_up, fill(2 * s.F * s.H, -in_scale, in_scale));
    ASSIGN_OR_RETURN(d.w_down, fill(s.H * s.F, -down, down));
    w.layers.push_back(d);
  }
  CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
  return w;
}

}  // namespace evo2::cuda
