// Checkpoint loading with automatic format detection.
//
// Formats (detected from the path):
//   1. Arc / vortex `.pt` file: a torch.save zip with a pickled dict name -> tensor
//      (a directory holding exactly one `.pt` plus its `config.yml` is accepted too);
//   2. NeMo2 directory: `context/` + `weights/.metadata` + `weights/__R_N.distcp`
//      (torch.distributed.checkpoint, possibly written by several TP ranks);
//   3. HuggingFace directory: `config.json` + `*.safetensors` (the Llama/Eden and Mamba-2 hybrid
//      families; loaded by the HF model factories, see DescribeCheckpoint's `family`).
// NeMo2 checkpoints of the Llama/Eden and Mamba-2 hybrid families are loaded by those families'
// factories too (their names mapped to HF ones, hf/nemo2_family_checkpoint.h); LoadCheckpoint
// below reads Evo 2 (Hyena) checkpoints only.
// Whatever the format, tensors come back in the engine's naming, which is vortex's
// (`blocks.{i}.projections.weight`, ...; docs/spec/model.md §9), with NeMo2 names and
// filter parametrisations mapped (docs/spec/checkpoints.md §7). `*._extra_state` is skipped
// unless CheckpointReadOptions asks for Transformer Engine's stored FP8 scales.
//
// What callers should know about the tensors:
//   - dtypes are as stored. In the golden/vortex files: bf16, except filter.log_poles,
//     filter.residues and rotary_emb.inv_freq (fp32). From NeMo2 the hcm taps `filter.h`
//     [G,1,128] come out fp32 (fp32(h*decay), not rounded to bf16), log_poles/residues fp32.
//     Use Tensor::ToFloat32() rather than assuming a dtype.
//   - `.pt` tensors view the memory-mapped file (torch aligns each storage to 64 bytes, so the
//     views are aligned); NeMo2 tensors own freshly assembled buffers.
//   - NeMo2: `rotary_emb.inv_freq` is generated from context/model.yaml (`rotary_base`, head
//     dim, `rotary_percent`) bit-identically to vortex; without model.yaml it is absent and the
//     model must generate it from its preset. An hcs `conv_bias` (`_nv` models only) becomes
//     `blocks.{i}.filter.short_conv_bias`; an untied `output_layer.weight` becomes
//     `unembed.weight`.
//   - Byte-wise shards (`NAME.pt.part0`, …) are refused with a message to concatenate them.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "evo2/config.h"
#include "evo2/tensor.h"

namespace evo2 {

enum class CheckpointFormat { kVortexPt, kNemo2, kSafetensors };

// Where a checkpoint's architecture comes from.
enum class ConfigSource {
  kNone,           // nothing beside the weights: --model-size must name a preset
  kVortexYaml,     // `config.yml` or `config.yaml` beside a `.pt`
  kNemoModelYaml,  // NeMo2 `context/model.yaml`
  kHfConfigJson,   // HuggingFace `config.json`
};

// What a checkpoint path holds, decided from file names and small metadata only (no weights
// are read). The one place that answers "which format, which family, does it carry its own
// config, how are the weights split": LoadModel, `evo2 predict` and `evo2 layers` all use it.
struct CheckpointDescription {
  CheckpointFormat format = CheckpointFormat::kVortexPt;
  // HF: from config.json "architectures"; NeMo2: from context/model.yaml's model/config class
  // (Hyena when there is no context).
  ModelFamily family = ModelFamily::kHyena;
  std::string architecture;                  // HF: config.json "architectures"[0]; else empty
  std::filesystem::path weights;             // the .pt file, NeMo2 directory or HF directory
  ConfigSource config_source = ConfigSource::kNone;
  std::optional<std::filesystem::path> config;  // the config file, when config_source != kNone
  // How the stored weights are split: the number of weight files (NeMo2 `__R_N.distcp`, HF
  // `*.safetensors`, 1 for a `.pt`) and, for NeMo2, the number of ranks R that saved them (the
  // save's TP x PP layout; any layout loads on any engine group).
  int weight_files = 1;
  int saved_ranks = 1;

  bool has_config() const { return config_source != ConfigSource::kNone; }
};

// Describes `path` (a .pt file, a directory holding one .pt and its config, a NeMo2 directory or
// its weights/.metadata, a HuggingFace directory or one of its .safetensors files). Errors say
// what was expected.
absl::StatusOr<CheckpointDescription> DescribeCheckpoint(const std::filesystem::path& path);

// Transformer Engine's stored forward FP8 scales of one linear (docs/spec/fp8.md, "Stored
// scales"): the factors TE multiplies the GEMM's input and weight by before the E4M3 cast
// (its `scale_fwd[0]` and `scale_fwd[1]`). Both are positive and finite.
struct StoredFp8Scales {
  float input = 1.0f;
  float weight = 1.0f;
  bool operator==(const StoredFp8Scales&) const = default;
};

struct Checkpoint {
  CheckpointFormat format;
  std::filesystem::path path;                    // what was opened
  TensorMap tensors;                             // engine (vortex) names
  std::optional<std::filesystem::path> config_yaml;  // vortex config.yml beside a .pt, if any
  std::optional<std::filesystem::path> nemo_model_yaml;  // NeMo2 context/model.yaml, if any
  // Stored FP8 scales by the vortex name of the linear's weight without `.weight`
  // (`blocks.0.projections`, `blocks.3.inner_mha_cls.Wqkv`, `blocks.0.mlp.l1`, ...); filled only
  // when CheckpointReadOptions::te_fp8_scales is set, for the modules whose state holds scales.
  std::map<std::string, StoredFp8Scales> fp8_scales;
};

struct CheckpointReadOptions {
  // Decode the `_extra_state` of the linears the engine can run in FP8 into
  // Checkpoint::fp8_scales; malformed state is then an error naming its key. Off: skipped
  // undecoded.
  bool te_fp8_scales = false;
};

// Loads every model tensor. Errors name the file and, where relevant, the tensor.
absl::StatusOr<Checkpoint> LoadCheckpoint(const std::filesystem::path& path,
                                          const CheckpointReadOptions& options = {});

}  // namespace evo2
