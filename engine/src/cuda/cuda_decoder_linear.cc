#include "cuda/cuda_decoder_linear.h"

#include <cuda_bf16.h>

#include <cstdlib>
#include <string_view>

#include "evo2/status_macros.h"
#include "kernels/mlp_gate.cuh"
#include "kernels/skinny_gemm.cuh"

namespace evo2::cuda {

DecodeLinear::DecodeLinear(GemmRunner& gemm, DType act, cudaStream_t stream)
    : gemm_(gemm), act_(act), stream_(stream) {
  if (const char* v = std::getenv("EVO2_CUDA_DECODE_GEMV"); v != nullptr)
    skinny_ = std::string_view(v) != "0";
  if (const char* v = std::getenv("EVO2_CUDA_DECODE_PDL"); v != nullptr)
    programmatic_ = std::string_view(v) != "0";
  if (const char* v = std::getenv("EVO2_CUDA_DECODE_GATE_EPILOGUE"); v != nullptr)
    gate_epilogue_ = std::string_view(v) != "0";
  if (const char* v = std::getenv("EVO2_CUDA_DECODE_UNROLL"); v != nullptr) {
    const int u = std::atoi(v);
    unroll_ = u == 4 || u == 8 || u == 16 ? u : 0;  // anything else: by K
  }
}

template <typename T>
absl::Status DecodeLinear::Run(DType result, const GemmArgs& g) const {
  if (skinny_ && g.rows <= kernels::kSkinnyGemmMaxRows) {
    const kernels::SkinnyGemmArgs a{.x = g.x,
                                    .ldx = g.ldx,
                                    .w = g.w,
                                    .y = g.y,
                                    .ldy = g.ldy,
                                    .rows = g.rows,
                                    .in = g.in,
                                    .out = g.out,
                                    .accumulate = g.beta != 0.f,
                                    .unroll = unroll_,
                                    .programmatic = programmatic_};
    const absl::Status s = result == DType::kFloat32
                               ? kernels::LaunchSkinnyGemm<T, float>(a, stream_)
                               : kernels::LaunchSkinnyGemm<T, T>(a, stream_);
    if (s.code() != absl::StatusCode::kUnimplemented) return s;  // else: a shape for cuBLAS
  }
  return gemm_.Run(act_, result, g);
}

template <typename T>
absl::Status DecodeLinear::RunGatedMlp(const GemmArgs& g, bool gelu) const {
  if (skinny_ && gate_epilogue_ && g.rows <= kernels::kSkinnyGemmMaxRows && g.out % 2 == 0) {
    const kernels::SkinnyGemmArgs a{.x = g.x,
                                    .ldx = g.ldx,
                                    .gelu = gelu,
                                    .w = g.w,
                                    .y = g.y,
                                    .ldy = g.ldy,
                                    .rows = g.rows,
                                    .in = g.in,
                                    .out = g.out / 2,
                                    .output = kernels::SkinnyOutput::kGatedMlp,
                                    .unroll = unroll_,
                                    .programmatic = programmatic_};
    const absl::Status s = kernels::LaunchSkinnyGemm<T, T>(a, stream_);
    if (s.code() != absl::StatusCode::kUnimplemented) return s;  // else: apart, below
  }
  RETURN_IF_ERROR(Run<T>(act_, g));
  return kernels::LaunchMlpGate<T>(static_cast<T*>(g.y), g.rows, g.out / 2, gelu, stream_);
}

template absl::Status DecodeLinear::Run<float>(DType, const GemmArgs&) const;
template absl::Status DecodeLinear::Run<__nv_bfloat16>(DType, const GemmArgs&) const;
template absl::Status DecodeLinear::RunGatedMlp<float>(const GemmArgs&, bool) const;
template absl::Status DecodeLinear::RunGatedMlp<__nv_bfloat16>(const GemmArgs&, bool) const;

}  // namespace evo2::cuda
