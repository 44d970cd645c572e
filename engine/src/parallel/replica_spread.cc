#include "parallel/replica_spread.h"

#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace evo2::parallel {

absl::StatusOr<std::vector<ForwardResult>> SpreadOverReplicas(size_t replicas, size_t sequences,
                                                              const RunOnReplica& run) {
  const size_t n = sequences;
  std::vector<absl::StatusOr<ForwardResult>> results(n, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (size_t rep = 0; rep < replicas && rep < n; ++rep) {
    threads.emplace_back([&, rep] {
      for (size_t i = rep; i < n; i += replicas) {
        results[i] = run(rep, i);
        if (!results[i].ok()) break;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::vector<ForwardResult> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (!results[i].ok())
      return absl::Status(results[i].status().code(),
                          absl::StrCat("sequence ", i, " of the batch (data-parallel replica ",
                                       i % replicas, "): ", results[i].status().message()));
    out.push_back(std::move(*results[i]));
  }
  return out;
}

}  // namespace evo2::parallel
