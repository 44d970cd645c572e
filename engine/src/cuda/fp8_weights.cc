// DeviceWeights::AddFp8Copies: the FP8 E4M3 copies of the linear layers (docs/spec/fp8.md).
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cuda/cuda_weights.h"
#include "evo2/status_macros.h"
#include "io/fp8_linear_names.h"
#include "kernels/cuda_status.cuh"
#include "kernels/fp8_quantize.cuh"
#include "kernels/fp8_split_amax.cuh"

namespace evo2::cuda {

namespace {

// One linear layer FP8 covers: where its act-typed weight [out, in] is, where its copy goes.
struct Fp8LinearSlot {
  size_t block = 0;
  const char* name = "";  // the checkpoint's name (stored scales)
  const void* w = nullptr;
  int64_t out = 0, in = 0;
  DeviceFp8Linear DeviceBlockWeights::*fp8 = nullptr;  // where the block keeps its copy
};

// The linears `mode` quantises, in block order, with the shard's shapes (docs/parallelism.md §1):
// in_proj [3H/T, H], out_proj [H, H/T], mlp_l12 [2I/T, H], mlp_l3 [H, I/T].
std::vector<Fp8LinearSlot> Fp8Linears(const std::vector<DeviceBlockWeights>& blocks,
                                      const ModelConfig& config, Fp8Mode mode,
                                      TensorParallelShard shard) {
  const bool all = mode == Fp8Mode::kAllLinears;
  const int64_t H = config.hidden_size, I = config.inner_mlp_size;
  const int64_t Hl = H / shard.size, Il = I / shard.size;
  std::vector<Fp8LinearSlot> slots;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const DeviceBlockWeights& b = blocks[i];
    const bool attention = b.kind == BlockKind::kAttn;
    // The Hyena input projections in both modes; everything else with --full-fp8 only.
    if (!attention || all)
      slots.push_back({i, attention ? "inner_mha_cls.Wqkv" : "projections", b.in_proj, 3 * Hl, H,
                       &DeviceBlockWeights::in_proj_fp8});
    if (all) {
      slots.push_back({i, attention ? "inner_mha_cls.out_proj" : "out_filter_dense", b.out_proj, H,
                       Hl, &DeviceBlockWeights::out_proj_fp8});
      slots.push_back({i, "mlp.l12", b.mlp_l12, 2 * Il, H, &DeviceBlockWeights::mlp_l12_fp8});
      slots.push_back({i, "mlp.l3", b.mlp_l3, H, Il, &DeviceBlockWeights::mlp_l3_fp8});
    }
  }
  return slots;
}

// The same rule as kernels/e4m3.cuh's E4M3ScaleForAmax (IEEE fp32 division), on the host.
float E4M3ScaleForAmax(float amax) {
  return amax > 0.0f && std::isfinite(amax) ? 448.0f / amax : 1.0f;
}

}  // namespace

absl::StatusOr<std::vector<float>> DeviceWeights::Fp8TensorAmaxes(const ModelConfig& config,
                                                                  Fp8Mode mode,
                                                                  TensorParallelShard shard,
                                                                  cudaStream_t stream) const {
  const std::vector<Fp8LinearSlot> slots = Fp8Linears(blocks, config, mode, shard);
  ASSIGN_OR_RETURN(auto amax, kernels::DeviceBuffer::Allocate(std::max<size_t>(1, slots.size()) *
                                                              sizeof(float)));
  for (size_t j = 0; j < slots.size(); ++j) {
    const int64_t n = slots[j].out * slots[j].in;
    float* dst = amax.as<float>() + j;
    if (act_dtype == DType::kBFloat16) {
      RETURN_IF_ERROR(
          kernels::LaunchTensorAmax(static_cast<const __nv_bfloat16*>(slots[j].w), n, dst, stream));
    } else {
      RETURN_IF_ERROR(
          kernels::LaunchTensorAmax(static_cast<const float*>(slots[j].w), n, dst, stream));
    }
  }
  std::vector<float> host(slots.size());
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(host.data(), amax.get(), host.size() * sizeof(float),
                                       cudaMemcpyDeviceToHost, stream));
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  return host;
}

absl::Status DeviceWeights::AddFp8Copies(const ModelConfig& config, Fp8Mode mode,
                                         const std::map<std::string, StoredFp8Scales>& stored,
                                         cudaStream_t stream, TensorParallelShard shard,
                                         const std::vector<float>* tensor_amax) {
  fp8 = mode;
  if (mode == Fp8Mode::kOff) return absl::OkStatus();
  const int64_t Hl = config.hidden_size / shard.size, Il = config.inner_mlp_size / shard.size;
  if (Hl % 8 != 0 || Il % 8 != 0) {
    // The FP8 GEMM's output widths (3H/T, H, 2I/T) must be multiples of 8 (cuda/fp8_gemm.h).
    return absl::FailedPreconditionError(absl::StrCat(
        "FP8 on the GPU needs a hidden size and an MLP size (per tensor-parallel rank) that are "
        "multiples of 8 (this model",
        shard.size > 1 ? absl::StrCat(" at TP=", shard.size) : "", ": ", Hl, " and ", Il, ")"));
  }
  const std::vector<Fp8LinearSlot> slots = Fp8Linears(blocks, config, mode, shard);
  if (tensor_amax != nullptr && tensor_amax->size() != slots.size())
    return absl::InternalError(absl::StrCat("FP8: ", tensor_amax->size(),
                                            " whole-tensor amaxes for ", slots.size(), " linears"));
  ASSIGN_OR_RETURN(void* amax, Allocate(1, DType::kFloat32));
  // The stored scales where the checkpoint has them, else the weight's current amax (fp8.md): the
  // whole tensor's when this is a TP shard.
  auto quantize = [&](const Fp8LinearSlot& slot, const StoredFp8Scales* s,
                      float whole_amax) -> absl::StatusOr<DeviceFp8Linear> {
    DeviceFp8Linear l;
    l.k = (slot.in + 15) / 16 * 16;
    float weight_scale = s != nullptr ? s->weight : 0.0f;
    if (!(weight_scale > 0.0f) && whole_amax >= 0.0f) weight_scale = E4M3ScaleForAmax(whole_amax);
    if (s != nullptr) l.input_scale = s->input;
    ASSIGN_OR_RETURN(void* q, Allocate(slot.out * l.k, DType::kUInt8));
    ASSIGN_OR_RETURN(void* inv, Allocate(slot.out, DType::kFloat32));
    if (act_dtype == DType::kBFloat16) {
      RETURN_IF_ERROR(kernels::LaunchQuantizeTensorE4M3(
          static_cast<const __nv_bfloat16*>(slot.w), slot.out, slot.in, static_cast<uint8_t*>(q),
          l.k, static_cast<float*>(inv), static_cast<float*>(amax), stream, weight_scale));
    } else {
      RETURN_IF_ERROR(kernels::LaunchQuantizeTensorE4M3(
          static_cast<const float*>(slot.w), slot.out, slot.in, static_cast<uint8_t*>(q), l.k,
          static_cast<float*>(inv), static_cast<float*>(amax), stream, weight_scale));
    }
    l.q = static_cast<const uint8_t*>(q);
    l.inv_scale = static_cast<const float*>(inv);
    return l;
  };
  for (size_t j = 0; j < slots.size(); ++j) {
    const Fp8LinearSlot& slot = slots[j];
    const StoredFp8Scales* s = nullptr;
    if (std::string_view(slot.name) == "mlp.l12") {
      // l1 and l2 share one scale (one linear, NeMo's linear_fc1).
      ASSIGN_OR_RETURN(s, io::StoredFp8ScalesOfMlpL12(stored, slot.block));
    } else {
      s = io::FindStoredFp8Scales(stored, slot.block, slot.name);
    }
    ASSIGN_OR_RETURN(blocks[slot.block].*slot.fp8,
                     quantize(slot, s, tensor_amax != nullptr ? (*tensor_amax)[j] : -1.0f));
  }
  // The amax scratch is reused by every launch above: finish before it could be freed.
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  return absl::OkStatus();
}

}  // namespace evo2::cuda
