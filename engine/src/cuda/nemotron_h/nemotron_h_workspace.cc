#include "cuda/nemotron_h/nemotron_h_workspace.h"

#include <algorithm>

#include "cuda/nemotron_h/nemotron_h_device_weights.h"
#include "cuda/workspace.h"
#include "evo2/status_macros.h"
#include "kernels/ssd_scan.cuh"

namespace evo2::cuda {

using hf::NemotronHLayerKind;

NemotronHWorkspacePlan PlanNemotronHWorkspace(const hf::NemotronHConfig& c, DType act,
                                              int64_t batch, int64_t seq) {
  const int64_t R = batch * seq, H = c.hidden_size;
  const size_t a = DTypeSize(act), f = sizeof(float);
  auto has = [&](NemotronHLayerKind kind) {
    return std::find(c.layers.begin(), c.layers.end(), kind) != c.layers.end();
  };
  NemotronHWorkspacePlan p;
  p.x = R * H * f;
  p.z = R * H * a;
  int64_t proj_cols = 0;
  if (has(NemotronHLayerKind::kMamba)) {
    proj_cols = c.InProjRows();
    p.xbc = R * c.ConvChannels() * a;
    p.y = R * c.MambaInner() * f;
    p.scan = kernels::SsdScanWorkspaceBytes(batch, seq, c.mamba_num_heads, c.mamba_head_dim,
                                            c.ssm_state_size);
  }
  if (has(NemotronHLayerKind::kAttention)) {
    const int64_t qd = c.num_attention_heads * c.attention_head_dim;
    proj_cols = std::max(proj_cols, qd + 2 * c.num_key_value_heads * c.attention_head_dim);
    // Q, K, V and the output at the kernels' head dim
    // (cuda/nemotron_h/nemotron_h_device_weights.h).
    p.attn = 4 * R * c.num_attention_heads * AttentionKernelHeadDim(c.attention_head_dim) * a;
  }
  p.proj = R * proj_cols * a;
  if (has(NemotronHLayerKind::kMlp)) p.mlp = std::min(R, kMlpChunkRows) * c.intermediate_size * a;
  p.logits = std::min(R, kHeadChunkRows) * c.vocab_size * f;
  p.tokens = R * sizeof(int32_t);
  p.log_probs = R * f;
  return p;
}

absl::Status NemotronHWorkspace::Ensure(const hf::NemotronHConfig& c, DType act, int64_t batch,
                                        int64_t seq) {
  const NemotronHWorkspacePlan want = PlanNemotronHWorkspace(c, act, batch, seq);
  auto grow = [](kernels::DeviceBuffer& buf, size_t bytes) -> absl::Status {
    if (buf.bytes() >= bytes) return absl::OkStatus();
    buf.Reset();  // free first: the old and the new buffer need not fit together
    ASSIGN_OR_RETURN(buf, kernels::DeviceBuffer::Allocate(bytes));
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(grow(x, want.x));
  RETURN_IF_ERROR(grow(z, want.z));
  RETURN_IF_ERROR(grow(proj, want.proj));
  RETURN_IF_ERROR(grow(xbc, want.xbc));
  RETURN_IF_ERROR(grow(y, want.y));
  RETURN_IF_ERROR(grow(scan, want.scan));
  RETURN_IF_ERROR(grow(attn, want.attn));
  RETURN_IF_ERROR(grow(mlp, want.mlp));
  RETURN_IF_ERROR(grow(logits, want.logits));
  RETURN_IF_ERROR(grow(tokens, want.tokens));
  RETURN_IF_ERROR(grow(targets, want.tokens));
  RETURN_IF_ERROR(grow(log_probs, want.log_probs));
  auto held = [](const kernels::DeviceBuffer& b, size_t w) { return std::max(b.bytes(), w); };
  plan_.x = held(x, want.x);
  plan_.z = held(z, want.z);
  plan_.proj = held(proj, want.proj);
  plan_.xbc = held(xbc, want.xbc);
  plan_.y = held(y, want.y);
  plan_.scan = held(scan, want.scan);
  plan_.attn = held(attn, want.attn);
  plan_.mlp = held(mlp, want.mlp);
  plan_.logits = held(logits, want.logits);
  plan_.tokens = held(tokens, want.tokens);
  plan_.log_probs = held(log_probs, want.log_probs);
  return absl::OkStatus();
}

}  // namespace evo2::cuda
