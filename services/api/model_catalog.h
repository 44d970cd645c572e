// The models this deployment serves and the limits the API checks before queuing a job.
// Configured by flags (`--model NAME=MAX_TOKENS[,layers=N][,hidden=H]`). Live workers also
// advertise the longest record their engine can hold (record_capacity_registry.h); a submit
// applies the smaller of the two (WithAdvertisedLimit), and the configured limit alone when no
// worker of the model is alive (jobs may wait for workers).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "record_capacity_registry.h"

namespace evo2::svc {

struct ModelLimits {
  std::string name;
  int64_t max_record_tokens = 8192;  // per record, including a prepended BOS
  int num_layers = 0;                // 0 = unknown (layer indices are not range-checked)
  int64_t hidden_size = 0;           // 0 = unknown (embedding sizes use 8192, the largest)
  // Per submit: the largest record capacity advertised by a live worker, for the job's outputs,
  // and the workers advertising it; 0 = none alive (max_record_tokens alone applies).
  int64_t advertised_record_tokens = 0;
  std::string advertised_by = {};  // "worker-a, worker-b"
};

// `limits` with the live workers' advertisements applied: the largest log-probs (or, when the
// job asks for logits, logits) capacity among `live`, kept only where it is below the configured
// max_record_tokens (the configured limit stays an upper bound).
ModelLimits WithAdvertisedLimit(ModelLimits limits, const std::vector<RecordCapacity>& live,
                                bool logits);

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
