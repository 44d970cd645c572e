// DeviceWeights::AddFp8Copies: the FP8 E4M3 copies of the linear layers (docs/spec/fp8.md).
#include <cuda_bf16.h>

#include "absl/strings/str_cat.h"
#include "cuda/cuda_weights.h"
#include "evo2/status_macros.h"
#include "io/fp8_linear_names.h"
#include "kernels/cuda_status.cuh"
#include "kernels/fp8_quantize.cuh"

namespace evo2::cuda {

absl::Status DeviceWeights::AddFp8Copies(const ModelConfig& config, Fp8Mode mode,
                                         const std::map<std::string, StoredFp8Scales>& stored,
                                         cudaStream_t stream) {
  fp8 = mode;
  if (mode == Fp8Mode::kOff) return absl::OkStatus();
  const bool all = mode == Fp8Mode::kAllLinears;
  if (config.hidden_size % 8 != 0 || config.inner_mlp_size % 8 != 0) {
    // The FP8 GEMM's output widths (3H, H, 2I) must be multiples of 8 (cuda/fp8_gemm.h).
    return absl::FailedPreconditionError(absl::StrCat("FP8 on the GPU needs a hidden size and an MLP size that are "
                                                      "multiples of 8 (this model: ",
                                                      config.hidden_size, " and ", config.inner_mlp_size, ")"));
  }
  ASSIGN_OR_RETURN(void* amax, Allocate(1, DType::kFloat32));
  // The stored scales where the checkpoint has them, else the weight's current amax (fp8.md).
  auto quantize = [&](const void* w, int64_t out, int64_t in,
                      const StoredFp8Scales* s) -> absl::StatusOr<DeviceFp8Linear> {
    DeviceFp8Linear l;
    l.k = (in + 15) / 16 * 16;
    const float weight_scale = s != nullptr ? s->weight : 0.0f;
    if (s != nullptr) l.input_scale = s->input;
    ASSIGN_OR_RETURN(void* q, Allocate(out * l.k, DType::kUInt8));
    ASSIGN_OR_RETURN(void* inv, Allocate(out, DType::kFloat32));
    if (act_dtype == DType::kBFloat16) {
      RETURN_IF_ERROR(kernels::LaunchQuantizeTensorE4M3(
          static_cast<const __nv_bfloat16*>(w), out, in, static_cast<uint8_t*>(q), l.k,
          static_cast<float*>(inv), static_cast<float*>(amax), stream, weight_scale));
    } else {
      RETURN_IF_ERROR(kernels::LaunchQuantizeTensorE4M3(
          static_cast<const float*>(w), out, in, static_cast<uint8_t*>(q), l.k,
          static_cast<float*>(inv), static_cast<float*>(amax), stream, weight_scale));
    }
    l.q = static_cast<const uint8_t*>(q);
    l.inv_scale = static_cast<const float*>(inv);
    return l;
  };
  const int64_t H = config.hidden_size, I = config.inner_mlp_size;
  for (size_t i = 0; i < blocks.size(); ++i) {
    DeviceBlockWeights& b = blocks[i];
    const bool attention = b.kind == BlockKind::kAttn;
    // The Hyena input projections in both modes; everything else with --full-fp8 only.
    if (!attention || all) {
      ASSIGN_OR_RETURN(b.in_proj_fp8,
                       quantize(b.in_proj, 3 * H, H,
                                io::FindStoredFp8Scales(
                                    stored, i, attention ? "inner_mha_cls.Wqkv" : "projections")));
    }
    if (all) {
      ASSIGN_OR_RETURN(
          b.out_proj_fp8,
          quantize(b.out_proj, H, H,
                   io::FindStoredFp8Scales(
                       stored, i, attention ? "inner_mha_cls.out_proj" : "out_filter_dense")));
      // l1 and l2 share one scale (one linear, NeMo's linear_fc1).
      ASSIGN_OR_RETURN(const StoredFp8Scales* l12, io::StoredFp8ScalesOfMlpL12(stored, i));
      ASSIGN_OR_RETURN(b.mlp_l12_fp8, quantize(b.mlp_l12, 2 * I, H, l12));
      ASSIGN_OR_RETURN(b.mlp_l3_fp8,
                       quantize(b.mlp_l3, H, I, io::FindStoredFp8Scales(stored, i, "mlp.l3")));
    }
  }
  // The amax scratch is reused by every launch above: finish before it could be freed.
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  return absl::OkStatus();
}

}  // namespace evo2::cuda
