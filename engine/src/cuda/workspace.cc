#include "cuda/workspace.h"
#include "evo2/status_macros.h"

#include <algorithm>

#include "kernels/hyena_long.cuh"

namespace evo2::cuda {

WorkspacePlan PlanWorkspace(const ModelConfig& config, DType act, int64_t batch, int64_t seq) {
  WorkspacePlan p;
  p.batch = batch;
  p.seq = seq;
  const int64_t rows = batch * seq;
  const size_t es = DTypeSize(act);
  p.act_bytes = static_cast<size_t>(rows) * config.hidden_size * es;
  p.resid_bytes = static_cast<size_t>(rows) * config.hidden_size * sizeof(float);
  p.hcl_bytes = kernels::HyenaLongWorkspaceBytes(batch, seq, config.hidden_size);
  p.mlp_bytes = static_cast<size_t>(std::min(rows, kMlpChunkRows)) * 2 * config.inner_mlp_size * es;
  p.logits_bytes = static_cast<size_t>(std::min(rows, kHeadChunkRows)) * config.vocab_size * 4;
  p.io_bytes = static_cast<size_t>(rows) * 4 * 3;
  return p;
}

absl::Status Workspace::Ensure(const ModelConfig& config, DType act, int64_t batch, int64_t seq) {
  const WorkspacePlan need = PlanWorkspace(config, act, batch, seq);
  if (need.act_bytes <= plan_.act_bytes && need.resid_bytes <= plan_.resid_bytes && need.hcl_bytes <= plan_.hcl_bytes &&
      need.mlp_bytes <= plan_.mlp_bytes && need.logits_bytes <= plan_.logits_bytes &&
      need.io_bytes <= plan_.io_bytes)
    return absl::OkStatus();
  // Free first so that the old and the new buffers never coexist.
  for (kernels::DeviceBuffer* b : {&x, &z, &q, &a, &o, &big, &mlp, &hcl, &logits, &tokens,
                                   &targets, &log_probs})
    b->Reset();
  plan_ = WorkspacePlan{};
  auto alloc = [](kernels::DeviceBuffer& b, size_t bytes) -> absl::Status {
    ASSIGN_OR_RETURN(auto r, kernels::DeviceBuffer::Allocate(std::max<size_t>(bytes, 256)));
    b = std::move(r);
    return absl::OkStatus();
  };
  const size_t rows = static_cast<size_t>(batch * seq);
  RETURN_IF_ERROR(alloc(x, need.resid_bytes));
  for (kernels::DeviceBuffer* b : {&z, &q, &a, &o})
    RETURN_IF_ERROR(alloc(*b, need.act_bytes));
  RETURN_IF_ERROR(alloc(big, 3 * need.act_bytes));
  RETURN_IF_ERROR(alloc(mlp, need.mlp_bytes));
  RETURN_IF_ERROR(alloc(hcl, need.hcl_bytes));
  RETURN_IF_ERROR(alloc(logits, need.logits_bytes));
  RETURN_IF_ERROR(alloc(tokens, rows * 4));
  RETURN_IF_ERROR(alloc(targets, rows * 4));
  RETURN_IF_ERROR(alloc(log_probs, rows * 4));
  plan_ = need;
  return absl::OkStatus();
}

size_t Workspace::bytes() const {
  size_t total = 0;
  for (const kernels::DeviceBuffer* b : {&x, &z, &q, &a, &o, &big, &mlp, &hcl, &logits, &tokens,
                                         &targets, &log_probs})
    total += b->bytes();
  return total;
}

}  // namespace evo2::cuda
