// `evo2 predict`: FASTA -> sorted records -> micro-batches -> Predictor -> PredictionWriter.
// Order of checks: flags, output directory, FASTA (fully validated), then the (slow) model load,
// so that bad input fails in milliseconds. Spec: docs/spec/predict-cli.md §1 (CLI, files, batches),
// §2 (data), §3.1 (math); differences from the reference: docs/predict-compatibility.md.
#include <algorithm>
#include <atomic>
#include <iostream>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cancel_on_signal.h"
#include "default_model.h"
#include "evo2/backend_registry.h"
#include "evo2/checkpoint.h"
#include "evo2/config.h"
#include "evo2/fasta.h"
#include "evo2/model.h"
#include "evo2/prediction_writer.h"
#include "evo2/predictor.h"
#include "evo2/status_macros.h"
#ifdef EVO2_WITH_CUDA
#include "evo2/cuda_backend.h"
#endif
#include "predict_args.h"
#include "progress.h"

namespace evo2::cli {
namespace {

absl::Status CheckFlags(const PredictArgs& a) {
  if (a.fp8_recipe) {
    return absl::InvalidArgumentError(
        absl::StrCat("--fp8-recipe ", *a.fp8_recipe,
                     ": the engine has one FP8 scaling rule (the checkpoint's stored Transformer "
                     "Engine scales, else "
                     "per-tensor weights and per-token activations, docs/spec/fp8.md); drop the "
                     "flag and keep --fp8 or "
                     "--full-fp8"));
  }
  if (a.num_nodes != 1) {
    return absl::UnimplementedError(
        absl::StrCat("--num-nodes ", a.num_nodes,
                     ": one evo2 process drives the devices of one node; run one "
                     "evo2 predict per node on a shard of the FASTA, or use the job service"));
  }
  // TP x CP x DP is checked against the model at load (docs/parallelism.md §5).
  return absl::OkStatus();
}

// --num-layers / --hybrid-override-pattern / --seq-len-interpolation-factor override the
// architecture in the reference; here they must describe the checkpoint as it is.
absl::Status CheckOverrides(const PredictArgs& a, const ModelConfig& c) {
  if (a.num_layers && *a.num_layers != c.num_layers) {
    return absl::UnimplementedError(absl::StrCat(
        "--num-layers ", *a.num_layers, " differs from the checkpoint's ", c.num_layers,
        " layers; running a truncated model is not supported"));
  }
  // HF families (Llama, NemotronH) take their architecture from config.json; the two flags below
  // describe Hyena configs (ModelConfig::Pattern has no letters for Mamba or MLP layers).
  if (c.family != ModelFamily::kHyena &&
      (a.hybrid_override_pattern || a.seq_len_interpolation_factor)) {
    return absl::UnimplementedError(absl::StrCat(
        a.hybrid_override_pattern ? "--hybrid-override-pattern" : "--seq-len-interpolation-factor",
        " applies to Hyena checkpoints only; ", c.name,
        " takes its architecture from its config.json"));
  }
  if (a.hybrid_override_pattern && *a.hybrid_override_pattern != c.Pattern()) {
    return absl::UnimplementedError(absl::StrCat(
        "--hybrid-override-pattern ", *a.hybrid_override_pattern, " differs from the checkpoint's ",
        c.Pattern(), "; changing the layer pattern is not supported"));
  }
  if (a.seq_len_interpolation_factor &&
      static_cast<double>(*a.seq_len_interpolation_factor) != c.rotary_position_scale) {
    return absl::UnimplementedError(absl::StrCat(
        "--seq-len-interpolation-factor ", *a.seq_len_interpolation_factor,
        " differs from the model's ", c.rotary_position_scale, "; overriding it is not supported"));
  }
  return absl::OkStatus();
}

// --device auto: cuda when this build has the CUDA backend for the checkpoint's family and the
// CUDA runtime sees a GPU, else cpu.
Device ResolveDevice(const PredictArgs& a, ModelFamily family) {
  if (a.device) return *a.device;
#ifdef EVO2_WITH_CUDA
  const std::vector<Device> devices = RegisteredDevices(family);
  if (std::find(devices.begin(), devices.end(), Device::kCuda) != devices.end() &&
      CudaDeviceCount() > 0) {
    return Device::kCuda;
  }
#else
  (void)family;
#endif
  return Device::kCpu;
}

// One line on stderr: the device, precision and engine group the run uses.
void PrintSetup(const PredictArgs& a, const LoadOptions& lo, const Model& model) {
  const int ranks = lo.tensor_parallel_size * lo.context_parallel_size;
  const int replicas = lo.devices > 0 ? lo.devices / ranks : 1;
  std::cerr << "evo2 predict: device " << DeviceName(lo.device) << (a.device ? "" : " (auto)")
            << ", " << model.backend_name() << ", engine group TP=" << lo.tensor_parallel_size
            << " x CP=" << lo.context_parallel_size << " x DP=" << replicas;
  if (lo.device == Device::kCpu && ranks * replicas > 1) std::cerr << " (ranks run as threads)";
  std::cerr << ", model " << model.config().name << "\n";
}

}  // namespace

absl::Status RunPredict(const PredictArgs& a) {
  // From here on Ctrl-C / SIGTERM cancel the run cleanly (the staging directory is removed).
  CancelOnSignal cancel_on_signal;
  const std::atomic<bool>& cancelled = cancel_on_signal.flag();
  RETURN_IF_ERROR(CheckFlags(a));
  ASSIGN_OR_RETURN(auto collapse, ParseLogProbCollapse(a.log_prob_collapse_option));
  ASSIGN_OR_RETURN(auto pooling, ParseEmbeddingPooling(a.embedding_pooling));
  ASSIGN_OR_RETURN(auto format, ParseOutputFormat(a.output_format));
  const bool per_batch = a.write_interval == "batch";
  if (a.files_per_subdir && !per_batch) {
    std::cerr << "evo2 predict: warning: --files-per-subdir only applies to --write-interval "
                 "batch; ignored\n";
  }

  // The input, fully validated, before anything heavy.
  IndexedFasta::Options fasta_options;
  // --write-fai rebuilds the index from the file (replacing a stale one) instead of trusting it.
  fasta_options.use_existing_fai = !a.ignore_fai && !a.write_fai;
  ASSIGN_OR_RETURN(auto fasta, IndexedFasta::Open(a.fasta, fasta_options));
  if (a.write_fai) {
    RETURN_IF_ERROR(fasta.WriteFai(DefaultFaiPath(a.fasta)));
  }

  PredictionWriterOptions wo;
  wo.output_dir = a.output_dir;
  wo.format = format;
  wo.output_log_prob_seqs = a.output_log_prob_seqs;
  wo.collapse = collapse;
  wo.write_per_batch = per_batch;
  wo.files_per_subdir = per_batch ? a.files_per_subdir.value_or(0) : 0;
  wo.embedding_layers = a.embedding_layers;
  wo.pooling = pooling;
  ASSIGN_OR_RETURN(auto writer, PredictionWriter::Create(wo));

  std::filesystem::path ckpt_dir = a.ckpt_dir;
  if (ckpt_dir.empty()) {
    ASSIGN_OR_RETURN(auto demo, DefaultModelDir());
    ckpt_dir = demo;
    // The reference requires --ckpt-dir; say plainly which model scores the records.
    std::cerr << "evo2 predict: note: no --ckpt-dir given; using the small demo model shipped "
                 "with evo2 ("
              << ckpt_dir.string() << ", docs/demo-model.md), not a published Evo 2 checkpoint\n";
  }
  // --model-size has a default; it is used only when given or when the checkpoint carries no
  // architecture of its own (vortex config, NeMo2 context/model.yaml, HF config.json).
  ASSIGN_OR_RETURN(const CheckpointDescription ckpt, DescribeCheckpoint(ckpt_dir));
  LoadOptions lo;
  lo.checkpoint = ckpt_dir;
  if (a.model_size_given || !ckpt.has_config()) lo.model_size = a.model_size;
  // Without a config of its own the checkpoint's family is the preset's (LoadModel decides the
  // same way), e.g. a NeMo2 Llama directory without context/ and --model-size 7B.
  ModelFamily family = ckpt.family;
  if (!ckpt.has_config()) {
    if (auto preset_family = PresetFamily(a.model_size); preset_family.ok())
      family = *preset_family;
  }
  lo.device = ResolveDevice(a, family);
  lo.precision = a.precision;
  lo.threads = a.threads;
  lo.tensor_parallel_size = a.tensor_parallel_size;
  lo.context_parallel_size = a.context_parallel_size;
  lo.lora_adapter = a.lora_checkpoint_path;
  lo.fp8 = a.full_fp8 ? Fp8Mode::kAllLinears : a.fp8 ? Fp8Mode::kHyenaProjections : Fp8Mode::kOff;
  lo.fp8_stored_scales = !a.fp8_ignore_stored_scales;
  lo.devices = a.devices.value_or(0);
  ASSIGN_OR_RETURN(auto model, LoadModel(lo));
  if (cancelled.load()) return absl::CancelledError("interrupted; no output written");
  RETURN_IF_ERROR(CheckOverrides(a, model->config()));

  ScoreOptions so;
  so.prepend_bos = a.prepend_bos;
  so.keep_case = a.keep_case;
  so.want_logits = !a.output_log_prob_seqs;
  so.embedding_layers = a.embedding_layers;
  so.pooling = pooling;
  so.eden_tokenizer = a.eden_tokenizer;
  so.mask_phylogenetic_tags = a.mask_phylogenetic_tags;
  Predictor predictor(*model);
  RETURN_IF_ERROR(predictor.Validate(so));

  // Records in sorted-name order; seq_idx = position in that order (docs/spec/predict-cli.md
  // §1.3). Byte order of UTF-8 equals Python's code-point order.
  const auto& entries = fasta.entries();
  std::vector<size_t> order(entries.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(),
            [&](size_t x, size_t y) { return entries[x].name < entries[y].name; });
  std::vector<std::string> sorted_names;
  sorted_names.reserve(order.size());
  int64_t total_tokens = 0;
  const int64_t bos = a.prepend_bos ? 1 : 0;
  for (size_t i : order) {
    sorted_names.push_back(entries[i].name);
    total_tokens += entries[i].length + bos;
  }

  ProgressReporter progress(std::cerr, static_cast<int64_t>(order.size()), total_tokens, !a.quiet);
  const auto mbs = static_cast<size_t>(a.micro_batch_size);
  int64_t records_done = 0;
  int64_t tokens_done = 0;
  for (size_t begin = 0; begin < order.size(); begin += mbs) {
    const size_t end = std::min(order.size(), begin + mbs);
    std::vector<std::string> sequences;
    std::vector<RecordInput> inputs;
    std::vector<int64_t> seq_idx;
    int64_t batch_tokens = a.min_length.value_or(0);  // pads, never truncates (predict-cli.md §1.4)
    for (size_t p = begin; p < end; ++p) {
      ASSIGN_OR_RETURN(auto seq, fasta.ReadSequence(order[p]));
      sequences.push_back(std::move(seq));
      seq_idx.push_back(static_cast<int64_t>(p));
      batch_tokens = std::max<int64_t>(batch_tokens,
                                       static_cast<int64_t>(sequences.back().size()) + bos);
    }
    for (size_t k = 0; k < sequences.size(); ++k) {
      inputs.push_back(RecordInput{sorted_names[begin + k], sequences[k]});
    }
    // Once the model is up and the first records read (an input error stays the only line).
    if (begin == 0 && !a.quiet) PrintSetup(a, lo, *model);
    so.pad_to_tokens = batch_tokens;
    ASSIGN_OR_RETURN(auto scores, predictor.ScoreBatch(inputs, so, &cancelled));
    for (const RecordScore& r : scores) tokens_done += r.num_tokens;
    records_done += static_cast<int64_t>(scores.size());
    RETURN_IF_ERROR(writer->AddBatch(std::move(scores), seq_idx, batch_tokens));
    if (cancelled.load()) return absl::CancelledError("interrupted; no output written");
    progress.Update(records_done, tokens_done);
  }
  RETURN_IF_ERROR(writer->Finish(sorted_names));
  progress.Done(records_done, tokens_done);
  return absl::OkStatus();
}

}  // namespace evo2::cli
