// The model: a loaded Evo 2 network on one backend (cpu fp32 reference, cuda bf16, ...).
//
// This is the engine's main public interface together with predictor.h. A Model computes, for one
// token sequence, whichever of these the caller asks for:
//   - next-token log-probabilities lp[t] = log_softmax(logits[t])[tokens[t+1]], t = 0..S-2,
//     computed without materialising the [S, 512] logits for the whole sequence;
//   - full logits [S, 512] (row t predicts token t+1);
//   - hidden states (the residual stream) after named blocks, [S, H] each.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "evo2/decoder.h"
#include "evo2/device.h"

namespace evo2 {

struct ModelConfig;  // evo2/config.h

struct ForwardOptions {
  bool log_probs = true;               // fill ForwardResult::log_probs
  bool logits = false;                 // fill ForwardResult::logits
  std::vector<int> hidden_after_blocks;  // block indices whose output stream to return
  // Activations to capture by layer name (evo2/config.h LayerCatalogue: "blocks.3.mlp.l3",
  // "decoder.layers.3", "embedding_layer", ...); each comes back in ForwardResult::layers.
  std::vector<std::string> layers;
  // Optional cancellation flag, checked between blocks: once set, Forward/ForwardBatch return
  // CANCELLED (CancelledAt below) without finishing. On a GPU the host stays at most two blocks
  // ahead of the device while a flag is given, so a cancel takes effect after at most two
  // blocks of device time; no per-block synchronisation otherwise.
  const std::atomic<bool>* cancelled = nullptr;
};

struct ForwardResult {
  std::vector<float> log_probs;  // [S-1]
  std::vector<float> logits;     // [S, 512] row-major, only when asked
  std::map<int, std::vector<float>> hidden;  // block -> [S, H] row-major
  std::map<std::string, std::vector<float>> layers;  // requested name -> [S, H] row-major
};

struct LoadOptions {
  std::filesystem::path checkpoint;      // .pt file, dir with .pt + config.yml, or NeMo2 dir
  std::optional<std::string> model_size;  // preset name (bionemo --model-size or evo2 name)
  Device device = Device::kCpu;
  Precision precision = Precision::kDefault;  // kDefault = the backend's (fp32 cpu, bf16 cuda)
  Fp8Mode fp8 = Fp8Mode::kOff;  // FP8 linears (docs/spec/fp8.md); the cpu backend emulates them
  // With FP8 on: take each linear's input and weight scales from the checkpoint's Transformer
  // Engine state where it has one (docs/spec/fp8.md, "Stored scales"); false: current scaling
  // everywhere. Not used with a LoRA adapter (the merged weights are not the ones TE scaled).
  bool fp8_stored_scales = true;
  int threads = 0;                       // cpu: 0 = all cores
  // Engine group (docs/parallelism.md): TP x CP ranks per replica and `devices` / (TP x CP)
  // data-parallel replicas; devices 0 means TP x CP. On the cpu backend the ranks are threads.
  int tensor_parallel_size = 1;
  int context_parallel_size = 1;
  int devices = 0;
  // A LoRA adapter merged into the weights at load (NeMo2 PEFT checkpoint or .safetensors;
  // docs/spec/checkpoints.md §12). Evo 2 (Hyena) checkpoints only.
  std::optional<std::filesystem::path> lora_adapter;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  // "cpu-fp32", "cuda-bf16", ...
  virtual std::string backend_name() const = 0;
  // Accelerator memory the model holds (weights, planned workspace, library scratch), for
  // monitoring; nullopt for host-memory backends.
  virtual std::optional<size_t> device_memory_bytes() const { return std::nullopt; }

  // Working memory (bytes) one forward of `tokens` tokens with `options` needs beyond what the
  // loaded model already holds, from the backend's own plan (the estimate its Forward checks
  // before allocating); nullopt for a backend without one. Non-decreasing in `tokens`.
  // evo2/record_capacity.h turns it into the longest record that fits a budget.
  virtual std::optional<int64_t> ForwardWorkingBytes(int64_t /*tokens*/,
                                                     const ForwardOptions& /*options*/) const {
    return std::nullopt;
  }
  // Memory a forward may still use now: the host's MemAvailable for host-memory backends;
  // nullopt when unknown. An accelerator backend reports its device's free memory.
  virtual std::optional<int64_t> FreeWorkingMemoryBytes() const;

  // One sequence of token ids (0..511). Thread-compatible: one call at a time per Model.
  virtual absl::StatusOr<ForwardResult> Forward(std::span<const int32_t> tokens,
                                                const ForwardOptions& options) = 0;

  // Several sequences at once (the backend may pad and batch them); each result equals what
  // Forward gives for that sequence alone, up to floating-point rounding.
  virtual absl::StatusOr<std::vector<ForwardResult>> ForwardBatch(
      std::span<const std::vector<int32_t>> sequences, const ForwardOptions& options);

  // A cached-state decoder over this model (evo2/decoder.h): prefill, then one token at a
  // time. UNIMPLEMENTED on a backend without one (the default).
  virtual absl::StatusOr<std::unique_ptr<Decoder>> NewDecoder(const DecoderOptions& options);
};

// CANCELLED ("cancelled before block N of M") when `cancelled` is set (ForwardOptions::cancelled),
// else OK; a null flag is never set. Backends call it before each block.
absl::Status CancelledAt(const std::atomic<bool>* cancelled, int block, int num_blocks);

// INVALID_ARGUMENT for an empty sequence or a token outside [0, vocab_size), naming the position;
// every backend's Forward checks its input with it.
absl::Status CheckForwardTokens(std::span<const int32_t> tokens, int64_t vocab_size);

// Loads the checkpoint, builds the config (from the checkpoint's YAML or the preset), checks
// every tensor's shape against it and constructs the backend.
absl::StatusOr<std::unique_ptr<Model>> LoadModel(const LoadOptions& options);

}  // namespace evo2
