#include "hf/nemotron_h_weights.h"

#include <cmath>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"

namespace evo2::hf {

namespace {

// Reads tensors by HF name as fp32, remembering which ones were used.
class TensorReader {
 public:
  TensorReader(const HfCheckpoint& ckpt, std::string prefix)
      : ckpt_(ckpt), prefix_(std::move(prefix)) {}

  // `name` below the prefix ("layers.0.norm.weight"), or with `absolute` the full name.
  absl::Status Read(const std::string& name, const std::vector<int64_t>& shape,
                    std::vector<float>& out, bool absolute = false) {
    const std::string full = absolute ? name : prefix_ + name;
    ASSIGN_OR_RETURN(auto t, RequireTensor(ckpt_, full, shape));
    auto values = t.ToFloat32();
    if (!values.ok())
      return absl::InvalidArgumentError(absl::StrCat(ckpt_.dir.string(), ": tensor '", full,
                                                     "': ", values.status().message()));
    for (float v : *values) {
      if (!std::isfinite(v))
        return absl::InvalidArgumentError(absl::StrCat(ckpt_.dir.string(), ": tensor '", full,
                                                       "' holds a non-finite value"));
    }
    out = std::move(*values);
    used_.insert(full);
    return absl::OkStatus();
  }

  // The first checkpoint tensor nothing read, if any.
  absl::Status CheckAllUsed(const std::string& pattern) const {
    for (const auto& [name, tensor] : ckpt_.tensors) {
      if (used_.count(name) == 0)
        return absl::InvalidArgumentError(
            absl::StrCat(ckpt_.dir.string(), ": tensor '", name, "' ", tensor.DebugString(),
                         " is not part of the model its config describes (layer pattern ", pattern,
                         "); refusing a checkpoint that does not match its config"));
    }
    return absl::OkStatus();
  }

 private:
  const HfCheckpoint& ckpt_;
  std::string prefix_;
  std::set<std::string> used_;
};

absl::Status ReadMamba(TensorReader& r, const std::string& p, const NemotronHConfig& c,
                       NemotronHMambaWeights& w) {
  const int64_t H = c.hidden_size, di = c.MambaInner(), C = c.ConvChannels();
  const int64_t nh = c.mamba_num_heads, K = c.conv_kernel;
  RETURN_IF_ERROR(r.Read(p + "in_proj.weight", {c.InProjRows(), H}, w.in_proj));
  RETURN_IF_ERROR(r.Read(p + "conv1d.weight", {C, 1, K}, w.conv_weight));
  if (c.use_conv_bias) {
    RETURN_IF_ERROR(r.Read(p + "conv1d.bias", {C}, w.conv_bias));
  } else {
    w.conv_bias.assign(static_cast<size_t>(C), 0.0f);
  }
  RETURN_IF_ERROR(r.Read(p + "dt_bias", {nh}, w.dt_bias));
  std::vector<float> a_log;
  RETURN_IF_ERROR(r.Read(p + "A_log", {nh}, a_log));
  w.A.resize(a_log.size());
  for (size_t h = 0; h < a_log.size(); ++h) w.A[h] = -std::exp(a_log[h]);
  RETURN_IF_ERROR(r.Read(p + "D", {nh}, w.D));
  RETURN_IF_ERROR(r.Read(p + "norm.weight", {di}, w.norm));
  return r.Read(p + "out_proj.weight", {H, di}, w.out_proj);
}

absl::Status ReadAttention(TensorReader& r, const std::string& p, const NemotronHConfig& c,
                           NemotronHAttentionWeights& w) {
  const int64_t H = c.hidden_size, d = c.attention_head_dim;
  const int64_t q_rows = c.num_attention_heads * d, kv_rows = c.num_key_value_heads * d;
  RETURN_IF_ERROR(r.Read(p + "q_proj.weight", {q_rows, H}, w.q_proj));
  RETURN_IF_ERROR(r.Read(p + "k_proj.weight", {kv_rows, H}, w.k_proj));
  RETURN_IF_ERROR(r.Read(p + "v_proj.weight", {kv_rows, H}, w.v_proj));
  return r.Read(p + "o_proj.weight", {H, q_rows}, w.o_proj);
}

absl::Status ReadMlp(TensorReader& r, const std::string& p, const NemotronHConfig& c,
                     NemotronHMlpWeights& w) {
  const int64_t H = c.hidden_size, F = c.intermediate_size;
  RETURN_IF_ERROR(r.Read(p + "up_proj.weight", {F, H}, w.up_proj));
  return r.Read(p + "down_proj.weight", {H, F}, w.down_proj);
}

}  // namespace

absl::StatusOr<NemotronHWeights> LoadNemotronHWeights(const HfCheckpoint& ckpt,
                                                      const NemotronHConfig& c) {
  std::string prefix;
  for (const char* candidate : {"backbone.", "model."}) {
    if (ckpt.tensors.count(std::string(candidate) + "embeddings.weight") != 0) {
      prefix = candidate;
      break;
    }
  }
  if (prefix.empty())
    return absl::NotFoundError(absl::StrCat(
        ckpt.dir.string(), ": neither 'backbone.embeddings.weight' nor 'model.embeddings.weight' "
                           "is present (not a NemotronH checkpoint?)"));
  TensorReader r(ckpt, prefix);
  const int64_t H = c.hidden_size, V = c.vocab_size;
  NemotronHWeights w;
  RETURN_IF_ERROR(r.Read("embeddings.weight", {V, H}, w.embedding));
  w.layers.resize(c.layers.size());
  for (size_t i = 0; i < c.layers.size(); ++i) {
    NemotronHLayerWeights& lw = w.layers[i];
    lw.kind = c.layers[i];
    const std::string layer = absl::StrCat("layers.", i, ".");
    RETURN_IF_ERROR(r.Read(layer + "norm.weight", {H}, lw.norm));
    const std::string mixer = layer + "mixer.";
    absl::Status s;
    switch (lw.kind) {
      case NemotronHLayerKind::kMamba: s = ReadMamba(r, mixer, c, lw.mamba); break;
      case NemotronHLayerKind::kAttention: s = ReadAttention(r, mixer, c, lw.attention); break;
      case NemotronHLayerKind::kMlp: s = ReadMlp(r, mixer, c, lw.mlp); break;
    }
    RETURN_IF_ERROR(s);
  }
  RETURN_IF_ERROR(r.Read("norm_f.weight", {H}, w.norm_f));
  if (c.tie_word_embeddings && ckpt.tensors.count("lm_head.weight") == 0) {
    w.lm_head = w.embedding;
  } else {
    RETURN_IF_ERROR(r.Read("lm_head.weight", {V, H}, w.lm_head, /*absolute=*/true));
  }
  RETURN_IF_ERROR(r.CheckAllUsed(c.Pattern()));
  return w;
}

}  // namespace evo2::hf
