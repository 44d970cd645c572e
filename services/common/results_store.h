// The results store: record results too large for Redis, as files in a directory that the
// workers and the API share (a ReadWriteMany volume in deploy/k8s; docs/service.md, "Results
// store"). A worker writes the serialized evo2.v1.RecordResult to a file and stores, in Redis'
// results hash, a reference instead of the bytes; the API resolves the reference and streams the
// record exactly as it streams one from Redis.
//
//   <root>/<tenant>/<job id>/<record index>.<writer>.pb
//
// Every writer (worker id + attempt) has its own file, so the record that Redis' first-write-wins
// HSETNX keeps is never overwritten by a later attempt. Files are written to a temporary name,
// fsynced and renamed: a reader sees the whole file or none. A job's directory is removed once
// the job's hash has expired from Redis (RemoveExpiredJobs), i.e. with the job's TTL.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace evo2::svc {

class ResultsStore {
 public:
  explicit ResultsStore(std::filesystem::path root) : root_(std::move(root)) {}

  // A Redis result value that is a reference rather than a serialized RecordResult (those never
  // start with a zero byte: protobuf field tag 0 is invalid).
  static bool IsReference(const std::string& value);

  // Writes `bytes` as record `index` of the tenant's job, by `writer` ([A-Za-z0-9_.-], e.g.
  // "<worker>.<attempt>"); returns the reference to store in Redis.
  absl::StatusOr<std::string> Put(const std::string& tenant, const std::string& job_id,
                                  int64_t index, const std::string& writer,
                                  const std::string& bytes) const;
  // The bytes a reference names; NOT_FOUND when the file is gone, INVALID_ARGUMENT when the
  // reference points outside the tenant's job (it is never followed there).
  absl::StatusOr<std::string> Get(const std::string& tenant, const std::string& job_id,
                                  const std::string& reference) const;
  // Removes the directory of every job for which `job_exists(tenant, job id)` is false and whose
  // directory is older than `grace` (a job whose first result is being written is younger).
  // Returns how many job directories were removed.
  absl::StatusOr<int> RemoveExpiredJobs(
      absl::Duration grace,
      const std::function<absl::StatusOr<bool>(const std::string&, const std::string&)>& job_exists)
      const;

  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
};

}  // namespace evo2::svc
