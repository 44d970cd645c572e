#include "cuda/nemotron_h/nemotron_h_device_weights.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "kernels/convert.cuh"
#include "kernels/cuda_status.cuh"
#include "kernels/random_fill.cuh"

namespace evo2::cuda {
namespace {

using hf::NemotronHConfig;
using hf::NemotronHLayerKind;

// Element counts of one layer's tensors, split by storage type.
struct LayerSizes {
  int64_t act = 0, fp32 = 0;
};

LayerSizes SizesOf(const NemotronHConfig& c, NemotronHLayerKind kind) {
  const int64_t H = c.hidden_size;
  LayerSizes s;
  s.act = H;  // norm
  switch (kind) {
    case NemotronHLayerKind::kMamba:
      s.act += c.InProjRows() * H + c.MambaInner() + H * c.MambaInner();
      s.fp32 += c.ConvChannels() * (c.conv_kernel + 1) + 3 * c.mamba_num_heads;
      break;
    case NemotronHLayerKind::kAttention: {
      const int64_t d = c.attention_head_dim;
      s.act += (c.num_attention_heads + 2 * c.num_key_value_heads) * d * H +
               H * c.num_attention_heads * AttentionKernelHeadDim(d);
      break;
    }
    case NemotronHLayerKind::kMlp:
      s.act += 2 * c.intermediate_size * H;
      break;
  }
  return s;
}

size_t Round256(size_t bytes) { return (bytes + 255) / 256 * 256; }

bool HasAttention(const NemotronHConfig& c) {
  for (NemotronHLayerKind kind : c.layers) {
    if (kind == NemotronHLayerKind::kAttention) return true;
  }
  return false;
}

absl::Status CheckAttentionHeadDim(const NemotronHConfig& c) {
  if (HasAttention(c) && AttentionKernelHeadDim(c.attention_head_dim) == 0)
    return absl::UnimplementedError(absl::StrCat("NemotronH on cuda: attention head dim ",
                                                 c.attention_head_dim,
                                                 " is larger than the attention kernels' 128"));
  return absl::OkStatus();
}

}  // namespace

int64_t AttentionKernelHeadDim(int64_t d) {
  constexpr int64_t kCompiled[] = {32, 64, 128};
  if (d <= 0) return 0;
  for (int64_t p : kCompiled) {
    if (p == d) return d;
  }
  for (int64_t p : kCompiled) {
    if (p > d && p % d == 0) {
      const int64_t ratio = p / d;
      const bool power_of_4 = (ratio & (ratio - 1)) == 0 && (ratio & 0x5555555555555555LL) != 0;
      if (power_of_4) return p;
    }
  }
  for (int64_t p : kCompiled) {
    if (p > d) return p;
  }
  return 0;
}

size_t PlannedNemotronHWeightBytes(const NemotronHConfig& c, DType act_dtype) {
  const size_t a = DTypeSize(act_dtype);
  size_t bytes = Round256(c.vocab_size * c.hidden_size * a) * (c.tie_word_embeddings ? 1 : 2) +
                 Round256(c.hidden_size * a);
  for (NemotronHLayerKind kind : c.layers) {
    const LayerSizes s = SizesOf(c, kind);
    // Each tensor is its own allocation: a generous 256 bytes of rounding per tensor.
    bytes += s.act * a + s.fp32 * sizeof(float) + 12 * 256;
  }
  return bytes;
}

absl::StatusOr<void*> DeviceNemotronHWeights::Allocate(int64_t n, DType dtype) {
  ASSIGN_OR_RETURN(auto buf,
                   kernels::DeviceBuffer::Allocate(static_cast<size_t>(n) * DTypeSize(dtype)));
  bytes += buf.bytes();
  void* p = buf.get();
  buffers_.push_back(std::move(buf));
  return p;
}

absl::StatusOr<DeviceNemotronHWeights> DeviceNemotronHWeights::Upload(const NemotronHConfig& c,
                                                                      const hf::NemotronHWeights& w,
                                                                      DType act,
                                                                      cudaStream_t stream) {
  if (act != DType::kBFloat16 && act != DType::kFloat32)
    return absl::InvalidArgumentError("NemotronH cuda weights: activations are bf16 or fp32");
  RETURN_IF_ERROR(CheckAttentionHeadDim(c));
  DeviceNemotronHWeights d;
  d.act_dtype = act;
  kernels::DeviceBuffer staging;  // fp32 copy of the tensor being converted, grown as needed
  // One host tensor (or several concatenated) -> a new device tensor of `dtype`.
  auto upload = [&](std::initializer_list<const std::vector<float>*> parts,
                    DType dtype) -> absl::StatusOr<void*> {
    int64_t n = 0;
    for (const auto* p : parts) n += static_cast<int64_t>(p->size());
    ASSIGN_OR_RETURN(void* dst, d.Allocate(n, dtype));
    float* target = static_cast<float*>(dst);
    if (dtype != DType::kFloat32) {
      if (staging.bytes() < static_cast<size_t>(n) * sizeof(float)) {
        staging.Reset();
        ASSIGN_OR_RETURN(staging, kernels::DeviceBuffer::Allocate(n * sizeof(float)));
      }
      target = staging.as<float>();
    }
    int64_t off = 0;
    for (const auto* p : parts) {
      CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(target + off, p->data(), p->size() * sizeof(float),
                                           cudaMemcpyHostToDevice, stream));
      off += static_cast<int64_t>(p->size());
    }
    if (dtype == DType::kBFloat16)
      RETURN_IF_ERROR(kernels::LaunchConvert<float, __nv_bfloat16>(
          target, static_cast<__nv_bfloat16*>(dst), n, stream));
    // The host vectors and the staging buffer are reused right away: wait for the copy.
    CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
    return dst;
  };
  auto fp32 = [&](const std::vector<float>& v) -> absl::StatusOr<const float*> {
    ASSIGN_OR_RETURN(void* p, upload({&v}, DType::kFloat32));
    return static_cast<const float*>(p);
  };
  ASSIGN_OR_RETURN(d.embedding, upload({&w.embedding}, act));
  ASSIGN_OR_RETURN(d.final_norm, upload({&w.norm_f}, act));
  if (c.tie_word_embeddings) {
    d.lm_head = d.embedding;
  } else {
    ASSIGN_OR_RETURN(d.lm_head, upload({&w.lm_head}, act));
  }
  for (const hf::NemotronHLayerWeights& lw : w.layers) {
    DeviceNemotronHLayer l;
    l.kind = lw.kind;
    ASSIGN_OR_RETURN(l.norm, upload({&lw.norm}, act));
    switch (lw.kind) {
      case NemotronHLayerKind::kMamba: {
        const hf::NemotronHMambaWeights& m = lw.mamba;
        ASSIGN_OR_RETURN(l.in_proj, upload({&m.in_proj}, act));
        ASSIGN_OR_RETURN(l.conv_weight, fp32(m.conv_weight));
        ASSIGN_OR_RETURN(l.conv_bias, fp32(m.conv_bias));
        ASSIGN_OR_RETURN(l.dt_bias, fp32(m.dt_bias));
        ASSIGN_OR_RETURN(l.A, fp32(m.A));
        ASSIGN_OR_RETURN(l.D, fp32(m.D));
        ASSIGN_OR_RETURN(l.gated_norm, upload({&m.norm}, act));
        ASSIGN_OR_RETURN(l.out_proj, upload({&m.out_proj}, act));
        break;
      }
      case NemotronHLayerKind::kAttention: {
        const hf::NemotronHAttentionWeights& a = lw.attention;
        ASSIGN_OR_RETURN(l.qkv_proj, upload({&a.q_proj, &a.k_proj, &a.v_proj}, act));
        // o_proj [H, n_q·d] -> [H, n_q·d_k] with zero columns d … d_k−1 in every head.
        const int64_t H = c.hidden_size, nq = c.num_attention_heads, hd = c.attention_head_dim;
        const int64_t dk = AttentionKernelHeadDim(hd);
        std::vector<float> o_wide(static_cast<size_t>(H * nq * dk), 0.f);
        for (int64_t r = 0; r < H; ++r)
          for (int64_t h = 0; h < nq; ++h)
            std::copy_n(a.o_proj.begin() + (r * nq + h) * hd, hd,
                        o_wide.begin() + (r * nq + h) * dk);
        ASSIGN_OR_RETURN(l.o_proj, upload({&o_wide}, act));
        break;
      }
      case NemotronHLayerKind::kMlp: {
        ASSIGN_OR_RETURN(l.up_proj, upload({&lw.mlp.up_proj}, act));
        ASSIGN_OR_RETURN(l.down_proj, upload({&lw.mlp.down_proj}, act));
        break;
      }
    }
    d.layers.push_back(l);
  }
  return d;
}

absl::StatusOr<DeviceNemotronHWeights> DeviceNemotronHWeights::Random(const NemotronHConfig& c,
                                                                      DType act, uint64_t seed,
                                                                      cudaStream_t stream) {
  if (act != DType::kBFloat16 && act != DType::kFloat32)
    return absl::InvalidArgumentError("NemotronH cuda weights: activations are bf16 or fp32");
  RETURN_IF_ERROR(CheckAttentionHeadDim(c));
  DeviceNemotronHWeights d;
  d.act_dtype = act;
  // U(lo, hi) into a new tensor of `dtype` with the next seed.
  auto fill = [&](int64_t n, float lo, float hi, DType dtype) -> absl::StatusOr<void*> {
    ASSIGN_OR_RETURN(void* p, d.Allocate(n, dtype));
    if (dtype == DType::kBFloat16) {
      RETURN_IF_ERROR(kernels::LaunchFillUniform<__nv_bfloat16>(static_cast<__nv_bfloat16*>(p), n,
                                                                lo, hi, seed++, stream));
    } else {
      RETURN_IF_ERROR(
          kernels::LaunchFillUniform<float>(static_cast<float*>(p), n, lo, hi, seed++, stream));
    }
    return p;
  };
  // Linear [out, in]: U(±√3/√in), variance 1/in (activations keep their scale).
  auto linear = [&](int64_t out, int64_t in) {
    const float r = std::sqrt(3.f / static_cast<float>(in));
    return fill(out * in, -r, r, act);
  };
  auto fp32 = [&](int64_t n, float lo, float hi) -> absl::StatusOr<const float*> {
    ASSIGN_OR_RETURN(void* p, fill(n, lo, hi, DType::kFloat32));
    return static_cast<const float*>(p);
  };
  const int64_t H = c.hidden_size, V = c.vocab_size, nh = c.mamba_num_heads;
  ASSIGN_OR_RETURN(d.embedding, fill(V * H, -1.7f, 1.7f, act));
  ASSIGN_OR_RETURN(d.final_norm, fill(H, 0.9f, 1.1f, act));
  if (c.tie_word_embeddings) {
    d.lm_head = d.embedding;
  } else {
    ASSIGN_OR_RETURN(d.lm_head, linear(V, H));
  }
  for (NemotronHLayerKind kind : c.layers) {
    DeviceNemotronHLayer l;
    l.kind = kind;
    ASSIGN_OR_RETURN(l.norm, fill(H, 0.9f, 1.1f, act));
    switch (kind) {
      case NemotronHLayerKind::kMamba: {
        ASSIGN_OR_RETURN(l.in_proj, linear(c.InProjRows(), H));
        ASSIGN_OR_RETURN(l.conv_weight, fp32(c.ConvChannels() * c.conv_kernel, -0.5f, 0.5f));
        ASSIGN_OR_RETURN(l.conv_bias, fp32(c.ConvChannels(), -0.1f, 0.1f));
        // softplus⁻¹ of Δ₀ ∈ [1e-3, 1e-1] (Mamba-2's dt initialisation range).
        ASSIGN_OR_RETURN(l.dt_bias, fp32(nh, -6.9f, -2.25f));
        ASSIGN_OR_RETURN(l.A, fp32(nh, -16.f, -1.f));
        ASSIGN_OR_RETURN(l.D, fp32(nh, 0.5f, 1.5f));
        ASSIGN_OR_RETURN(l.gated_norm, fill(c.MambaInner(), 0.9f, 1.1f, act));
        ASSIGN_OR_RETURN(l.out_proj, linear(H, c.MambaInner()));
        break;
      }
      case NemotronHLayerKind::kAttention: {
        const int64_t qd = c.num_attention_heads * c.attention_head_dim;
        const int64_t kvd = c.num_key_value_heads * c.attention_head_dim;
        ASSIGN_OR_RETURN(l.qkv_proj, linear(qd + 2 * kvd, H));
        // Random values in the padding columns too: they multiply the zero columns of the
        // attention output.
        ASSIGN_OR_RETURN(l.o_proj, linear(H, c.num_attention_heads *
                                                 AttentionKernelHeadDim(c.attention_head_dim)));
        break;
      }
      case NemotronHLayerKind::kMlp: {
        ASSIGN_OR_RETURN(l.up_proj, linear(c.intermediate_size, H));
        ASSIGN_OR_RETURN(l.down_proj, linear(H, c.intermediate_size));
        break;
      }
    }
    d.layers.push_back(l);
  }
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  return d;
}

}  // namespace evo2::cuda
