// The model's weights on the GPU, in the layouts the kernels and GEMMs want:
//   activation-typed (bf16, or fp32 in the checking mode): embedding, norms, GEMM weights, biases;
//   fp32 always: featurizer/FIR taps, D, log-poles, residues, inv_freq (docs/spec/model.md §10:
//   the reference keeps hcl parameters, inv_freq in fp32; the small taps cost nothing in fp32).
// Load-time layout changes (docs/spec/model.md §7, §9): mlp.l1, mlp.l2 in one [2I, H] matrix
// (one GEMM for both); hcs taps are reversed from conv order to impulse order so that one FIR
// kernel serves hcs and hcm. Wqkv keeps the file's per-head row order (the rotary kernel reads
// it directly).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "evo2/checkpoint.h"
#include "evo2/config.h"
#include "evo2/device.h"
#include "evo2/tensor.h"
#include "kernels/device_buffer.h"

namespace evo2::cuda {

// A linear layer's FP8 copy (docs/spec/fp8.md, kernels/fp8_quantize.cuh): E4M3 codes
// [out, k] with k = in rounded up to 16 (zero columns), and 1/s_W per output row.
struct DeviceFp8Linear {
  const uint8_t* q = nullptr;
  const float* inv_scale = nullptr;
  int64_t k = 0;
  // The stored input scale s_x for every row of this linear's input ("Stored scales"); 0: per-row
  // current amax.
  float input_scale = 0.0f;
  bool present() const { return q != nullptr; }
};

struct DeviceBlockWeights {
  BlockKind kind = BlockKind::kHcs;
  const void* pre_norm = nullptr;   // [H] act
  const void* post_norm = nullptr;  // [H] act
  const void* mlp_l12 = nullptr;    // [2I, H] act: rows 0..I-1 = l1, I..2I-1 = l2
  const void* mlp_l3 = nullptr;     // [H, I] act
  const void* in_proj = nullptr;    // [3H, H] act: projections (hyena) or Wqkv (attention)
  const void* out_proj = nullptr;   // [H, H] act: out_filter_dense or out_proj
  const void* out_bias = nullptr;   // [H] act or nullptr
  const float* short_taps = nullptr;  // [3H, 3] fp32, conv order (hyena)
  const float* fir_taps = nullptr;    // [G, K] fp32, impulse order (hcs, hcm)
  int fir_groups = 0, fir_length = 0;
  const float* skip_d = nullptr;     // [H] fp32 (hcm, hcl)
  const float* log_poles = nullptr;  // [H, 16] fp32 (hcl)
  const float* residues = nullptr;   // [H, 16] fp32 (hcl)
  const float* inv_freq = nullptr;   // [d/2] fp32 (attention)
  // FP8 copies, present for the layers the Fp8Mode selects.
  DeviceFp8Linear in_proj_fp8, out_proj_fp8, mlp_l12_fp8, mlp_l3_fp8;
};

// Which tensor-parallel rank's part of the weights a DeviceWeights holds (docs/parallelism.md §1,
// the splits of parallel/shard_weights.h): rank `rank` of `size` keeps H/T channels (Hyena
// channel triples, whole attention heads, whole filter groups), I/T MLP rows and V/T vocabulary
// rows; norms, biases and inv_freq are replicated. size 1 is the whole model.
struct TensorParallelShard {
  int size = 1;
  int rank = 0;
};

// Device bytes Upload/Random allocate for `config` (admission control and memory planning).
size_t PlannedWeightBytes(const ModelConfig& config, DType act_dtype);

class DeviceWeights {
 public:
  DType act_dtype = DType::kBFloat16;
  // [vocab, H] act (also the tied head); a TP shard (size > 1) holds [V/T + 1, H]: its
  // vocabulary rows, then one zero row that the masked lookup maps foreign tokens to.
  const void* embedding = nullptr;
  const void* final_norm = nullptr;  // [H] act
  std::vector<DeviceBlockWeights> blocks;
  size_t bytes = 0;  // device memory held
  Fp8Mode fp8 = Fp8Mode::kOff;

  // Uploads a validated checkpoint (names as in docs/spec/model.md §9) converting to `act_dtype`.
  // With `shard`, only that TP rank's part (cut on the host before the upload).
  static absl::StatusOr<DeviceWeights> Upload(const ModelConfig& config, const TensorMap& tensors,
                                              DType act_dtype, TensorParallelShard shard = {});
  // Adds the FP8 copies `mode` selects (quantised on the device from the act-typed weights, so
  // bf16 checkpoints give exactly the CPU emulation's codes). The act-typed weights stay.
  // `stored`: Transformer Engine's stored scales (Checkpoint::fp8_scales), used where present
  // exactly as cpu/quantize_linears.cc uses them.
  // A TP shard (docs/parallelism.md §7) passes its `shard` (the linears' shapes) and
  // `tensor_amax`: per FP8 linear, in Fp8TensorAmaxes' order, the max |w| of the WHOLE tensor
  // (the max over the shards' Fp8TensorAmaxes), so that every shard is quantised with the
  // per-tensor scale one GPU uses and the codes do not depend on TP. Stored scales still win.
  absl::Status AddFp8Copies(const ModelConfig& config, Fp8Mode mode,
                            const std::map<std::string, StoredFp8Scales>& stored,
                            cudaStream_t stream, TensorParallelShard shard = {},
                            const std::vector<float>* tensor_amax = nullptr);
  // max |w| of each linear `mode` quantises, this shard's part of it, in block order (in_proj,
  // then with kAllLinears out_proj, mlp_l12, mlp_l3). Waits for `stream`.
  absl::StatusOr<std::vector<float>> Fp8TensorAmaxes(const ModelConfig& config, Fp8Mode mode,
                                                     TensorParallelShard shard,
                                                     cudaStream_t stream) const;
  // Random weights of realistic scale for `config` (benchmarks): built on the device.
  static absl::StatusOr<DeviceWeights> Random(const ModelConfig& config, DType act_dtype,
                                              uint64_t seed, TensorParallelShard shard = {});

 private:
  // Allocates `n` elements of `dtype` and returns the pointer (owned here).
  absl::StatusOr<void*> Allocate(int64_t n, DType dtype);
  std::vector<kernels::DeviceBuffer> buffers_;
};

}  // namespace evo2::cuda
