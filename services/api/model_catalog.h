// The models this deployment serves and the limits the API checks before queuing a job.
// Configured by flags (`--model NAME=MAX_TOKENS[,layers=N][,hidden=H]`); workers announce
// nothing back, so the operator keeps these in step with the worker fleet (deploy/k8s does).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace evo2::svc {

struct ModelLimits {
  std::string name;
  int64_t max_record_tokens = 8192;  // per record, including a prepended BOS
  int num_layers = 0;                // 0 = unknown (layer indices are not range-checked)
  int64_t hidden_size = 0;           // 0 = unknown (embedding sizes use 8192, the largest)
};

class ModelCatalog {
 public:
  // Parses "NAME=MAX_TOKENS[,layers=N][,hidden=H]".
  absl::Status AddSpec(const std::string& spec);
  // INVALID_ARGUMENT naming the served models when `name` is unknown.
  absl::StatusOr<ModelLimits> Find(const std::string& name) const;
  const std::map<std::string, ModelLimits>& models() const { return models_; }

 private:
  std::map<std::string, ModelLimits> models_;
};

}  // namespace evo2::svc
