// Memory planning of the Llama family on cuda (host arithmetic only: runs without a GPU): the
// weight-bytes formula counts Llama-3.1-8B's published 8 030 261 248 parameters, and a
// 131 072-token record of that shape fits an 80 GB card.
#include <cstdint>

#include "cuda/llama/llama_cuda_weights.h"
#include "cuda/llama/llama_cuda_workspace.h"
#include "gtest/gtest.h"
#include "hf/llama_config.h"

namespace evo2::cuda {
namespace {

constexpr double kGB = 1e9;

hf::LlamaConfig Llama31_8B() {
  hf::LlamaConfig c;
  c.num_layers = 32;
  c.hidden_size = 4096;
  c.num_heads = 32;
  c.num_kv_heads = 8;
  c.head_dim = 128;
  c.intermediate_size = 14336;
  c.vocab_size = 128256;
  return c;
}

TEST(LlamaMemoryPlanTest, WeightBytesCountTheModelsParameters) {
  const hf::LlamaConfig c = Llama31_8B();
  const size_t inv_freq_bytes = 64 * sizeof(float);
  EXPECT_EQ((PlannedLlamaWeightBytes(c, DType::kBFloat16) - inv_freq_bytes) / 2,
            size_t{8030261248});
  EXPECT_EQ(PlannedLlamaWeightBytes(c, DType::kFloat32) - inv_freq_bytes, size_t{8030261248} * 4);
  hf::LlamaConfig tied = c;
  tied.tie_word_embeddings = true;  // one [V, H] table less
  EXPECT_EQ(PlannedLlamaWeightBytes(c, DType::kBFloat16) -
                PlannedLlamaWeightBytes(tied, DType::kBFloat16),
            size_t{128256} * 4096 * 2);
}

TEST(LlamaMemoryPlanTest, A131kRecordOfThe8BFitsEightyGigabytes) {
  const hf::LlamaConfig c = Llama31_8B();
  const double total = (PlannedLlamaWeightBytes(c, DType::kBFloat16) +
                        PlannedLlamaWorkspaceBytes(c, DType::kBFloat16, 1, 131072)) /
                       kGB;
  // The CUDA context, cuBLAS and cuDNN add ≈ 1 GB (bench/RESULTS.md, "device used").
  EXPECT_LE(total, 80.0 - 2.0) << total << " GB";
  // Bounded chunks: 8× the tokens costs less than 8× the workspace.
  EXPECT_LT(PlannedLlamaWorkspaceBytes(c, DType::kBFloat16, 1, 1048576),
            8 * PlannedLlamaWorkspaceBytes(c, DType::kBFloat16, 1, 131072));
}

}  // namespace
}  // namespace evo2::cuda
