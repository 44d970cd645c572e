// Config against a checkpoint: the expected tensor list of docs/spec/model.md §9.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/config.h"
#include "model/expected_tensors.h"

namespace evo2 {

namespace {

std::vector<int64_t> Squeezed(const std::vector<int64_t>& shape) {
  std::vector<int64_t> out;
  for (int64_t d : shape) {
    if (d != 1) out.push_back(d);
  }
  return out;
}

bool IsFloating(DType d) {
  return d == DType::kFloat32 || d == DType::kBFloat16 || d == DType::kFloat16 ||
         d == DType::kFloat64;
}

std::string Describe(const ModelConfig& c) {
  return absl::StrCat("config '", c.name, "' (", c.num_layers, " layers, H=", c.hidden_size,
                      ", I=", c.inner_mlp_size, ", ", c.num_heads, " heads)");
}

}  // namespace

absl::Status ResolveFromTensors(ModelConfig& config, const TensorMap& tensors) {
  if (config.inner_mlp_size > 0) return absl::OkStatus();  // stated by a YAML: validated later
  const char* key = "blocks.0.mlp.l1.weight";
  auto it = tensors.find(key);
  if (it == tensors.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint has no tensor '", key, "' (needed to read the MLP width)"));
  }
  const Tensor& t = it->second;
  if (t.rank() != 2 || t.dim(1) != config.hidden_size || t.dim(0) <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", key, "' has shape ", ShapeString(t.shape()), " but ",
                     Describe(config), " expects [I, ", config.hidden_size, "]"));
  }
  config.inner_mlp_size = static_cast<int>(t.dim(0));
  return absl::OkStatus();
}

absl::Status ValidateTensors(const ModelConfig& config, const TensorMap& tensors) {
  if (config.inner_mlp_size <= 0) {
    return absl::FailedPreconditionError("ValidateTensors: MLP width not resolved");
  }
  for (const internal::ExpectedTensor& e : internal::ExpectedTensors(config)) {
    auto it = tensors.find(e.name);
    if (it == tensors.end()) {
      if (e.optional) continue;
      return absl::InvalidArgumentError(absl::StrCat("checkpoint has no tensor '", e.name,
                                                     "' (expected shape ", ShapeString(e.shape),
                                                     " for ", Describe(config), ")"));
    }
    const Tensor& t = it->second;
    // A layout with extra singleton axes ([3H, 3] vs [3H, 1, 3]) holds the same numbers.
    if (t.shape() != e.shape && Squeezed(t.shape()) != Squeezed(e.shape)) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", e.name, "' has shape ", ShapeString(t.shape()), " but ",
                       Describe(config), " expects ", ShapeString(e.shape)));
    }
    if (!IsFloating(t.dtype())) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", e.name, "' has dtype ",
                                                     std::string(DTypeName(t.dtype())),
                                                     "; expected a floating dtype"));
    }
  }
  return absl::OkStatus();
}

}  // namespace evo2
