#include "cuda/llama/llama_cuda_workspace.h"

#include <algorithm>
#include <array>

#include "cuda/workspace.h"
#include "evo2/status_macros.h"

namespace evo2::cuda {
namespace {

// Bytes of each buffer, in the order of LlamaWorkspace's members.
std::array<size_t, 11> BufferBytes(const hf::LlamaConfig& c, DType act, int64_t batch,
                                   int64_t seq) {
  const size_t R = static_cast<size_t>(batch * seq), es = DTypeSize(act);
  const size_t H = static_cast<size_t>(c.hidden_size);
  const size_t qd = static_cast<size_t>(c.num_heads * c.head_dim);
  const size_t ld = static_cast<size_t>((c.num_heads + 2 * c.num_kv_heads) * c.head_dim);
  const size_t mlp_rows = static_cast<size_t>(std::min<int64_t>(batch * seq, kMlpChunkRows));
  const size_t head_rows = static_cast<size_t>(std::min<int64_t>(batch * seq, kHeadChunkRows));
  return {R * H * sizeof(float),
          R * std::max(H, qd) * es,
          R * ld * es,
          R * qd * es,
          R * qd * es,
          R * qd * es,
          mlp_rows * 2 * static_cast<size_t>(c.intermediate_size) * es,
          head_rows * static_cast<size_t>(c.vocab_size) * sizeof(float),
          R * sizeof(int32_t),
          R * sizeof(int32_t),
          R * sizeof(float)};
}

}  // namespace

size_t PlannedLlamaWorkspaceBytes(const hf::LlamaConfig& config, DType act, int64_t batch,
                                  int64_t seq) {
  size_t total = 0;
  for (size_t b : BufferBytes(config, act, batch, seq)) total += std::max<size_t>(b, 256);
  return total;
}

absl::Status LlamaWorkspace::Ensure(const hf::LlamaConfig& config, DType act, int64_t batch,
                                    int64_t seq) {
  // Every buffer grows with R alone (the chunked ones saturate), so R decides.
  if (batch * seq <= rows_) return absl::OkStatus();
  const std::array<kernels::DeviceBuffer*, 11> buffers = {
      &x, &z, &qkv, &q, &k, &v, &mlp, &logits, &tokens, &targets, &log_probs};
  // Free first so that the old and the new buffers never coexist.
  for (kernels::DeviceBuffer* b : buffers) b->Reset();
  rows_ = 0;
  const auto sizes = BufferBytes(config, act, batch, seq);
  for (size_t i = 0; i < buffers.size(); ++i) {
    ASSIGN_OR_RETURN(*buffers[i], kernels::DeviceBuffer::Allocate(std::max<size_t>(sizes[i], 256)));
  }
  rows_ = batch * seq;
  return absl::OkStatus();
}

size_t LlamaWorkspace::bytes() const {
  size_t total = 0;
  for (const kernels::DeviceBuffer* b :
       {&x, &z, &qkv, &q, &k, &v, &mlp, &logits, &tokens, &targets, &log_probs})
    total += b->bytes();
  return total;
}

}  // namespace evo2::cuda
