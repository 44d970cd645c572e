#include "io/nemo2_names.h"

#include <cmath>
#include <cstring>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"

namespace evo2::io {
namespace {

constexpr absl::string_view kLayerPrefix = "decoder.layers.";
// vortex keeps the first 128 taps of the hcm filter (docs/spec/checkpoints.md §7).
constexpr int64_t kHcmTaps = 128;

absl::StatusOr<Tensor> Reshaped(const Tensor& t, std::vector<int64_t> shape) {
  return Tensor::FromBytes(t.dtype(), std::move(shape), t.bytes());
}

// Rows [begin, end) of a 2-D tensor.
absl::StatusOr<Tensor> Rows(const Tensor& t, int64_t begin, int64_t end) {
  const size_t row = static_cast<size_t>(t.dim(1)) * DTypeSize(t.dtype());
  return Tensor::FromBytes(t.dtype(), {end - begin, t.dim(1)},
                           t.bytes().subspan(static_cast<size_t>(begin) * row,
                                             static_cast<size_t>(end - begin) * row));
}

absl::Status ShapeError(const std::string& name, const Tensor& t, std::string_view expected) {
  return absl::InvalidArgumentError(absl::StrCat("NeMo2 tensor '", name, "' is ", t.DebugString(),
                                                 ", expected ", std::string(expected)));
}

// Layer i's NeMo tensors by the name after `decoder.layers.i.`.
using LayerTensors = std::map<std::string, Tensor>;

absl::Status MapLayer(int layer, const LayerTensors& in, const std::optional<NemoRotary>& rotary,
                      TensorMap& out) {
  const std::string b = absl::StrCat("blocks.", layer, ".");
  const std::string nemo = absl::StrCat("decoder.layers.", layer, ".");
  static const std::map<std::string, std::string> kCopies = {
      {"mixer.dense_projection.layer_norm_weight", "pre_norm.scale"},
      {"self_attention.linear_qkv.layer_norm_weight", "pre_norm.scale"},
      {"mlp.linear_fc1.layer_norm_weight", "post_norm.scale"},
      {"mlp.linear_fc2.weight", "mlp.l3.weight"},
      {"mixer.dense_projection.weight", "projections.weight"},
      {"mixer.dense.weight", "out_filter_dense.weight"},
      {"mixer.dense.bias", "out_filter_dense.bias"},
      {"mixer.mixer.short_conv.short_conv_weight", "filter.h"},
      {"mixer.mixer.filter.R", "filter.residues"},
      {"self_attention.linear_qkv.weight", "inner_mha_cls.Wqkv.weight"},
      {"self_attention.linear_proj.weight", "inner_mha_cls.out_proj.weight"},
      {"self_attention.linear_proj.bias", "inner_mha_cls.out_proj.bias"},
  };
  const bool is_hcs = in.count("mixer.mixer.short_conv.short_conv_weight") > 0;
  bool is_attention = false;
  for (const auto& [name, t] : in) {
    const std::string full = nemo + name;
    if (absl::StartsWith(name, "self_attention.")) is_attention = true;
    if (auto it = kCopies.find(name); it != kCopies.end()) {
      if (!out.emplace(b + it->second, t).second) {
        return absl::InvalidArgumentError(absl::StrCat("NeMo2 tensor '", full, "' maps onto '", b,
                                                       it->second, "', which another tensor already filled"));
      }
      continue;
    }
    if (name == "mlp.linear_fc1.weight") {
      // [gate; up] (docs/spec/checkpoints.md §6): gate rows -> l1, up rows -> l2.
      if (t.rank() != 2 || t.dim(0) % 2 != 0) return ShapeError(full, t, "[2F, H]");
      const int64_t f = t.dim(0) / 2;
      ASSIGN_OR_RETURN(out[b + "mlp.l1.weight"], Rows(t, 0, f));
      ASSIGN_OR_RETURN(out[b + "mlp.l2.weight"], Rows(t, f, 2 * f));
    } else if (name == "mixer.hyena_proj_conv.short_conv_weight") {
      // [3H, 3] with fast_conv_proj, [3H, 1, 3] without (docs/spec/checkpoints.md §5).
      if (t.rank() == 3 && t.dim(1) == 1) {
        out[b + "filter.short_filter_weight"] = t;
      } else if (t.rank() == 2) {
        ASSIGN_OR_RETURN(auto r, Reshaped(t, {t.dim(0), 1, t.dim(1)}));
        out[b + "filter.short_filter_weight"] = std::move(r);
      } else {
        return ShapeError(full, t, "[3H, 3] or [3H, 1, 3]");
      }
    } else if (name == "mixer.mixer.conv_bias") {
      // hcm/hcl: the skip term D; hcs (`_nv` models): a bias of the short filter.
      out[b + (is_hcs ? "filter.short_conv_bias" : "filter.D")] = t;
    } else if (name == "mixer.mixer.filter.h" || name == "mixer.mixer.filter.decay") {
      if (name == "mixer.mixer.filter.decay") continue;  // consumed with h
      auto decay_it = in.find("mixer.mixer.filter.decay");
      if (decay_it == in.end()) {
        return absl::InvalidArgumentError(absl::StrCat("NeMo2 tensor '", full, "' has no matching '", nemo,
                                                       "mixer.mixer.filter.decay'"));
      }
      const Tensor& decay = decay_it->second;
      const bool h_ok = t.rank() == 2 || (t.rank() == 3 && t.dim(1) == 1);
      if (!h_ok || decay.shape() != t.shape()) {
        return ShapeError(full, t, absl::StrCat("[G, L] like its decay ", decay.DebugString()));
      }
      const int64_t groups = t.dim(0), len = t.dim(t.rank() - 1);
      const int64_t taps = std::min(len, kHcmTaps);
      ASSIGN_OR_RETURN(const std::vector<float> hv, t.ToFloat32());
      ASSIGN_OR_RETURN(const std::vector<float> dv, decay.ToFloat32());
      // vortex tap = fp32(h * decay): one IEEE fp32 multiply, no flush-to-zero (taps can be
      // subnormal, docs/spec/checkpoints.md §7).
      std::vector<float> taps_out(static_cast<size_t>(groups * taps));
      for (int64_t g = 0; g < groups; ++g) {
        for (int64_t k = 0; k < taps; ++k) {
          taps_out[g * taps + k] = hv[g * len + k] * dv[g * len + k];
        }
      }
      out[b + "filter.h"] = Tensor::FromFloat32({groups, 1, taps}, taps_out);
    } else if (name == "mixer.mixer.filter.p" || name == "mixer.mixer.filter.gamma") {
      if (name == "mixer.mixer.filter.gamma") continue;  // consumed with p
      auto gamma_it = in.find("mixer.mixer.filter.gamma");
      if (gamma_it == in.end()) {
        return absl::InvalidArgumentError(absl::StrCat("NeMo2 tensor '", full, "' has no matching '", nemo,
                                                       "mixer.mixer.filter.gamma'"));
      }
      const Tensor& gamma = gamma_it->second;
      if (t.rank() != 2 || gamma.shape() != t.shape()) {
        return ShapeError(full, t, absl::StrCat("[H, 16] like its gamma ", gamma.DebugString()));
      }
      ASSIGN_OR_RETURN(const std::vector<float> pv, t.ToFloat32());
      ASSIGN_OR_RETURN(const std::vector<float> gv, gamma.ToFloat32());
      // log_poles = -exp(p) * exp(gamma) (ImplicitModalFilter). Each exp in double rounded to
      // fp32, the product in fp32: bit-identical to vortex with any exp accurate to < 0.45 ulp,
      // unlike a float exp (docs/spec/checkpoints.md §7).
      std::vector<float> poles(pv.size());
      for (size_t i = 0; i < poles.size(); ++i) {
        const float a = static_cast<float>(std::exp(static_cast<double>(pv[i])));
        const float c = static_cast<float>(std::exp(static_cast<double>(gv[i])));
        poles[i] = -(a * c);
      }
      out[b + "filter.log_poles"] = Tensor::FromFloat32({t.dim(0), t.dim(1), 1}, poles);
    } else if (absl::EndsWith(name, "_extra_state")) {
      continue;
    } else {
      return absl::UnimplementedError(absl::StrCat("NeMo2 tensor '", full,
                                                   "' has no vortex equivalent (unsupported layer type?)"));
    }
  }
  if (in.count("mixer.mixer.filter.gamma") && !in.count("mixer.mixer.filter.p")) {
    return absl::InvalidArgumentError(absl::StrCat("'", nemo, "mixer.mixer.filter.gamma' without filter.p"));
  }
  if (in.count("mixer.mixer.filter.decay") && !in.count("mixer.mixer.filter.h")) {
    return absl::InvalidArgumentError(absl::StrCat("'", nemo, "mixer.mixer.filter.decay' without filter.h"));
  }
  if (is_attention && rotary.has_value()) out[b + "inner_mha_cls.rotary_emb.inv_freq"] = RotaryInvFreq(*rotary);
  return absl::OkStatus();
}

}  // namespace

Tensor RotaryInvFreq(const NemoRotary& rotary) {
  std::vector<float> v(static_cast<size_t>(rotary.dim / 2));
  for (size_t j = 0; j < v.size(); ++j) {
    const float exponent = static_cast<float>(2 * j) / static_cast<float>(rotary.dim);
    const float power = static_cast<float>(std::pow(rotary.base, static_cast<double>(exponent)));
    v[j] = 1.0f / power;
  }
  return Tensor::FromFloat32({static_cast<int64_t>(v.size())}, v);
}

absl::StatusOr<TensorMap> MapNemo2ToVortex(const NamedTensors& nemo, const std::optional<NemoRotary>& rotary) {
  TensorMap out;
  std::map<int, LayerTensors> layers;
  for (const auto& [name, t] : nemo) {
    if (absl::EndsWith(name, "_extra_state")) continue;
    if (name == "embedding.word_embeddings.weight") {
      out["embedding_layer.weight"] = t;
    } else if (name == "output_layer.weight") {
      out["unembed.weight"] = t;
    } else if (name == "decoder.final_norm.weight") {
      out["norm.scale"] = t;
    } else if (absl::StartsWith(name, kLayerPrefix)) {
      const absl::string_view rest = absl::string_view(name).substr(kLayerPrefix.size());
      const size_t dot = rest.find('.');
      int layer = -1;
      if (dot == absl::string_view::npos ||
          !absl::SimpleAtoi(rest.substr(0, dot), &layer) || layer < 0 || layer > 100000) {
        return absl::InvalidArgumentError(absl::StrCat("NeMo2 tensor '", name, "': cannot read the layer index"));
      }
      layers[layer][std::string(rest.substr(dot + 1))] = t;
    } else {
      return absl::UnimplementedError(absl::StrCat("NeMo2 tensor '", name, "' has no vortex equivalent"));
    }
  }
  for (const auto& [layer, tensors] : layers) {
    RETURN_IF_ERROR(MapLayer(layer, tensors, rotary, out));
  }
  return out;
}

}  // namespace evo2::io
