#include "model_catalog.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace evo2::svc {

absl::Status ModelCatalog::AddSpec(const std::string& spec) {
  std::vector<std::string> parts = absl::StrSplit(spec, ',');
  auto eq = parts[0].find('=');
  ModelLimits m;
  if (eq == std::string::npos || eq == 0 ||
      !absl::SimpleAtoi(parts[0].substr(eq + 1), &m.max_record_tokens) ||
      m.max_record_tokens <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--model '", spec, "': expected NAME=MAX_TOKENS[,layers=N][,hidden=H]"));
  }
  m.name = parts[0].substr(0, eq);
  for (size_t i = 1; i < parts.size(); ++i) {
    std::vector<std::string> kv = absl::StrSplit(parts[i], absl::MaxSplits('=', 1));
    int64_t v = 0;
    if (kv.size() != 2 || !absl::SimpleAtoi(kv[1], &v) || v <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("--model '", spec, "': bad '", parts[i], "'"));
    }
    if (kv[0] == "layers") {
      m.num_layers = static_cast<int>(v);
    } else if (kv[0] == "hidden") {
      m.hidden_size = v;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--model '", spec, "': unknown key '", kv[0], "'"));
    }
  }
  models_[m.name] = m;
  return absl::OkStatus();
}

absl::StatusOr<ModelLimits> ModelCatalog::Find(const std::string& name) const {
  auto it = models_.find(name);
  if (it != models_.end()) return it->second;
  std::vector<std::string> names;
  for (const auto& [n, m] : models_) names.push_back(n);
  return absl::InvalidArgumentError(absl::StrCat("unknown model '", name.substr(0, 128),
                                                 "'; this server serves: ",
                                                 absl::StrJoin(names, ", ")));
}

ModelLimits WithAdvertisedLimit(ModelLimits limits, const std::vector<RecordCapacity>& live,
                                bool logits) {
  int64_t best = 0;
  std::vector<std::string> by;
  for (const RecordCapacity& c : live) {
    const int64_t tokens = logits ? c.logits_tokens : c.log_probs_tokens;
    if (tokens > best) {
      best = tokens;
      by.clear();
    }
    if (tokens == best) by.push_back(c.worker_id);
  }
  if (best > 0 && best < limits.max_record_tokens) {
    limits.advertised_record_tokens = best;
    limits.advertised_by = absl::StrJoin(by, ", ");
  }
  return limits;
}

}  // namespace evo2::svc
