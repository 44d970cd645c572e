#include "results_janitor.h"

#include <iostream>

#include "evo2/status_macros.h"

namespace evo2::svc {

ResultsJanitor::ResultsJanitor(ResultsStore store, JobKeys keys, RedisPool& redis,
                               absl::Duration interval, absl::Duration grace)
    : store_(std::move(store)), keys_(std::move(keys)), redis_(redis), grace_(grace) {
  thread_.Start(interval, [this] { Sweep(); });
}

void ResultsJanitor::Sweep() {
  auto conn = redis_.Acquire();
  if (!conn.ok()) return;  // Redis unreachable: try again next time
  auto removed = store_.RemoveExpiredJobs(
      grace_, [&](const std::string& tenant, const std::string& id) -> absl::StatusOr<bool> {
        ASSIGN_OR_RETURN(auto r, (*conn)->Command({"EXISTS", keys_.Job(tenant, id)}));
        return r.integer != 0;
      });
  if (!removed.ok()) {
    std::cerr << "evo2-api: results store sweep: " << removed.status() << std::endl;
  } else if (*removed > 0) {
    std::cerr << "evo2-api: results store: removed " << *removed << " expired job(s)" << std::endl;
  }
}

}  // namespace evo2::svc
