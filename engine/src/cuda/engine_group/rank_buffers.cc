#include "cuda/engine_group/rank_buffers.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <string_view>
#include <utility>

#include "cuda/engine_group/halo_plan.h"
#include "cuda/workspace.h"
#include "evo2/status_macros.h"
#include "kernels/cuda_status.cuh"
#include "kernels/hyena_long.cuh"
#include "kernels/hyena_long_cp.cuh"

namespace evo2::cuda {

absl::Status RankBuffers::Grow(kernels::DeviceBuffer& b, size_t bytes) {
  if (b.bytes() >= bytes) return absl::OkStatus();
  b = kernels::DeviceBuffer();  // release before allocating the larger one
  ASSIGN_OR_RETURN(b, kernels::DeviceBuffer::Allocate(bytes));
  return absl::OkStatus();
}

PinnedHostFloats::~PinnedHostFloats() {
  if (data_ != nullptr) cudaFreeHost(data_);
}

absl::Status PinnedHostFloats::Ensure(size_t count) {
  if (count <= count_) return absl::OkStatus();
  if (data_ != nullptr) CUDA_RETURN_IF_ERROR(cudaFreeHost(data_));
  data_ = nullptr;
  count_ = 0;
  void* p = nullptr;
  CUDA_RETURN_IF_ERROR(cudaMallocHost(&p, count * sizeof(float)));
  data_ = static_cast<float*>(p);
  count_ = count;
  return absl::OkStatus();
}

RankShape MakeRankShape(const ModelConfig& c, const parallel::SequenceSplit& split, int tp,
                        size_t act_bytes) {
  const int64_t Lc = split.chunk_tokens();
  RankShape s{.H = c.hidden_size,
              .Hl = c.hidden_size / tp,
              .Il = c.inner_mlp_size / tp,
              .Vl = c.vocab_size / tp,
              .tp = tp,
              .cp = split.num_chunks() == 1 ? 1 : split.num_chunks() / 2,
              .L = split.LocalRows(),
              .Lc = Lc,
              .P = split.padded_tokens(),
              .act_bytes = act_bytes,
              .heads = c.num_heads / tp,
              .head_dim = c.head_dim};
  // The widest halo region: the hcm's of Hl columns or the featurizer's of 3Hl (ext_in).
  s.ext_rows = std::max({MakeHaloLayout(Lc, c.hcm_filter_length - 1).region,
                         MakeHaloLayout(Lc, kFeaturizerHalo).region,
                         MakeHaloLayout(Lc, c.hcs_filter_length - 1).region});
  return s;
}

size_t Fp8CodesBytes(int64_t rows, int64_t k) {
  return (static_cast<size_t>(rows * k) + 255) / 256 * 256;
}

int64_t AlignElements(int64_t n) { return (n + kScratchAlign - 1) / kScratchAlign * kScratchAlign; }

HyenaScratchLayout MakeHyenaScratchLayout(const RankShape& s) {
  HyenaScratchLayout h;
  h.ext_q = AlignElements(2 * s.ext_rows * 3 * s.Hl);
  h.ext_o = h.ext_q + AlignElements(2 * s.ext_rows * s.Hl);
  h.elements = h.ext_o + AlignElements(2 * s.ext_rows * s.Hl);
  return h;
}

KvGatherLayout MakeKvGatherLayout(const RankShape& s, int64_t g) {
  KvGatherLayout k;
  k.g = g;
  k.groups = s.heads / g;
  const bool split_heads = g < s.heads;
  const int64_t d = s.head_dim;
  k.send = 0;
  k.gathered = split_heads ? AlignElements(2 * g * s.Lc * d) : 0;
  k.k = k.gathered + AlignElements(s.cp * 2 * g * s.Lc * d);
  k.v = k.k + AlignElements(g * s.P * d);
  k.out = k.v + AlignElements(g * s.P * d);
  k.elements = k.out + (split_heads ? AlignElements(s.Lc * g * d) : 0);
  return k;
}

namespace {

// The K/V gather's head group: the most heads (a divisor of `heads`) whose gather fits in the
// Hyena blocks' halo scratch, so the attention adds no memory of its own; at least one head.
// Fewer heads per gather only add collectives (2 per group per layer), the attention itself is
// per head.
KvGatherLayout ChooseKvGather(const RankShape& s, int64_t hyena_elements) {
  KvGatherLayout best = MakeKvGatherLayout(s, 1);
  for (int64_t g = 1; g <= s.heads; ++g) {
    if (s.heads % g != 0) continue;
    if (s.kv_heads_per_gather > 0 && g > s.kv_heads_per_gather) break;
    const KvGatherLayout k = MakeKvGatherLayout(s, g);
    if (g == 1 || s.kv_heads_per_gather > 0 || k.elements <= hyena_elements) best = k;
  }
  return best;
}

}  // namespace

size_t RankWorkspacePlan::device_bytes() const {
  size_t total = 0;
  for (const Buffer& b : buffers) total += b.bytes;
  return total;
}

size_t RankWorkspacePlan::bytes_of(const char* name) const {
  for (const Buffer& b : buffers)
    if (std::string_view(b.name) == name) return b.bytes;
  return 0;
}

RankWorkspacePlan PlanRankWorkspace(const RankShape& s) {
  const size_t act = s.act_bytes, f32 = sizeof(float);
  const auto n = [](int64_t v) { return static_cast<size_t>(v); };
  const int64_t mlp_rows = std::min(s.L, kMlpChunkRows), head_rows = std::min(s.L, kHeadChunkRows);
  const bool split = s.cp > 1;
  RankWorkspacePlan p;
  auto add = [&](const char* name, size_t bytes) { p.buffers.push_back({name, bytes}); };
  add("x", n(s.L * s.H) * f32);
  add("z", n(s.L * s.H) * act);
  add("big", n(s.L * 3 * s.Hl) * act);
  for (const char* name : {"q", "a", "o"}) add(name, n(s.L * s.Hl) * act);
  add("mlp", n(mlp_rows * 2 * s.Il) * act);
  add("logits", n(head_rows * s.Vl) * f32);
  add("lse", n(s.L * 2) * f32);
  add("lse_all", n(s.tp * s.L * 2) * f32);
  add("ids", n(s.L) * sizeof(int32_t));
  add("targets", n(s.L) * sizeof(int32_t));
  add("hcl", split ? kernels::HyenaLongWorkspaceBytes(2, s.Lc, s.Hl)
                   : kernels::HyenaLongWorkspaceBytes(1, s.L, s.Hl));
  if (split) {
    const int64_t hyena = MakeHyenaScratchLayout(s).elements;
    p.kv = ChooseKvGather(s, hyena);
    add("cp_scratch", n(std::max(hyena, p.kv.elements)) * act);
    add("hcl_end", kernels::HyenaLongEndStateWorkspaceBytes(2, s.Lc, s.Hl));
    add("end_state", n(2 * s.Hl * 16) * f32);
    add("end_states", n(s.cp * 2 * s.Hl * 16) * f32);
    add("incoming", n(2 * s.Hl * 16) * f32);
  }
  if (s.fp8) {
    const auto pad16 = [](int64_t k) { return (k + 15) / 16 * 16; };
    const size_t codes = std::max({Fp8CodesBytes(s.L, pad16(s.H)), Fp8CodesBytes(s.L, pad16(s.Hl)),
                                   Fp8CodesBytes(mlp_rows, pad16(s.Il))});
    add("fp8_rows", codes + n(s.L) * f32);
    add("fp8_amax", s.tp > 1 ? n((s.tp + 1) * s.L) * f32 : 0);
  }
  p.pinned_host_bytes =
      std::max({n(s.L * s.H), n(head_rows * s.Vl), n(s.tp * s.L * 2)}) * sizeof(float);
  return p;
}

absl::Status RankBuffers::Ensure(const RankShape& s) {
  plan_ = PlanRankWorkspace(s);
  const std::pair<const char*, kernels::DeviceBuffer*> named[] = {{"x", &x},
                                                                  {"z", &z},
                                                                  {"big", &big},
                                                                  {"q", &q},
                                                                  {"a", &a},
                                                                  {"o", &o},
                                                                  {"mlp", &mlp},
                                                                  {"logits", &logits},
                                                                  {"lse", &lse},
                                                                  {"lse_all", &lse_all},
                                                                  {"ids", &ids},
                                                                  {"targets", &targets},
                                                                  {"hcl", &hcl},
                                                                  {"cp_scratch", &cp_scratch},
                                                                  {"hcl_end", &hcl_end},
                                                                  {"end_state", &end_state},
                                                                  {"end_states", &end_states},
                                                                  {"incoming", &incoming},
                                                                  {"fp8_rows", &fp8_rows},
                                                                  {"fp8_amax", &fp8_amax}};
  for (const auto& [name, buffer] : named) RETURN_IF_ERROR(Grow(*buffer, plan_.bytes_of(name)));
  return host.Ensure(plan_.pinned_host_bytes / sizeof(float));
}

size_t RankBuffers::bytes() const {
  size_t total = 0;
  for (const kernels::DeviceBuffer* b :
       {&x,         &z,          &big,      &q,          &a,        &o,        &mlp,
        &logits,    &lse,        &lse_all,  &ids,        &targets,  &hcl,      &hcl_end,
        &end_state, &end_states, &incoming, &cp_scratch, &fp8_rows, &fp8_amax, &staging})
    total += b->bytes();
  return total;
}

}  // namespace evo2::cuda
