#include "cuda/cuda_decoder_linear.h"

#include <cuda_bf16.h>

#include <cstdlib>
#include <string_view>

#include "evo2/status_macros.h"
#include "kernels/mlp_gate.cuh"
#include "kernels/rms_norm.cuh"
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
  if (const char* v = std::getenv("EVO2_CUDA_DECODE_FP8"); v != nullptr)
    fp8_weights_ = std::string_view(v) != "0";
  if (const char* v = std::getenv("EVO2_CUDA_DECODE_UNROLL"); v != nullptr) {
    const int u = std::atoi(v);
    unroll_ = u == 4 || u == 8 || u == 16 ? u : 0;  // anything else: by K
  }
}

const DeviceFp8Linear* DecodeLinear::StreamedFp8Copy(const DeviceFp8Linear* w8, int64_t in) const {
  // The copy's rows are padded to k (a multiple of 16); the kernels read exactly `in` columns.
  if (!fp8_weights_ || w8 == nullptr || !w8->present() || w8->k != in) return nullptr;
  return w8;
}

void DecodeLinear::UseFp8Copy(const DeviceFp8Linear* w8, kernels::SkinnyGemmArgs& a) const {
  if (const DeviceFp8Linear* copy = StreamedFp8Copy(w8, a.in); copy != nullptr) {
    a.w = copy->q;
    a.w_inv_scale = copy->inv_scale;
  }
}

namespace {

// The RMSNorm as its own kernel into norm.z, which the product then reads.
template <typename T>
absl::Status NormApart(const DecodeNorm& norm, GemmArgs& g, cudaStream_t stream) {
  RETURN_IF_ERROR(kernels::LaunchRmsNorm<T>(
      norm.x, static_cast<const T*>(norm.bias), static_cast<const T*>(norm.scale),
      static_cast<T*>(norm.z), g.rows, g.in, norm.eps, stream));
  g.x = norm.z;
  g.ldx = g.in;
  return absl::OkStatus();
}

}  // namespace

template <typename T>
absl::Status DecodeLinear::RunNormed(DType result, GemmArgs g, const DecodeNorm& norm,
                                     const DeviceFp8Linear* w8) const {
  RETURN_IF_ERROR(NormApart<T>(norm, g, stream_));
  return Run<T>(result, g, w8);
}

template <typename T>
absl::Status DecodeLinear::RunNormedGatedMlp(GemmArgs g, bool gelu, const DecodeNorm& norm,
                                             const DeviceFp8Linear* w8) const {
  RETURN_IF_ERROR(NormApart<T>(norm, g, stream_));
  return RunGatedMlp<T>(g, gelu, w8);
}

template <typename T>
absl::Status DecodeLinear::Run(DType result, const GemmArgs& g, const DeviceFp8Linear* w8) const {
  if (skinny_ && g.rows <= kernels::kSkinnyGemmMaxRows) {
    kernels::SkinnyGemmArgs a{.x = g.x,
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
    UseFp8Copy(w8, a);
    const absl::Status s = result == DType::kFloat32
                               ? kernels::LaunchSkinnyGemm<T, float>(a, stream_)
                               : kernels::LaunchSkinnyGemm<T, T>(a, stream_);
    if (s.code() != absl::StatusCode::kUnimplemented) return s;  // else: a shape for cuBLAS
  }
  return gemm_.Run(act_, result, g);
}

template <typename T>
absl::Status DecodeLinear::RunGatedMlp(const GemmArgs& g, bool gelu,
                                       const DeviceFp8Linear* w8) const {
  if (skinny_ && gate_epilogue_ && g.rows <= kernels::kSkinnyGemmMaxRows && g.out % 2 == 0) {
    kernels::SkinnyGemmArgs a{.x = g.x,
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
    UseFp8Copy(w8, a);
    const absl::Status s = kernels::LaunchSkinnyGemm<T, T>(a, stream_);
    if (s.code() != absl::StatusCode::kUnimplemented) return s;  // else: apart, below
  }
  RETURN_IF_ERROR(Run<T>(act_, g, w8));
  return kernels::LaunchMlpGate<T>(static_cast<T*>(g.y), g.rows, g.out / 2, gelu, stream_);
}

template absl::Status DecodeLinear::Run<float>(DType, const GemmArgs&,
                                               const DeviceFp8Linear*) const;
template absl::Status DecodeLinear::Run<__nv_bfloat16>(DType, const GemmArgs&,
                                                       const DeviceFp8Linear*) const;
template absl::Status DecodeLinear::RunNormed<float>(DType, GemmArgs, const DecodeNorm&,
                                                     const DeviceFp8Linear*) const;
template absl::Status DecodeLinear::RunNormed<__nv_bfloat16>(DType, GemmArgs, const DecodeNorm&,
                                                             const DeviceFp8Linear*) const;
template absl::Status DecodeLinear::RunNormedGatedMlp<float>(GemmArgs, bool, const DecodeNorm&,
                                                             const DeviceFp8Linear*) const;
template absl::Status DecodeLinear::RunNormedGatedMlp<__nv_bfloat16>(GemmArgs, bool,
                                                                     const DecodeNorm&,
                                                                     const DeviceFp8Linear*) const;
template absl::Status DecodeLinear::RunGatedMlp<float>(const GemmArgs&, bool,
                                                       const DeviceFp8Linear*) const;
template absl::Status DecodeLinear::RunGatedMlp<__nv_bfloat16>(const GemmArgs&, bool,
                                                               const DeviceFp8Linear*) const;

}  // namespace evo2::cuda
