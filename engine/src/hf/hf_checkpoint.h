// A HuggingFace transformers checkpoint directory: `config.json` + one or more `*.safetensors`
// files (docs/spec/checkpoints.md §11, §13). The tensors keep their HF names and views of the
// memory-mapped files; each family's model (engine/src/hf/<family>_*) maps and checks them.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "evo2/tensor.h"

namespace evo2::hf {

struct HfCheckpoint {
  std::filesystem::path dir;
  nlohmann::json config;     // config.json as read
  std::string architecture;  // config.json "architectures"[0], e.g. "LlamaForCausalLM"
  TensorMap tensors;         // HF names ("model.layers.0.self_attn.q_proj.weight", ...)
  // Where `config` came from, for messages; empty means `dir`/config.json. A NeMo2 checkpoint
  // of these families (hf/nemo2_family_checkpoint.h) names its context/model.yaml or the
  // --model-size preset instead.
  std::string config_source;

  std::string ConfigName() const {
    return config_source.empty() ? (dir / "config.json").string() : config_source;
  }
};

// Reads config.json and every *.safetensors file of the directory (a file path means its
// directory; DescribeCheckpoint decides the format and the architecture). Errors name the file:
// missing or malformed config.json, no or an unsupported "architectures", a tensor name present
// in two files.
absl::StatusOr<HfCheckpoint> LoadHfCheckpoint(const std::filesystem::path& path);

// Typed config.json accessors with errors that name the key and the file.
absl::StatusOr<int64_t> ConfigInt(const HfCheckpoint& ckpt, const std::string& key);
absl::StatusOr<double> ConfigDouble(const HfCheckpoint& ckpt, const std::string& key);
// The tensor `name` with exactly `shape`, or an error naming the tensor, its shape and the file.
absl::StatusOr<Tensor> RequireTensor(const HfCheckpoint& ckpt, const std::string& name,
                                     const std::vector<int64_t>& shape);

}  // namespace evo2::hf
