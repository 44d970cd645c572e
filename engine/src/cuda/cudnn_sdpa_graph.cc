#include "cuda/cudnn_sdpa_graph.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"

namespace evo2::cuda {
namespace {

using Dims = std::array<int64_t, 4>;

// Every tensor of the graph is 4-d; the engines want 16-byte aligned device tensors.
constexpr int64_t kAlignment = 16;

// Builds and finalizes the graph's descriptors; `parts` keeps each one alive.
class GraphBuilder {
 public:
  explicit GraphBuilder(const CudnnApi& api) : api_(api) {}

  absl::StatusOr<const BackendDescriptor*> Tensor(int64_t uid, cudnnDataType_t type,
                                                  const Dims& dims, const Dims& strides,
                                                  bool is_virtual, bool by_value = false) {
    ASSIGN_OR_RETURN(BackendDescriptor t,
                     BackendDescriptor::Make(api_, CUDNN_BACKEND_TENSOR_DESCRIPTOR));
    const std::string what = absl::StrCat("tensor uid ", uid);
    RETURN_IF_ERROR(t.SetDataType(CUDNN_ATTR_TENSOR_DATA_TYPE, type, what.c_str()));
    RETURN_IF_ERROR(
        t.Set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims.data(), what.c_str()));
    RETURN_IF_ERROR(
        t.Set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides.data(), what.c_str()));
    RETURN_IF_ERROR(t.SetInt64(CUDNN_ATTR_TENSOR_UNIQUE_ID, uid, what.c_str()));
    RETURN_IF_ERROR(t.SetInt64(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, kAlignment, what.c_str()));
    RETURN_IF_ERROR(
        t.Set(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &is_virtual, what.c_str()));
    if (by_value) {
      RETURN_IF_ERROR(
          t.Set(CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &by_value, what.c_str()));
    }
    RETURN_IF_ERROR(t.Finalize(what.c_str()));
    return Keep(std::move(t));
  }

  // y = mode(x[, b[, t]]); `axis` for GEN_INDEX.
  absl::Status Pointwise(const char* name, cudnnPointwiseMode_t mode, cudnnDataType_t math,
                         const BackendDescriptor& x, const BackendDescriptor* b,
                         const BackendDescriptor* t, const BackendDescriptor& y,
                         std::optional<int64_t> axis = std::nullopt) {
    ASSIGN_OR_RETURN(BackendDescriptor pw,
                     BackendDescriptor::Make(api_, CUDNN_BACKEND_POINTWISE_DESCRIPTOR));
    RETURN_IF_ERROR(pw.Set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode, name));
    RETURN_IF_ERROR(pw.SetDataType(CUDNN_ATTR_POINTWISE_MATH_PREC, math, name));
    if (axis.has_value()) RETURN_IF_ERROR(pw.SetInt64(CUDNN_ATTR_POINTWISE_AXIS, *axis, name));
    RETURN_IF_ERROR(pw.Finalize(name));
    ASSIGN_OR_RETURN(BackendDescriptor op,
                     BackendDescriptor::Make(api_, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR));
    RETURN_IF_ERROR(op.SetDescriptor(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw, name));
    RETURN_IF_ERROR(op.SetDescriptor(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x, name));
    if (b != nullptr) {
      RETURN_IF_ERROR(op.SetDescriptor(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, *b, name));
    }
    if (t != nullptr) {
      RETURN_IF_ERROR(op.SetDescriptor(CUDNN_ATTR_OPERATION_POINTWISE_TDESC, *t, name));
    }
    RETURN_IF_ERROR(op.SetDescriptor(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y, name));
    RETURN_IF_ERROR(op.Finalize(name));
    Keep(std::move(pw));
    ops_.push_back(Keep(std::move(op))->get());
    return absl::OkStatus();
  }

  // y = reduce(x) over the axes where y has extent 1.
  absl::Status Reduction(const char* name, cudnnReduceTensorOp_t reduce,
                         const BackendDescriptor& x, const BackendDescriptor& y) {
    ASSIGN_OR_RETURN(BackendDescriptor rd,
                     BackendDescriptor::Make(api_, CUDNN_BACKEND_REDUCTION_DESCRIPTOR));
    RETURN_IF_ERROR(rd.Set(CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1,
                           &reduce, name));
    RETURN_IF_ERROR(rd.SetDataType(CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_DATA_FLOAT, name));
    RETURN_IF_ERROR(rd.Finalize(name));
    ASSIGN_OR_RETURN(BackendDescriptor op,
                     BackendDescriptor::Make(api_, CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR));
    RETURN_IF_ERROR(op.SetDescriptor(CUDNN_ATTR_OPERATION_REDUCTION_DESC, rd, name));
    RETURN_IF_ERROR(op.SetDescriptor(CUDNN_ATTR_OPERATION_REDUCTION_XDESC, x, name));
    RETURN_IF_ERROR(op.SetDescriptor(CUDNN_ATTR_OPERATION_REDUCTION_YDESC, y, name));
    RETURN_IF_ERROR(op.Finalize(name));
    Keep(std::move(rd));
    ops_.push_back(Keep(std::move(op))->get());
    return absl::OkStatus();
  }

  // c = a · b (batched over the leading two axes), fp32 accumulation.
  absl::Status Matmul(const char* name, const BackendDescriptor& a, const BackendDescriptor& b,
                      const BackendDescriptor& c) {
    ASSIGN_OR_RETURN(BackendDescriptor mm,
                     BackendDescriptor::Make(api_, CUDNN_BACKEND_MATMUL_DESCRIPTOR));
    RETURN_IF_ERROR(mm.SetDataType(CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_DATA_FLOAT, name));
    RETURN_IF_ERROR(mm.Finalize(name));
    ASSIGN_OR_RETURN(BackendDescriptor op,
                     BackendDescriptor::Make(api_, CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR));
    RETURN_IF_ERROR(op.SetDescriptor(CUDNN_ATTR_OPERATION_MATMUL_DESC, mm, name));
    RETURN_IF_ERROR(op.SetDescriptor(CUDNN_ATTR_OPERATION_MATMUL_ADESC, a, name));
    RETURN_IF_ERROR(op.SetDescriptor(CUDNN_ATTR_OPERATION_MATMUL_BDESC, b, name));
    RETURN_IF_ERROR(op.SetDescriptor(CUDNN_ATTR_OPERATION_MATMUL_CDESC, c, name));
    RETURN_IF_ERROR(op.Finalize(name));
    Keep(std::move(mm));
    ops_.push_back(Keep(std::move(op))->get());
    return absl::OkStatus();
  }

  absl::StatusOr<const BackendDescriptor*> Graph(cudnnHandle_t handle) {
    ASSIGN_OR_RETURN(BackendDescriptor g,
                     BackendDescriptor::Make(api_, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR));
    RETURN_IF_ERROR(g.Set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                          static_cast<int64_t>(ops_.size()), ops_.data(), "operation graph"));
    RETURN_IF_ERROR(
        g.Set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "operation graph"));
    RETURN_IF_ERROR(g.Finalize("operation graph (causal SDPA pattern)"));
    return Keep(std::move(g));
  }

  const BackendDescriptor* Keep(BackendDescriptor d) {
    parts_.push_back(std::make_unique<BackendDescriptor>(std::move(d)));
    return parts_.back().get();
  }

  std::vector<BackendDescriptor> TakeParts() {
    std::vector<BackendDescriptor> out;
    out.reserve(parts_.size());
    for (auto& p : parts_) out.push_back(std::move(*p));
    parts_.clear();
    return out;
  }

 private:
  const CudnnApi& api_;
  std::vector<std::unique_ptr<BackendDescriptor>> parts_;  // stable addresses while building
  std::vector<cudnnBackendDescriptor_t> ops_;
};

// The engine configurations cuDNN's heuristics propose for `graph` in `mode`, best first.
absl::StatusOr<std::vector<BackendDescriptor>> EngineConfigs(const CudnnApi& api,
                                                             const BackendDescriptor& graph,
                                                             cudnnBackendHeurMode_t mode) {
  ASSIGN_OR_RETURN(BackendDescriptor heur,
                   BackendDescriptor::Make(api, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR));
  RETURN_IF_ERROR(
      heur.SetDescriptor(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph, "engine heuristics"));
  RETURN_IF_ERROR(
      heur.Set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode, "engine heuristics"));
  RETURN_IF_ERROR(heur.Finalize("engine heuristics"));
  int64_t count = 0;
  RETURN_IF_ERROR(
      api.Check(api.BackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                        CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nullptr),
                "cudnnBackendGetAttribute(ENGINEHEUR_RESULTS count)"));
  std::vector<BackendDescriptor> configs;
  std::vector<cudnnBackendDescriptor_t> raw;
  for (int64_t i = 0; i < count; ++i) {
    ASSIGN_OR_RETURN(BackendDescriptor c,
                     BackendDescriptor::Make(api, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
    raw.push_back(c.get());
    configs.push_back(std::move(c));
  }
  if (count == 0) return configs;
  int64_t got = 0;
  RETURN_IF_ERROR(
      api.Check(api.BackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                        CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &got, raw.data()),
                "cudnnBackendGetAttribute(ENGINEHEUR_RESULTS)"));
  configs.resize(static_cast<size_t>(std::max<int64_t>(0, std::min(got, count))));
  return configs;
}

// cuDNN's global index of the engine behind `config` (for logs); −1 when it cannot be read.
int64_t EngineIndex(const CudnnApi& api, const BackendDescriptor& config) {
  auto engine = BackendDescriptor::Make(api, CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  if (!engine.ok()) return -1;
  cudnnBackendDescriptor_t raw = engine->get();
  int64_t n = 0;
  if (api.BackendGetAttribute(config.get(), CUDNN_ATTR_ENGINECFG_ENGINE,
                              CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &raw) != CUDNN_STATUS_SUCCESS) {
    return -1;
  }
  int64_t index = -1;
  if (api.BackendGetAttribute(raw, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n,
                              &index) != CUDNN_STATUS_SUCCESS) {
    return -1;
  }
  return index;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SdpaPlan>> BuildCausalSdpaPlan(const CudnnApi& api,
                                                              cudnnHandle_t handle,
                                                              const SdpaShape& shape,
                                                              int64_t choice) {
  const auto start = std::chrono::steady_clock::now();
  const int64_t B = shape.batch, h = shape.heads, s = shape.seq, d = shape.head_dim;
  if (B <= 0 || h <= 0 || s <= 0 || d <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("cuDNN attention: non-positive shape batch=", B,
                                                   " heads=", h, " seq=", s, " head_dim=", d));
  }
  GraphBuilder g(api);
  // Virtual tensors get uids above the device tensors' (they never enter the variant pack).
  int64_t next_uid = 100;
  const Dims qkv_dims{B, h, s, d};
  const Dims qkv_strides{h * s * d, s * d, d, 1};
  const Dims scores_dims{B, h, s, s};
  const Dims scores_strides{h * s * s, s * s, s, 1};
  const Dims row_dims{B, h, s, 1};
  const Dims row_strides{h * s, s, 1, 1};
  const Dims scalar{1, 1, 1, 1};

  ASSIGN_OR_RETURN(const BackendDescriptor* q,
                   g.Tensor(kSdpaUidQ, CUDNN_DATA_BFLOAT16, qkv_dims, qkv_strides, false));
  // Kᵀ: the same memory as K [B, h, s, d], indexed as [B, h, d, s].
  ASSIGN_OR_RETURN(const BackendDescriptor* kt,
                   g.Tensor(kSdpaUidK, CUDNN_DATA_BFLOAT16, Dims{B, h, d, s},
                            Dims{h * s * d, s * d, 1, d}, false));
  ASSIGN_OR_RETURN(const BackendDescriptor* v,
                   g.Tensor(kSdpaUidV, CUDNN_DATA_BFLOAT16, qkv_dims, qkv_strides, false));
  // out[b, t, head·d + i]: [B, h, s, d] with the sequence stride h·d.
  ASSIGN_OR_RETURN(const BackendDescriptor* o,
                   g.Tensor(kSdpaUidO, CUDNN_DATA_BFLOAT16, qkv_dims, Dims{s * h * d, d, h * d, 1},
                            false));
  ASSIGN_OR_RETURN(const BackendDescriptor* scale,
                   g.Tensor(kSdpaUidScale, CUDNN_DATA_FLOAT, scalar, scalar, false, true));
  ASSIGN_OR_RETURN(const BackendDescriptor* neg_inf,
                   g.Tensor(kSdpaUidNegInf, CUDNN_DATA_FLOAT, scalar, scalar, false, true));

  auto scores = [&](cudnnDataType_t type) {
    return g.Tensor(next_uid++, type, scores_dims, scores_strides, true);
  };
  auto per_row = [&]() {
    return g.Tensor(next_uid++, CUDNN_DATA_FLOAT, row_dims, row_strides, true);
  };
  ASSIGN_OR_RETURN(const BackendDescriptor* s_raw, scores(CUDNN_DATA_FLOAT));
  ASSIGN_OR_RETURN(const BackendDescriptor* s_scaled, scores(CUDNN_DATA_FLOAT));
  ASSIGN_OR_RETURN(const BackendDescriptor* row, scores(CUDNN_DATA_INT32));
  ASSIGN_OR_RETURN(const BackendDescriptor* col, scores(CUDNN_DATA_INT32));
  ASSIGN_OR_RETURN(const BackendDescriptor* keep, scores(CUDNN_DATA_BOOLEAN));
  ASSIGN_OR_RETURN(const BackendDescriptor* s_masked, scores(CUDNN_DATA_FLOAT));
  ASSIGN_OR_RETURN(const BackendDescriptor* row_max, per_row());
  ASSIGN_OR_RETURN(const BackendDescriptor* centered, scores(CUDNN_DATA_FLOAT));
  ASSIGN_OR_RETURN(const BackendDescriptor* expd, scores(CUDNN_DATA_FLOAT));
  ASSIGN_OR_RETURN(const BackendDescriptor* row_sum, per_row());
  ASSIGN_OR_RETURN(const BackendDescriptor* log_sum, per_row());
  ASSIGN_OR_RETURN(const BackendDescriptor* stats, per_row());
  ASSIGN_OR_RETURN(const BackendDescriptor* probs, scores(CUDNN_DATA_BFLOAT16));

  RETURN_IF_ERROR(g.Matmul("bmm1 Q·Kt", *q, *kt, *s_raw));
  RETURN_IF_ERROR(g.Pointwise("scale", CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, *s_raw, scale,
                              nullptr, *s_scaled));
  RETURN_IF_ERROR(g.Pointwise("row index", CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_FLOAT, *s_scaled,
                              nullptr, nullptr, *row, 2));
  RETURN_IF_ERROR(g.Pointwise("col index", CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_FLOAT, *s_scaled,
                              nullptr, nullptr, *col, 3));
  RETURN_IF_ERROR(g.Pointwise("causal row>=col", CUDNN_POINTWISE_CMP_GE, CUDNN_DATA_BOOLEAN, *row,
                              col, nullptr, *keep));
  RETURN_IF_ERROR(g.Pointwise("causal select", CUDNN_POINTWISE_BINARY_SELECT, CUDNN_DATA_FLOAT,
                              *s_scaled, neg_inf, keep, *s_masked));
  RETURN_IF_ERROR(g.Reduction("softmax max", CUDNN_REDUCE_TENSOR_MAX, *s_masked, *row_max));
  RETURN_IF_ERROR(g.Pointwise("softmax sub", CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, *s_masked,
                              row_max, nullptr, *centered));
  RETURN_IF_ERROR(g.Pointwise("softmax exp", CUDNN_POINTWISE_EXP, CUDNN_DATA_FLOAT, *centered,
                              nullptr, nullptr, *expd));
  RETURN_IF_ERROR(g.Reduction("softmax sum", CUDNN_REDUCE_TENSOR_ADD, *expd, *row_sum));
  RETURN_IF_ERROR(g.Pointwise("softmax log", CUDNN_POINTWISE_LOG, CUDNN_DATA_FLOAT, *row_sum,
                              nullptr, nullptr, *log_sum));
  RETURN_IF_ERROR(g.Pointwise("softmax stats", CUDNN_POINTWISE_ADD, CUDNN_DATA_FLOAT, *row_max,
                              log_sum, nullptr, *stats));
  RETURN_IF_ERROR(g.Pointwise("softmax div", CUDNN_POINTWISE_DIV, CUDNN_DATA_FLOAT, *expd, row_sum,
                              nullptr, *probs));
  RETURN_IF_ERROR(g.Matmul("bmm2 P·V", *probs, *v, *o));
  ASSIGN_OR_RETURN(const BackendDescriptor* graph, g.Graph(handle));

  // Heuristics, best first; the first configuration that finalizes into a plan wins.
  auto result = std::make_unique<SdpaPlan>();
  result->shape = shape;
  std::string last_error = "the heuristics proposed no engine configuration";
  for (cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
    auto configs = EngineConfigs(api, *graph, mode);
    if (!configs.ok()) {
      last_error = std::string(configs.status().message());
      continue;
    }
    for (BackendDescriptor& config : *configs) {
      ++result->candidates_tried;
      ASSIGN_OR_RETURN(BackendDescriptor plan,
                       BackendDescriptor::Make(api, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR));
      RETURN_IF_ERROR(
          plan.Set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "plan"));
      RETURN_IF_ERROR(plan.SetDescriptor(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, config, "plan"));
      const absl::Status fin = plan.Finalize("execution plan");
      if (!fin.ok()) {
        last_error = std::string(fin.message());
        continue;
      }
      if (choice > 0) {  // a working configuration, but the caller asked for a later one
        --choice;
        last_error = "fewer working configurations than the choice asked for";
        continue;
      }
      int64_t n = 0;
      RETURN_IF_ERROR(
          api.Check(api.BackendGetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                            CUDNN_TYPE_INT64, 1, &n, &result->workspace_bytes),
                    "cudnnBackendGetAttribute(EXECUTION_PLAN_WORKSPACE_SIZE)"));
      result->engine_index = EngineIndex(api, config);
      result->plan = std::move(plan);
      g.Keep(std::move(config));
      result->parts = g.TakeParts();
      result->build_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      return result;
    }
  }
  return absl::UnimplementedError(absl::StrCat(
      "cuDNN attention: no engine runs the causal SDPA graph for batch=", B, " heads=", h,
      " seq=", s, " head_dim=", d, " (", result->candidates_tried,
      " configurations tried); last error: ", last_error));
}

absl::Status ExecuteSdpaPlan(const CudnnApi& api, cudnnHandle_t handle, const SdpaPlan& plan,
                             const void* q, const void* k, const void* v, void* out,
                             void* workspace) {
  // By-value scalars: the variant pack points at these host floats for the Execute call.
  float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(plan.shape.head_dim)));
  float neg_inf = -std::numeric_limits<float>::infinity();
  int64_t uids[] = {kSdpaUidQ, kSdpaUidK, kSdpaUidV, kSdpaUidO, kSdpaUidScale, kSdpaUidNegInf};
  void* pointers[] = {const_cast<void*>(q), const_cast<void*>(k), const_cast<void*>(v), out,
                      &scale, &neg_inf};
  ASSIGN_OR_RETURN(BackendDescriptor pack,
                   BackendDescriptor::Make(api, CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR));
  RETURN_IF_ERROR(
      pack.Set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 6, uids, "variant pack"));
  RETURN_IF_ERROR(pack.Set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 6, pointers,
                           "variant pack"));
  RETURN_IF_ERROR(pack.Set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace,
                           "variant pack"));
  RETURN_IF_ERROR(pack.Finalize("variant pack"));
  const absl::Status ran =
      api.Check(api.BackendExecute(handle, plan.plan.get(), pack.get()), "cudnnBackendExecute");
  if (ran.ok()) return ran;
  const SdpaShape& sh = plan.shape;
  return absl::Status(ran.code(), absl::StrCat(ran.message(), " (causal SDPA batch=", sh.batch,
                                               " heads=", sh.heads, " seq=", sh.seq,
                                               " head_dim=", sh.head_dim, ")"));
}

#undef ASSIGN_OR_RETURN
#undef EVO2_CUDNN_ASSIGN_OR_RETURN_IMPL
#undef EVO2_CUDNN_CONCAT
#undef EVO2_CUDNN_CONCAT_INNER

}  // namespace evo2::cuda
