// NeMo2 (Megatron) Hyena parameter names and parametrisation -> the engine's vortex names
// (docs/spec/checkpoints.md §7, "Filter parameters, bit-exactly").
//
//   embedding.word_embeddings.weight              -> embedding_layer.weight (tied head)
//   output_layer.weight (untied checkpoints)      -> unembed.weight
//   decoder.final_norm.weight                     -> norm.scale
//   decoder.layers.i.mixer.dense_projection.layer_norm_weight
//   | decoder.layers.i.self_attention.linear_qkv.layer_norm_weight -> blocks.i.pre_norm.scale
//   …mlp.linear_fc1.layer_norm_weight             -> blocks.i.post_norm.scale
//   …mlp.linear_fc1.weight [2F, H] = [gate; up]   -> blocks.i.mlp.l1.weight (rows 0..F), .l2 (F..2F)
//   …mlp.linear_fc2.weight                        -> blocks.i.mlp.l3.weight
//   …mixer.dense_projection.weight                -> blocks.i.projections.weight
//   …mixer.hyena_proj_conv.short_conv_weight [3H,3] (or [3H,1,3]) -> blocks.i.filter.short_filter_weight [3H,1,3]
//   …mixer.dense.{weight,bias}                    -> blocks.i.out_filter_dense.{weight,bias}
//   hcs: …mixer.mixer.short_conv.short_conv_weight -> blocks.i.filter.h [G,1,7]
//        …mixer.mixer.conv_bias (`_nv` models only, [G]) -> blocks.i.filter.short_conv_bias
//   hcm: …mixer.mixer.conv_bias -> blocks.i.filter.D;  filter.h, filter.decay [G,L]
//        -> blocks.i.filter.h [G,1,128] = fp32(h*decay)[:, :128] (fp32, one rounding)
//   hcl: …mixer.mixer.conv_bias -> blocks.i.filter.D;  filter.R -> blocks.i.filter.residues [H,16];
//        filter.p, filter.gamma -> blocks.i.filter.log_poles [H,16,1] = -fp32(exp p)*fp32(exp gamma)
//        (exp in double, each rounded to fp32, product in fp32: bit-identical to vortex)
//   attention: …linear_qkv.weight -> blocks.i.inner_mha_cls.Wqkv.weight (per-head q,k,v rows kept);
//        …linear_proj.{weight,bias} -> blocks.i.inner_mha_cls.out_proj.{weight,bias};
//        blocks.i.inner_mha_cls.rotary_emb.inv_freq [d/2] fp32 generated (when rotary is known).
// dtypes are kept as stored (the hcm taps and hcl poles/residues come out fp32).
#pragma once

#include <optional>

#include "absl/status/statusor.h"
#include "evo2/tensor.h"
#include "evo2/torch_pt.h"

namespace evo2::io {

struct NemoRotary {
  double base = 10000;  // model.yaml `rotary_base`
  int64_t dim = 128;    // rotary dims per head: head_dim * rotary_percent
};

// `nemo` holds NeMo names without the leading `module.`. Unknown names are an error naming them.
// Without `rotary`, attention blocks get no inv_freq (the model must generate it).
absl::StatusOr<TensorMap> MapNemo2ToVortex(const NamedTensors& nemo,
                                          const std::optional<NemoRotary>& rotary);

// inv_freq[j] = 1 / base^(2j/dim), j < dim/2, as Megatron computes it in fp32:
// exponent fp32(2j)/fp32(dim), power rounded to fp32, reciprocal in fp32.
Tensor RotaryInvFreq(const NemoRotary& rotary);

}  // namespace evo2::io
