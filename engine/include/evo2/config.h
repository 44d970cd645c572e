// Evo 2 (StripedHyena 2) model configuration: the architecture numbers a backend needs.
//
// Sources, in the order LoadModel tries them (docs/spec/model.md §2, predict-cli.md §4):
//   - the vortex YAML beside a `.pt` (`config.yml`: `hcs_layer_idxs`, `hidden_size`, ...);
//   - a NeMo2 checkpoint's `context/model.yaml` (`hybrid_override_pattern`, `ffn_hidden_size`,
//   ...);
//   - a named preset: evo2 names (`evo2_7b`, ...) or bionemo `--model-size` names (`7b`, ...).
// The MLP width `I` is always taken from the checkpoint's tensors (ResolveFromTensors), never
// from a name: the 1M-context checkpoints have a padded MLP (docs/spec/model.md §2, §13 item 13).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "evo2/layer_name.h"
#include "evo2/tensor.h"

namespace evo2 {

// Sequence mixer of one block (docs/spec/model.md §1): S = hcs, D = hcm, H = hcl, * = attention.
enum class BlockKind : uint8_t { kHcs, kHcm, kHcl, kAttn };

// "hcs", "hcm", "hcl", "attn".
std::string_view BlockKindName(BlockKind kind);
// 'S', 'D', 'H', '*' (the hybrid_override_pattern letter).
char BlockKindLetter(BlockKind kind);

// MLP nonlinearity convention (docs/spec/model.md §6; predict-cli.md §4.2).
enum class MlpActivation : uint8_t {
  kArc,  // exact erf GELU in block 0 only, identity elsewhere (every Arc/vortex checkpoint)
  kNv,   // tanh-approximate GELU in every block (bionemo `*_nv` configs)
};

// Model family (bionemo-predict runs three; docs/spec/checkpoints.md §13). The Hyena fields below
// describe kHyena only; the HuggingFace families keep their own configs (engine/src/hf/) and
// fill the common fields (name, num_layers, hidden_size, num_heads, head_dim, vocab_size).
enum class ModelFamily : uint8_t {
  kHyena,      // Evo 2 StripedHyena 2 (vortex .pt, NeMo2)
  kLlama,      // "Eden": HF LlamaForCausalLM (config.json + safetensors)
  kNemotronH,  // Mamba-2 hybrid: HF NemotronHForCausalLM (config.json + safetensors)
};

// "Evo 2 (StripedHyena)", "Llama", "NemotronH": for messages.
const char* ModelFamilyName(ModelFamily family);

struct ModelConfig {
  ModelFamily family = ModelFamily::kHyena;
  std::string name;        // preset or YAML model name, for logs
  int num_layers = 0;      // N
  int hidden_size = 0;     // H
  int num_heads = 0;       // attention heads
  int head_dim = 0;        // d (H / heads for every published model)
  int inner_mlp_size = 0;  // I; 0 until ResolveFromTensors reads it from mlp.l1
  int vocab_size = 512;
  std::vector<BlockKind> block_kinds;  // [N], from the config's explicit lists
  int short_filter_length = 3;         // featurizer taps (conv order)
  int hcs_filter_length = 7;           // conv order
  int hcm_filter_length = 128;         // impulse order
  int hcs_filter_groups = 0;           // G of the hcs taps [G, 1, 7]
  int hcm_filter_groups = 0;           // G of the hcm taps [G, 1, 128]
  int hcl_modes = 16;                  // real exponential modes per hcl channel (`state_size`)
  double rotary_base = 10000.0;        // only used when a checkpoint lacks inv_freq
  double rotary_position_scale = 1.0;  // positions are divided by this (1 = no interpolation)
  float eps = 1e-6f;                   // RMSNorm ε, added outside the root (docs/spec/model.md §5)
  int64_t max_seqlen = 8192;           // the model's trained context (informational)
  MlpActivation mlp_activation = MlpActivation::kArc;
  bool attn_out_proj_bias = true;  // `mha_out_proj_bias` / NeMo `add_attn_proj_bias`
  bool hcs_conv_bias = false;      // `_nv`: S blocks add bias[group]·z (unsupported, rejected)
  // The reference runs the Hyena projections in FP8 for this model (docs/spec/model.md §10); this
  // engine does not (fp32 on the CPU), so scores of FP8-trained checkpoints differ slightly.
  bool fp8_input_projections = false;

  int HeadsTimesDim() const { return num_heads * head_dim; }
  // Layer pattern string, e.g. "SDH*SDH...".
  std::string Pattern() const;
  // Indices of the blocks of `kind`, ascending.
  std::vector<int> LayersOfKind(BlockKind kind) const;
};

// ---- Building a config ------------------------------------------------------------------------

// Vortex YAML (the `config.yml` beside a `.pt`). Layout switches whose published values the
// engine assumes (docs/spec/model.md §2) are checked; any other value is rejected naming
// the key, as are unknown `mlp_activation`s, overlapping or missing layer lists, and H not
// divisible by the heads or groups.
absl::StatusOr<ModelConfig> ModelConfigFromVortexYaml(const std::filesystem::path& path);
absl::StatusOr<ModelConfig> ModelConfigFromVortexYamlString(std::string_view yaml,
                                                            std::string_view source_name);

// NeMo2 `context/model.yaml` (docs/spec/checkpoints.md §4).
absl::StatusOr<ModelConfig> ModelConfigFromNemoYaml(const std::filesystem::path& path);
absl::StatusOr<ModelConfig> ModelConfigFromNemoYamlString(std::string_view yaml,
                                                          std::string_view source_name);

// Named presets: evo2 names (evo2_1b_base, evo2_7b_base, evo2_7b, evo2_7b_262k, evo2_20b,
// evo2_40b_base, evo2_40b) and bionemo --model-size names (1b, 1b_nv, 7b, 7b_arc_longcontext,
// 7b_nv, 40b, 40b_arc_longcontext, 40b_nv, test, test_nv). `_nv` presets are returned with
// their conventions (tanh GELU, no attention bias, hcs conv bias) and then refused by
// CheckSupported. Unknown names give an error listing the known ones.
//
// The other families' bionemo --model-size names (hybrid_mamba_8b; 8B, 7B, 11B, 18B, 21B, 24B,
// 27B, 28B, 35B; docs/spec/checkpoints.md §13) are accepted too and give that family's common
// view (family, layers, H, heads, head dim, vocab); the families' loaders read the full preset.
absl::StatusOr<ModelConfig> ModelConfigPreset(std::string_view name);
// The Evo 2 (Hyena) preset names.
std::vector<std::string> PresetNames();
// The family a --model-size name belongs to (any of the names above); NotFound listing every
// known name otherwise.
absl::StatusOr<ModelFamily> PresetFamily(std::string_view name);

// Refuses conventions this engine does not implement (`_nv` variants), with the reason.
absl::Status CheckSupported(const ModelConfig& config);

// Errors when two configs describing the same checkpoint disagree on the architecture
// (layers, H, heads, head dim, kinds, groups, rotary scaling); names the field and both values.
// `inner_mlp_size` is compared only when both are known (it comes from the tensors).
absl::Status CheckConfigsAgree(const ModelConfig& expected, std::string_view expected_source,
                               const ModelConfig& actual, std::string_view actual_source);

// ---- Against a checkpoint ---------------------------------------------------------------------

// Reads shapes the config does not fix (the MLP inner size I from blocks.0.mlp.l1.weight).
absl::Status ResolveFromTensors(ModelConfig& config, const TensorMap& tensors);

// Every expected tensor (docs/spec/model.md §9) is present with the expected shape, floating dtype.
// The first mismatch is reported as "tensor 'blocks.3.mlp.l1.weight' has shape [..] but the
// config (N layers, H=..) expects [..]"; a missing tensor is named likewise. Extra tensors
// (e.g. `_extra_state`) are ignored.
absl::Status ValidateTensors(const ModelConfig& config, const TensorMap& tensors);

// ---- Capturable layers (embeddings) ----------------------------------------------------------

// A point in the network whose [S, H] activations can be returned (evo2/layer_name.h).
struct LayerTap {
  using Point = LayerPoint;
  Point point = Point::kBlockOutput;
  int block = -1;  // -1 for kEmbedding / kFinalNorm
  bool operator==(const LayerTap&) const = default;
};

// Every capturable layer name of the model, vortex style first then NeMo style, in network order.
std::vector<std::string> LayerCatalogue(const ModelConfig& config);
// Parses a name from the catalogue: the grammar of evo2/layer_name.h plus the model's checks
// (block in range, the block's own mixer, whole layers only for the HF families). Errors name
// the layer and the valid range.
absl::StatusOr<LayerTap> ParseLayerName(const ModelConfig& config, std::string_view name);

}  // namespace evo2
