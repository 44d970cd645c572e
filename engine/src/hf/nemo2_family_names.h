// NeMo2 (Megatron) parameter names of the Mamba-2 hybrid and Llama/Eden families -> the
// HuggingFace names their models read (docs/spec/checkpoints.md §13; the key tables of
// golden/m_hybrid_a/README.md and golden/l_eden_a/README.md; NeMo's HF importers/exporters).
//
// Mamba-2 hybrid (MambaStack: one set of keys per layer i, prefix decoder.layers.i.):
//   embedding.word_embeddings.weight [V_pad, H]  -> backbone.embeddings.weight (first V rows)
//   M: mixer.in_proj.layer_norm_weight           -> backbone.layers.i.norm.weight
//      mixer.in_proj.weight.{z,x,B,C,dt}         -> …mixer.in_proj.weight, rows z‖x‖B‖C‖dt
//      mixer.conv1d.{weight,bias}.{x,B,C}        -> …mixer.conv1d.{weight,bias}, rows x‖B‖C
//      mixer.{dt_bias,A_log,D,norm.weight,out_proj.weight} -> …mixer.<same>
//   *: self_attention.linear_qkv.layer_norm_weight -> …norm.weight
//      self_attention.linear_qkv.weight (rows per KV group: its q heads, k, v)
//                                                -> …mixer.{q,k,v}_proj.weight
//      self_attention.linear_proj.weight         -> …mixer.o_proj.weight
//   -: mlp.linear_fc1.layer_norm_weight          -> …norm.weight
//      mlp.linear_fc1.weight / linear_fc2.weight -> …mixer.up_proj.weight / down_proj.weight
//   decoder.final_norm.weight -> backbone.norm_f.weight;  output_layer.weight -> lm_head.weight
// Llama/Eden (TransformerBlock: layers stacked, prefix decoder.layers., leading axis [L, …]):
//   self_attention.linear_qkv.layer_norm_weight  -> model.layers.l.input_layernorm.weight
//   self_attention.linear_qkv.weight             -> …self_attn.{q,k,v}_proj.weight (as above)
//   self_attention.linear_proj.weight            -> …self_attn.o_proj.weight
//   mlp.linear_fc1.layer_norm_weight             -> …post_attention_layernorm.weight
//   mlp.linear_fc1.weight [L, 2F, H] = [gate; up] -> …mlp.gate_proj.weight, …mlp.up_proj.weight
//   mlp.linear_fc2.weight                        -> …mlp.down_proj.weight
//   embedding.word_embeddings.weight -> model.embed_tokens.weight (first V rows);
//   decoder.final_layernorm.weight -> model.norm.weight;  output_layer.weight -> lm_head.weight
//   Per-layer keys (decoder.layers.l.…, Megatron's non-homogeneous save) are accepted as well,
//   and an unsplit Mamba in_proj/conv1d (in-memory names) too.
// The stored global tensors do not depend on the saving TP degree (the split keys and the
// per-group qkv rows assemble the same way for any TP), so any TP layout maps the same.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "evo2/tensor.h"
#include "evo2/torch_pt.h"
#include "hf/llama_config.h"
#include "hf/nemotron_h_config.h"

namespace evo2::hf {

// `nemo` holds the names without `module.`. Every key the config implies must be present with
// its exact shape, and every tensor must be used; errors name the key, its shape and the
// expected one, prefixed by `where` (the checkpoint directory) and naming `config_name` (where
// the config came from: context/model.yaml or the --model-size preset).
absl::StatusOr<TensorMap> MapNemotronHNemo2ToHf(const NamedTensors& nemo,
                                                const NemotronHConfig& config,
                                                const std::string& where,
                                                const std::string& config_name);
absl::StatusOr<TensorMap> MapLlamaNemo2ToHf(const NamedTensors& nemo, const LlamaConfig& config,
                                            const std::string& where,
                                            const std::string& config_name);

}  // namespace evo2::hf
