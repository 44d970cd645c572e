// A thin C++ client of evo2.v1.JobService: channel + API key, submit, watch, and reassembly of
// GetJobResults chunks into whole records. Used by the `evo2` CLI, the tests and the load bench.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "evo2/v1/jobs.grpc.pb.h"
#include "retry_policy.h"

namespace evo2::client {

struct ClientOptions {
  std::string target = "localhost:50051";  // host:port
  std::string api_key;                     // sent as "authorization: Bearer <key>"
  bool tls = false;
  std::string tls_ca_file;                 // PEM roots; "" = system roots
  std::string tls_server_name;             // expected certificate name when it differs from host
  // Unary calls (submit, get, cancel, list) are retried by this policy; the default tries once.
  RetryPolicy retry;
  // Extra call metadata (lower-case keys), sent as given: the HTTP gateway forwards a request's
  // `authorization` / `x-api-key` headers untouched so the service judges them itself.
  std::vector<std::pair<std::string, std::string>> metadata;
};

class JobClient {
 public:
  static absl::StatusOr<std::unique_ptr<JobClient>> Connect(const ClientOptions& options);
  // A client on an existing channel (e.g. a server's in-process channel); `options.target` and
  // the TLS fields are ignored.
  static std::unique_ptr<JobClient> OverChannel(std::shared_ptr<grpc::Channel> channel,
                                                const ClientOptions& options);

  // With retries enabled and no idempotency key in `req`, one is generated and reused by every
  // attempt, so a retry after an API crash returns the stored job rather than a second one.
  absl::StatusOr<evo2::v1::SubmitJobResponse> Submit(const evo2::v1::SubmitJobRequest& req);
  absl::StatusOr<evo2::v1::Job> Get(const std::string& job_id);
  absl::StatusOr<evo2::v1::Job> Cancel(const std::string& job_id);
  absl::StatusOr<evo2::v1::ListJobsResponse> List(const evo2::v1::ListJobsRequest& req);
  absl::StatusOr<evo2::v1::ListModelsResponse> ListModels();
  // Streams events to `on_event` until the job is terminal (or on_event returns false).
  // KEEPALIVE events are not passed on. With retries enabled, a stream that breaks is resumed
  // after the last event seen (reconnecting under the retry policy's backoff), so no event is
  // missed or repeated.
  absl::Status Watch(const std::string& job_id, const std::string& after_event_id,
                     const std::function<bool(const evo2::v1::JobEvent&)>& on_event);
  // Whole records (tensors reassembled from chunks) in input order, passed to `on_record`.
  // Returns the stream's end message.
  absl::StatusOr<evo2::v1::ResultsEnd> Results(
      const evo2::v1::GetJobResultsRequest& req,
      const std::function<void(evo2::v1::RecordResult&&)>& on_record);
  // The same, but the stream is cancelled as soon as `on_record` returns false (the returned
  // end message is then empty).
  absl::StatusOr<evo2::v1::ResultsEnd> ResultsWhile(
      const evo2::v1::GetJobResultsRequest& req,
      const std::function<bool(evo2::v1::RecordResult&&)>& on_record);

  evo2::v1::JobService::Stub& stub() { return *stub_; }
  // A context carrying the API key (for direct stub calls).
  std::unique_ptr<grpc::ClientContext> NewContext() const;

 private:
  // One WatchJob stream from *after; *after follows the events passed to on_event.
  absl::Status WatchOnce(const std::string& job_id, std::string* after,
                         const std::function<bool(const evo2::v1::JobEvent&)>& on_event,
                         bool* progressed, bool* stopped);
  // One unary RPC under options_.retry, each attempt with a fresh context (and deadline).
  absl::Status CallUnary(bool retry_deadline_exceeded,
                         const std::function<grpc::Status(grpc::ClientContext*)>& rpc);

  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<evo2::v1::JobService::Stub> stub_;
};

// Code and message carry over; the google.rpc details of the status trailer become payloads
// under their type URLs (the inverse of the API's ToGrpc), so callers can read them.
absl::Status FromGrpc(const grpc::Status& s);

}  // namespace evo2::client
