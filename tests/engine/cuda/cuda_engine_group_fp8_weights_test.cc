// FP8 weight copies of tensor-parallel shards (cuda/fp8_weights.cc, docs/spec/fp8.md "Where it
// runs"): with the whole tensor's amax (the max over the shards' Fp8TensorAmaxes, as
// CudaEngineGroupModel combines them at load) every shard's per-tensor scale equals the
// single-GPU copy's bit for bit, so its codes are the single-GPU codes of its rows; without it
// (each shard's own amax) the scales differ for some linear — the mistake this guards against.
// a_tiny6 at TP=2, --full-fp8 (every linear: column- and row-parallel), bf16. Label gpu.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "cuda/cuda_weights.h"
#include "evo2/checkpoint.h"
#include "evo2/config.h"
#include "gtest/gtest.h"
#include "support/golden_paths.h"

namespace evo2::cuda {
namespace {

template <typename V>
std::vector<V> Download(const V* device, size_t n) {
  std::vector<V> host(n);
  EXPECT_EQ(cudaMemcpy(host.data(), device, n * sizeof(V), cudaMemcpyDeviceToHost), cudaSuccess);
  return host;
}

// The block's FP8 copies in Fp8TensorAmaxes' order (--full-fp8: all four).
std::vector<const DeviceFp8Linear*> Linears(const DeviceBlockWeights& b) {
  return {&b.in_proj_fp8, &b.out_proj_fp8, &b.mlp_l12_fp8, &b.mlp_l3_fp8};
}

TEST(CudaEngineGroupFp8Weights, ShardsCarryTheWholeTensorsScaleAndItsCodes) {
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) != cudaSuccess || gpus == 0)
    GTEST_SKIP() << "no CUDA device (cudaGetDeviceCount reports none)";
  auto dir = evo2::testing::GoldenCaseDirFromEnv("a_tiny6");
  if (!dir) GTEST_SKIP() << "golden case a_tiny6 not present";
  auto config = ModelConfigFromVortexYaml(*dir / "config.yml");
  ASSERT_TRUE(config.ok()) << config.status();
  auto ckpt = LoadCheckpoint(*dir / "model.pt");
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  const Fp8Mode mode = Fp8Mode::kAllLinears;
  const std::map<std::string, StoredFp8Scales> none;
  cudaStream_t st = nullptr;
  ASSERT_EQ(cudaStreamCreate(&st), cudaSuccess);

  auto full = DeviceWeights::Upload(*config, ckpt->tensors, DType::kBFloat16);
  ASSERT_TRUE(full.ok()) << full.status();
  ASSERT_TRUE(full->AddFp8Copies(*config, mode, none, st).ok());
  constexpr int kTp = 2;
  std::vector<DeviceWeights> shards, own_scale;
  std::vector<float> whole;
  for (int r = 0; r < kTp; ++r) {
    const TensorParallelShard shard{.size = kTp, .rank = r};
    for (auto* list : {&shards, &own_scale}) {
      auto w = DeviceWeights::Upload(*config, ckpt->tensors, DType::kBFloat16, shard);
      ASSERT_TRUE(w.ok()) << w.status();
      list->push_back(std::move(*w));
    }
    auto amax = shards.back().Fp8TensorAmaxes(*config, mode, shard, st);
    ASSERT_TRUE(amax.ok()) << amax.status();
    if (whole.empty()) whole.assign(amax->size(), 0.f);
    ASSERT_EQ(amax->size(), whole.size());
    for (size_t j = 0; j < whole.size(); ++j) whole[j] = std::max(whole[j], (*amax)[j]);
  }
  ASSERT_EQ(whole.size(), 4 * full->blocks.size());
  for (int r = 0; r < kTp; ++r) {
    const TensorParallelShard shard{.size = kTp, .rank = r};
    ASSERT_TRUE(shards[r].AddFp8Copies(*config, mode, none, st, shard, &whole).ok());
    ASSERT_TRUE(own_scale[r].AddFp8Copies(*config, mode, none, st, shard).ok());
  }
  const int64_t H = config->hidden_size, Hl = H / kTp, k_full = (H + 15) / 16 * 16;
  int scale_mismatches = 0, own_scale_differs = 0;
  int64_t code_mismatches = 0, codes_compared = 0;
  for (size_t i = 0; i < full->blocks.size(); ++i) {
    const auto want = Linears(full->blocks[i]);
    for (int r = 0; r < kTp; ++r) {
      const auto got = Linears(shards[r].blocks[i]);
      const auto own = Linears(own_scale[r].blocks[i]);
      for (size_t j = 0; j < want.size(); ++j) {
        ASSERT_TRUE(want[j]->present() && got[j]->present() && own[j]->present());
        const float w_inv = Download(want[j]->inv_scale, 1)[0];
        const float g_inv = Download(got[j]->inv_scale, 1)[0];
        const float o_inv = Download(own[j]->inv_scale, 1)[0];
        scale_mismatches += std::memcmp(&w_inv, &g_inv, sizeof(float)) != 0;
        own_scale_differs += std::memcmp(&w_inv, &o_inv, sizeof(float)) != 0;
      }
      // The input projection (column-parallel): the shard's rows are rows [3Hl·r, 3Hl·(r+1)) of
      // the whole weight, so its codes are those rows of the single-GPU codes.
      const int64_t rows = 3 * Hl;
      const auto g = Download(got[0]->q, static_cast<size_t>(rows * k_full));
      const auto w = Download(want[0]->q + r * rows * k_full, static_cast<size_t>(rows * k_full));
      for (size_t e = 0; e < g.size(); ++e) code_mismatches += g[e] != w[e];
      codes_compared += static_cast<int64_t>(g.size());
    }
  }
  cudaStreamDestroy(st);
  std::printf(
      "TP=2 FP8 copies: %d scale mismatches, %lld of %lld input-projection codes differ; "
      "with each shard's own amax %d of %zu scales would differ\n",
      scale_mismatches, static_cast<long long>(code_mismatches),
      static_cast<long long>(codes_compared), own_scale_differs, 2 * whole.size());
  EXPECT_EQ(scale_mismatches, 0);
  EXPECT_EQ(code_mismatches, 0);
  EXPECT_GT(own_scale_differs, 0) << "a shard's own amax equals the whole tensor's everywhere: "
                                     "this test could not tell the two apart";
}

}  // namespace
}  // namespace evo2::cuda
