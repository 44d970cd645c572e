// `evo2 predict` argument parsing (CLI11). Names and defaults follow bionemo predict
// (docs/spec/predict-cli.md §1.1); the run itself is predict_run.cc.
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine_commands.h"
#include "evo2/device.h"
#include "predict_args.h"

namespace evo2::cli {
namespace {

// A flag whose text goes through one of the engine's parsers (evo2/device.h): the check shows
// the parser's own error, the callback stores the parsed value. One list of names, the engine's.
template <typename T>
CLI::Option* AddParsedOption(CLI::App* cmd, const std::string& name, T& out,
                             absl::StatusOr<T> (*parse)(std::string_view),
                             const std::string& help) {
  return cmd
      ->add_option_function<std::string>(
          name, [&out, parse](const std::string& text) { out = *parse(text); }, help)
      ->check(CLI::Validator(
          [parse](std::string& text) {
            auto parsed = parse(text);
            return parsed.ok() ? std::string() : std::string(parsed.status().message());
          },
          ""));
}

// --device: "auto" (nullopt) or one of evo2/device.h's names.
absl::StatusOr<std::optional<Device>> ParseDeviceChoice(std::string_view name) {
  if (name == "auto") return std::optional<Device>();
  auto device = ParseDevice(name);
  if (!device.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown device '", std::string(name), "' (valid: auto, cpu, cuda)"));
  }
  return std::optional<Device>(*device);
}

}  // namespace

void AddPredictCommand(CLI::App& app) {
  auto args = std::make_shared<PredictArgs>();
  CLI::App* cmd = app.add_subcommand(
      "predict",
      "Score FASTA records with an Evo 2 checkpoint (drop-in for python -m "
      "bionemo.evo2.run.predict): logits, per-sequence or per-token log-probs, embeddings.");
  PredictArgs& a = *args;
  cmd->add_option("--fasta", a.fasta, "Input FASTA file")->required();
  cmd->add_option("--ckpt-dir", a.ckpt_dir,
                  "Checkpoint: NeMo2 directory (context/ + weights/), Arc/vortex .pt file, or a "
                  "directory holding one .pt and its config.yml. Default: the demo model shipped "
                  "with evo2 (models/evo2-demo; override with $EVO2_DEFAULT_MODEL)");
  cmd->add_option("--output-dir", a.output_dir, "Directory for the prediction files")->required();
  auto* model_size = cmd->add_option(
      "--model-size", a.model_size,
      "Architecture preset (bionemo names such as 7b, 7b_arc_longcontext, 1b, 40b, or evo2 names). "
      "Used when the checkpoint carries no config; when it does, the checkpoint's config is used "
      "and an explicit --model-size must agree with it")
      ->capture_default_str();
  cmd->add_option("--tensor-parallel-size", a.tensor_parallel_size,
                  "Tensor-parallel degree (on --device cpu: ranks as threads)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--pipeline-model-parallel-size", a.pipeline_model_parallel_size,
                  "Pipeline-parallel degree (only 1)")
      ->capture_default_str()->check(CLI::IsMember({1}));
  cmd->add_option(
         "--context-parallel-size", a.context_parallel_size,
         "Context-parallel degree, any sequence length (on --device cpu: ranks as threads)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--no-sequence-parallel", a.no_sequence_parallel,
                "Accepted for compatibility (this engine does not scatter the sequence over TP)");
  cmd->add_option("--micro-batch-size", a.micro_batch_size, "Sequences per forward pass")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--num-nodes", a.num_nodes, "Nodes (one evo2 process drives one node: 1)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--devices", a.devices,
                  "Devices per node (default TP x PP x CP); a multiple of TP x CP gives "
                  "devices / (TP x CP) data-parallel replicas")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--write-interval", a.write_interval,
                  "epoch: one collated file; batch: one file per micro-batch")
      ->capture_default_str()->check(CLI::IsMember({"epoch", "batch"}));
  cmd->add_option("--files-per-subdir", a.files_per_subdir,
                  "With --write-interval batch: put at most this many files in each subdir_N/")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--output-log-prob-seqs", a.output_log_prob_seqs,
                "Write log-probabilities instead of logits");
  cmd->add_option("--log-prob-collapse-option", a.log_prob_collapse_option,
                  "Reduction of the per-token log-probs")
      ->capture_default_str()->check(CLI::IsMember({"sum", "mean", "per_token"}));
  cmd->add_flag("--prepend-bos", a.prepend_bos,
                "Prepend the EOD token (id 0) so that the first base is scored too");
  cmd->add_option("--min-length", a.min_length,
                  "Pad every micro-batch to at least this many tokens (never truncates)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--fp8", a.fp8,
                "FP8 E4M3 Hyena input projections (docs/spec/fp8.md; emulated on --device cpu)");
  cmd->add_flag("--full-fp8", a.full_fp8, "FP8 E4M3 for every projection and MLP linear");
  cmd->add_flag(
      "--fp8-ignore-stored-scales", a.fp8_ignore_stored_scales,
      "With --fp8/--full-fp8: current scaling everywhere, ignoring the checkpoint's Transformer "
      "Engine scales (docs/spec/fp8.md)");
  cmd->add_option("--fp8-recipe", a.fp8_recipe, "Not supported (one scaling rule, docs/spec/fp8.md)");
  cmd->add_option("--ckpt-format", a.ckpt_format,
                  "Accepted for compatibility; the format is detected from the checkpoint")
      ->check(CLI::IsMember({"torch_dist", "zarr"}));
  cmd->add_option("--hybrid-override-pattern", a.hybrid_override_pattern,
                  "Override the layer pattern (must equal the checkpoint's)");
  cmd->add_option("--num-layers", a.num_layers, "Override the layer count (must equal the "
                  "checkpoint's)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seq-len-interpolation-factor", a.seq_len_interpolation_factor,
                  "Override the RoPE position interpolation factor (must equal the config's)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--lora-checkpoint-path", a.lora_checkpoint_path,
                  "LoRA adapter merged into the weights at load: NeMo2 PEFT checkpoint or .safetensors");
  cmd->add_flag("--eden-tokenizer", a.eden_tokenizer,
                "Eden/Llama token ids: pad 0, bos 1, eos/EOD 2, sep 3");
  cmd->add_flag("--mask-phylogenetic-tags", a.mask_phylogenetic_tags,
                "Do not score |d__...;p__...| taxonomy tags (NeMo's mask_phylogenetic_tags)");
  // This engine's own options.
  AddParsedOption(cmd, "--device", a.device, &ParseDeviceChoice,
                  "auto (cuda when a GPU and the CUDA backend are present, else cpu), cpu (fp32 "
                  "reference; TP/CP ranks and DP replicas run as threads) or cuda (bf16)")
      ->default_str("auto");
  AddParsedOption(cmd, "--precision", a.precision, &ParsePrecision,
                  "Compute precision: bf16 (cuda default, like the reference) or fp32 (cpu; on "
                  "cuda for checking against fp32 references)");
  cmd->add_flag("--keep-case", a.keep_case,
                "Tokenize bases as given (Arc/vortex scoring) instead of upper-casing them like "
                "bionemo predict");
  cmd->add_option("--output-format", a.output_format,
                  "pt: the reference's torch.save files; safetensors: the same tensors in one "
                  ".safetensors file; npy: per record <name>.log_probs.npy / .logits.npy")
      ->capture_default_str()->check(CLI::IsMember({"pt", "safetensors", "npy"}));
  cmd->add_option("--embedding-layers", a.embedding_layers,
                  "Also write the activations of these layers (see `evo2 layers`), e.g. "
                  "blocks.3.mlp.l3, blocks.3 or decoder.layers.3")
      ->delimiter(',');
  cmd->add_option("--embedding-pooling", a.embedding_pooling,
                  "Reduce embeddings over the sequence: none writes [S, H] per record")
      ->capture_default_str()->check(CLI::IsMember({"none", "mean", "max", "last"}));
  cmd->add_option("--threads", a.threads, "CPU threads (0 = all cores)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_flag("--write-fai", a.write_fai,
                "Write a samtools-compatible <fasta>.fai index beside the FASTA");
  cmd->add_flag("--ignore-fai", a.ignore_fai,
                "Do not use an existing <fasta>.fai (index the file afresh, like the reference)");
  cmd->add_flag("--quiet", a.quiet, "No progress on stderr");

  cmd->callback([args, model_size]() {
    args->model_size_given = model_size->count() > 0;
    const absl::Status status = RunPredict(*args);
    if (!status.ok()) {
      std::cerr << "evo2 predict: error: " << status.message() << std::endl;
      throw CLI::RuntimeError(status.code() == absl::StatusCode::kCancelled ? 130 : 1);
    }
  });
}

}  // namespace evo2::cli
