#include "cuda/cuda_weights.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"
#include "kernels/random_fill.cuh"

namespace evo2::cuda {
namespace {

using kernels::DeviceBuffer;

std::string BlockKey(int i, std::string_view suffix) {
  return absl::StrCat("blocks.", i, ".", std::string(suffix));
}

absl::StatusOr<std::vector<float>> HostFloats(const TensorMap& tensors, const std::string& name,
                                              int64_t expected_numel) {
  auto it = tensors.find(name);
  if (it == tensors.end()) return absl::NotFoundError(absl::StrCat("missing tensor '", name, "'"));
  if (it->second.numel() != expected_numel)
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' is ",
                                                   it->second.DebugString(), ", expected ",
                                                   expected_numel, " elements"));
  auto values = it->second.ToFloat32();
  if (!values.ok())
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "': ", values.status().message()));
  return std::move(*values);
}

// Copies host fp32 values to `dst` as `dtype` (bf16 rounding to nearest even).
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

// Stores a fresh device allocation into a typed weight pointer of the block.
template <typename T>
absl::Status StoreAs(const T*& field, absl::StatusOr<void*> allocation) {
  RETURN_IF_ERROR(allocation.status());
  field = static_cast<const T*>(*allocation);
  return absl::OkStatus();
}

// Rows [r0, r1) of a row-major [*, cols] matrix, in place.
void KeepRows(std::vector<float>& m, int64_t cols, int64_t r0, int64_t r1) {
  m = std::vector<float>(m.begin() + r0 * cols, m.begin() + r1 * cols);
}

// Columns [c0, c1) of a row-major [*, cols] matrix, in place.
void KeepCols(std::vector<float>& m, int64_t cols, int64_t c0, int64_t c1) {
  const int64_t rows = static_cast<int64_t>(m.size()) / cols;
  std::vector<float> out(static_cast<size_t>(rows * (c1 - c0)));
  for (int64_t r = 0; r < rows; ++r)
    std::copy(m.begin() + r * cols + c0, m.begin() + r * cols + c1, out.begin() + r * (c1 - c0));
  m = std::move(out);
}

}  // namespace

size_t PlannedWeightBytes(const ModelConfig& c, DType act_dtype) {
  const int64_t H = c.hidden_size, I = c.inner_mlp_size, V = c.vocab_size;
  int64_t act = V * H + H, f32 = 0;
  for (BlockKind kind : c.block_kinds) {
    act += 2 * H + 2 * I * H + H * I + 3 * H * H + H * H;  // norms, MLP, in/out projections
    switch (kind) {
      case BlockKind::kAttn:
        act += c.attn_out_proj_bias ? H : 0;
        f32 += c.head_dim / 2;
        break;
      case BlockKind::kHcs:
        act += H;
        f32 += 3 * H * 3 + int64_t{c.hcs_filter_groups} * c.hcs_filter_length;
        break;
      case BlockKind::kHcm:
        act += H;
        f32 += 3 * H * 3 + int64_t{c.hcm_filter_groups} * c.hcm_filter_length + H;
        break;
      case BlockKind::kHcl:
        act += H;
        f32 += 3 * H * 3 + H + 2 * H * 16;
        break;
    }
  }
  return static_cast<size_t>(act) * DTypeSize(act_dtype) + static_cast<size_t>(f32) * 4;
}

absl::StatusOr<void*> DeviceWeights::Allocate(int64_t n, DType dtype) {
  ASSIGN_OR_RETURN(auto buf, DeviceBuffer::Allocate(static_cast<size_t>(n) * DTypeSize(dtype)));
  void* p = buf.get();
  bytes += buf.bytes();
  buffers_.push_back(std::move(buf));
  return p;
}

absl::StatusOr<DeviceWeights> DeviceWeights::Upload(const ModelConfig& config,
                                                    const TensorMap& tensors, DType act_dtype,
                                                    TensorParallelShard shard) {
  DeviceWeights w;
  w.act_dtype = act_dtype;
  const int64_t H = config.hidden_size, I = config.inner_mlp_size, V = config.vocab_size;
  const int T = shard.size, r = shard.rank;
  if (T < 1 || r < 0 || r >= T || H % T != 0 || I % T != 0 || V % T != 0)
    return absl::InvalidArgumentError(absl::StrCat("tensor-parallel shard ", r, " of ", T,
                                                   " does not divide H=", H, ", I=", I, ", V=", V));
  const int64_t Hl = H / T, Il = I / T, Vl = V / T;
  // Uploads tensor `name` ([numel] elements in the file) as `dtype`, after a host transform (the
  // layout change and the TP cut, which may shrink it).
  auto put = [&](const std::string& name, int64_t numel, DType dtype,
                 auto&& transform) -> absl::StatusOr<void*> {
    ASSIGN_OR_RETURN(auto values, HostFloats(tensors, name, numel));
    transform(values);
    ASSIGN_OR_RETURN(auto p, w.Allocate(static_cast<int64_t>(values.size()), dtype));
    RETURN_IF_ERROR(CopyToDevice(p, values, dtype));
    return p;
  };
  auto same = [](std::vector<float>&) {};
  // This rank's rows (column-parallel) or columns (row-parallel) of a [*, cols] matrix.
  auto rows = [](int64_t width, int64_t r0, int64_t r1) {
    return [=](std::vector<float>& v) { KeepRows(v, width, r0, r1); };
  };
  auto cols = [](int64_t width, int64_t c0, int64_t c1) {
    return [=](std::vector<float>& v) { KeepCols(v, width, c0, c1); };
  };
  auto channels = rows(1, r * Hl, (r + 1) * Hl);  // a per-channel vector [H]

  // Vocabulary rows, plus the zero row of the masked lookup when split.
  RETURN_IF_ERROR(StoreAs(
      w.embedding, put("embedding_layer.weight", V * H, act_dtype, [&](std::vector<float>& v) {
        if (T == 1) return;
        KeepRows(v, H, r * Vl, (r + 1) * Vl);
        v.resize(v.size() + H, 0.f);
      })));
  RETURN_IF_ERROR(StoreAs(w.final_norm, put("norm.scale", H, act_dtype, same)));
  for (int i = 0; i < config.num_layers; ++i) {
    DeviceBlockWeights b;
    b.kind = config.block_kinds.at(i);
    RETURN_IF_ERROR(StoreAs(b.pre_norm, put(BlockKey(i, "pre_norm.scale"), H, act_dtype, same)));
    RETURN_IF_ERROR(StoreAs(b.post_norm, put(BlockKey(i, "post_norm.scale"), H, act_dtype, same)));
    {
      ASSIGN_OR_RETURN(auto l1, HostFloats(tensors, BlockKey(i, "mlp.l1.weight"), I * H));
      ASSIGN_OR_RETURN(auto l2, HostFloats(tensors, BlockKey(i, "mlp.l2.weight"), I * H));
      KeepRows(l1, H, r * Il, (r + 1) * Il);
      KeepRows(l2, H, r * Il, (r + 1) * Il);
      l1.insert(l1.end(), l2.begin(), l2.end());  // [2I/T, H]: l1 rows then l2 rows
      ASSIGN_OR_RETURN(auto p, w.Allocate(2 * Il * H, act_dtype));
      RETURN_IF_ERROR(CopyToDevice(p, l1, act_dtype));
      b.mlp_l12 = p;
    }
    RETURN_IF_ERROR(StoreAs(b.mlp_l3, put(BlockKey(i, "mlp.l3.weight"), H * I, act_dtype,
                                          cols(I, r * Il, (r + 1) * Il))));
    if (b.kind == BlockKind::kAttn) {
      const std::string p = "inner_mha_cls.";
      // Wqkv rows are per head [q_h; k_h; v_h] (§8): whole heads are 3·Hl contiguous rows.
      RETURN_IF_ERROR(StoreAs(b.in_proj, put(BlockKey(i, p + "Wqkv.weight"), 3 * H * H, act_dtype,
                                             rows(H, 3 * r * Hl, 3 * (r + 1) * Hl))));
      RETURN_IF_ERROR(StoreAs(b.out_proj, put(BlockKey(i, p + "out_proj.weight"), H * H, act_dtype,
                                              cols(H, r * Hl, (r + 1) * Hl))));
      if (config.attn_out_proj_bias) {
        RETURN_IF_ERROR(
            StoreAs(b.out_bias, put(BlockKey(i, p + "out_proj.bias"), H, act_dtype, same)));
      }
      const int half = config.head_dim / 2;
      const std::string freq_name = BlockKey(i, p + "rotary_emb.inv_freq");
      if (tensors.count(freq_name) != 0) {
        RETURN_IF_ERROR(StoreAs(b.inv_freq, put(freq_name, half, DType::kFloat32, same)));
      } else {
        // §8: vortex uses the stored inv_freq; without one, f_i = base^(-2i/d).
        std::vector<float> f(half);
        for (int k = 0; k < half; ++k)
          f[k] = static_cast<float>(std::pow(config.rotary_base, -2.0 * k / config.head_dim));
        ASSIGN_OR_RETURN(auto dp, w.Allocate(half, DType::kFloat32));
        RETURN_IF_ERROR(CopyToDevice(dp, f, DType::kFloat32));
        b.inv_freq = static_cast<const float*>(dp);
      }
    } else {
      // Channel c's q, k, v rows are 3c..3c+2 (§7): the rank's channels are 3·Hl contiguous rows.
      RETURN_IF_ERROR(StoreAs(b.in_proj, put(BlockKey(i, "projections.weight"), 3 * H * H,
                                             act_dtype, rows(H, 3 * r * Hl, 3 * (r + 1) * Hl))));
      RETURN_IF_ERROR(StoreAs(b.out_proj, put(BlockKey(i, "out_filter_dense.weight"), H * H,
                                              act_dtype, cols(H, r * Hl, (r + 1) * Hl))));
      RETURN_IF_ERROR(
          StoreAs(b.out_bias, put(BlockKey(i, "out_filter_dense.bias"), H, act_dtype, same)));
      RETURN_IF_ERROR(StoreAs(
          b.short_taps,
          put(BlockKey(i, "filter.short_filter_weight"), 3 * H * config.short_filter_length,
              DType::kFloat32, rows(config.short_filter_length, 3 * r * Hl, 3 * (r + 1) * Hl))));
      if (config.short_filter_length != 3)
        return absl::UnimplementedError(absl::StrCat("featurizer of ", config.short_filter_length,
                                                     " taps (only 3 is implemented)"));
      if (b.kind == BlockKind::kHcs) {
        const int K = config.hcs_filter_length, G = config.hcs_filter_groups;
        if (G % T != 0)
          return absl::InvalidArgumentError(
              absl::StrCat("hcs filter groups ", G, " are not divisible by TP=", T));
        b.fir_groups = G / T;
        b.fir_length = K;
        // §7: hcs taps are conv order; reverse to impulse order for the shared FIR kernel. A TP
        // rank keeps its whole groups.
        auto reverse = [K, G, T, r](std::vector<float>& v) {
          KeepRows(v, K, int64_t{r} * (G / T), int64_t{r + 1} * (G / T));
          for (size_t j = 0; j + K <= v.size(); j += K)
            std::reverse(v.begin() + j, v.begin() + j + K);
        };
        RETURN_IF_ERROR(StoreAs(
            b.fir_taps, put(BlockKey(i, "filter.h"), int64_t{G} * K, DType::kFloat32, reverse)));
      } else if (b.kind == BlockKind::kHcm) {
        const int K = config.hcm_filter_length, G = config.hcm_filter_groups;
        if (G % T != 0)
          return absl::InvalidArgumentError(
              absl::StrCat("hcm filter groups ", G, " are not divisible by TP=", T));
        b.fir_groups = G / T;
        b.fir_length = K;
        RETURN_IF_ERROR(
            StoreAs(b.fir_taps, put(BlockKey(i, "filter.h"), int64_t{G} * K, DType::kFloat32,
                                    rows(K, int64_t{r} * (G / T), int64_t{r + 1} * (G / T)))));
        RETURN_IF_ERROR(
            StoreAs(b.skip_d, put(BlockKey(i, "filter.D"), H, DType::kFloat32, channels)));
      } else {
        if (config.hcl_modes != 16)
          return absl::UnimplementedError(
              absl::StrCat("hcl with ", config.hcl_modes, " modes (only 16 is compiled)"));
        RETURN_IF_ERROR(
            StoreAs(b.skip_d, put(BlockKey(i, "filter.D"), H, DType::kFloat32, channels)));
        RETURN_IF_ERROR(StoreAs(b.log_poles, put(BlockKey(i, "filter.log_poles"), H * 16,
                                                 DType::kFloat32, rows(16, r * Hl, (r + 1) * Hl))));
        RETURN_IF_ERROR(StoreAs(b.residues, put(BlockKey(i, "filter.residues"), H * 16,
                                                DType::kFloat32, rows(16, r * Hl, (r + 1) * Hl))));
      }
    }
    w.blocks.push_back(b);
  }
  return w;
}

absl::StatusOr<DeviceWeights> DeviceWeights::Random(const ModelConfig& config, DType act_dtype,
                                                    uint64_t seed, TensorParallelShard shard) {
  DeviceWeights w;
  w.act_dtype = act_dtype;
  const int64_t H = config.hidden_size, I = config.inner_mlp_size, V = config.vocab_size;
  const int T = shard.size;
  if (T < 1 || shard.rank < 0 || shard.rank >= T || H % T != 0 || I % T != 0 || V % T != 0)
    return absl::InvalidArgumentError(absl::StrCat("tensor-parallel shard ", shard.rank, " of ", T,
                                                   " does not divide H=", H, ", I=", I, ", V=", V));
  // Local sizes of the rank's part (the values are random either way; the seed differs per rank).
  const int64_t Hl = H / T, Il = I / T, Vl = V / T;
  seed += static_cast<uint64_t>(shard.rank) * 1000003u;
  uint64_t counter = seed;
  // Uniform in [lo, hi) of `dtype` (std of uniform ±a is a/√3).
  auto fill = [&](int64_t n, DType dtype, float lo, float hi) -> absl::StatusOr<void*> {
    ASSIGN_OR_RETURN(void* p, w.Allocate(n, dtype));
    RETURN_IF_ERROR(dtype == DType::kFloat32
                        ? kernels::LaunchFillUniform(static_cast<float*>(p), n, lo, hi, ++counter,
                                                     nullptr)
                        : kernels::LaunchFillUniform(static_cast<__nv_bfloat16*>(p), n, lo, hi,
                                                     ++counter, nullptr));
    return p;
  };
  const float in_scale = std::sqrt(3.f / static_cast<float>(H));  // unit-variance outputs
  const float branch = in_scale / std::sqrt(2.f * config.num_layers);
  RETURN_IF_ERROR(StoreAs(w.embedding, fill((Vl + (T > 1 ? 1 : 0)) * H, act_dtype, -1.f, 1.f)));
  if (T > 1)  // the masked lookup's zero row
    CUDA_RETURN_IF_ERROR(cudaMemset(
        static_cast<char*>(const_cast<void*>(w.embedding)) + Vl * H * DTypeSize(act_dtype), 0,
        H * DTypeSize(act_dtype)));
  RETURN_IF_ERROR(StoreAs(w.final_norm, fill(H, act_dtype, 0.9f, 1.1f)));
  for (int i = 0; i < config.num_layers; ++i) {
    DeviceBlockWeights b;
    b.kind = config.block_kinds.at(i);
    RETURN_IF_ERROR(StoreAs(b.pre_norm, fill(H, act_dtype, 0.9f, 1.1f)));
    RETURN_IF_ERROR(StoreAs(b.post_norm, fill(H, act_dtype, 0.9f, 1.1f)));
    RETURN_IF_ERROR(StoreAs(b.mlp_l12, fill(2 * Il * H, act_dtype, -in_scale, in_scale)));
    RETURN_IF_ERROR(
        StoreAs(b.mlp_l3, fill(H * Il, act_dtype, -std::sqrt(3.f / I), std::sqrt(3.f / I))));
    RETURN_IF_ERROR(StoreAs(b.in_proj, fill(3 * Hl * H, act_dtype, -in_scale, in_scale)));
    RETURN_IF_ERROR(StoreAs(b.out_proj, fill(H * Hl, act_dtype, -branch, branch)));
    if (b.kind != BlockKind::kAttn || config.attn_out_proj_bias)
      RETURN_IF_ERROR(StoreAs(b.out_bias, fill(H, act_dtype, -0.1f, 0.1f)));
    if (b.kind == BlockKind::kAttn) {
      const int half = config.head_dim / 2;
      std::vector<float> f(half);
      for (int k = 0; k < half; ++k)
        f[k] = static_cast<float>(std::pow(config.rotary_base, -2.0 * k / config.head_dim));
      ASSIGN_OR_RETURN(auto p, w.Allocate(half, DType::kFloat32));
      RETURN_IF_ERROR(CopyToDevice(p, f, DType::kFloat32));
      b.inv_freq = static_cast<const float*>(p);
    } else {
      RETURN_IF_ERROR(StoreAs(b.short_taps, fill(3 * Hl * 3, DType::kFloat32, -1.f, 1.f)));
      if (b.kind == BlockKind::kHcs || b.kind == BlockKind::kHcm) {
        b.fir_length = b.kind == BlockKind::kHcs ? config.hcs_filter_length : config.hcm_filter_length;
        b.fir_groups =
            (b.kind == BlockKind::kHcs ? config.hcs_filter_groups : config.hcm_filter_groups) / T;
        const float a = std::sqrt(3.f / b.fir_length);
        RETURN_IF_ERROR(StoreAs(b.fir_taps, fill(int64_t{b.fir_groups} * b.fir_length, DType::kFloat32, -a, a)));
      }
      if (b.kind != BlockKind::kHcs)
        RETURN_IF_ERROR(StoreAs(b.skip_d, fill(Hl, DType::kFloat32, -0.3f, 0.3f)));
      if (b.kind == BlockKind::kHcl) {
        // Decay rates ≤ 0.3 per token, residues O(0.1) (docs/spec/model.md §11 ranges, widened).
        RETURN_IF_ERROR(StoreAs(b.log_poles, fill(Hl * 16, DType::kFloat32, -0.3f, -1e-4f)));
        RETURN_IF_ERROR(StoreAs(b.residues, fill(Hl * 16, DType::kFloat32, -0.1f, 0.1f)));
      }
    }
    w.blocks.push_back(b);
  }
  CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
  return w;
}

}  // namespace evo2::cuda
