// Arguments of `evo2 predict`: bionemo predict's (docs/spec/predict-cli.md §1.1, same names and
// defaults) plus this engine's own.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "evo2/device.h"

namespace evo2::cli {

struct PredictArgs {
  // --- bionemo predict (§1.1) ---
  std::filesystem::path fasta;
  std::filesystem::path ckpt_dir;
  std::filesystem::path output_dir;
  std::string model_size = "7b_arc_longcontext";
  bool model_size_given = false;  // an explicit --model-size must agree with the checkpoint's config
  int tensor_parallel_size = 1;
  int pipeline_model_parallel_size = 1;
  int context_parallel_size = 1;
  bool no_sequence_parallel = false;
  int micro_batch_size = 1;
  int num_nodes = 1;
  std::optional<int> devices;  // default TP*PP*CP
  std::string write_interval = "epoch";
  std::optional<int> files_per_subdir;
  bool output_log_prob_seqs = false;
  std::string log_prob_collapse_option = "mean";
  bool prepend_bos = false;
  std::optional<int64_t> min_length;
  bool fp8 = false;
  bool full_fp8 = false;
  bool fp8_ignore_stored_scales = false;
  std::optional<std::string> fp8_recipe;
  std::optional<std::string> ckpt_format;
  std::optional<std::string> hybrid_override_pattern;
  std::optional<int> num_layers;
  std::optional<int> seq_len_interpolation_factor;
  std::optional<std::filesystem::path> lora_checkpoint_path;
  bool eden_tokenizer = false;
  bool mask_phylogenetic_tags = false;
  // --- this engine ---
  // --device: nullopt = auto (cuda when a GPU and the CUDA backend are present, else cpu).
  std::optional<Device> device;
  Precision precision = Precision::kDefault;  // kDefault = the backend's (cpu fp32, cuda bf16)
  bool keep_case = false;
  std::string output_format = "pt";
  std::vector<std::string> embedding_layers;
  std::string embedding_pooling = "mean";
  int threads = 0;
  bool write_fai = false;
  bool ignore_fai = false;
  bool quiet = false;
};

// Runs the whole command; errors are one-line messages naming the file/record/flag.
absl::Status RunPredict(const PredictArgs& args);

}  // namespace evo2::cli
