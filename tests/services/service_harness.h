// Test harness for the job service: a real redis-server, real evo2-api / evo2-worker processes
// (binary paths come from the build as EVO2_API_BIN / EVO2_WORKER_BIN) and real gRPC clients.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "job_client.h"
#include "redis_client.h"
#include "support/redis_server.h"

namespace evo2::testing {

// A child process with stdout+stderr in a log file; SIGKILLed when destroyed.
class ChildProcess {
 public:
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Spawn(
      const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
      const std::filesystem::path& log);
  ~ChildProcess();
  void Signal(int sig);
  // Exit status (or 128+signal); -1 if still running after `timeout`.
  int Wait(std::chrono::milliseconds timeout);
  bool Running();
  std::string Log() const;
  // Polls the log every 20 ms until this process has written `text` (the log file may hold an
  // earlier process's lines: only what was appended since Spawn counts); false after `timeout`
  // or once the process has exited without writing it.
  bool WaitForLog(const std::string& text, std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::filesystem::path log_;
  size_t log_start_ = 0;  // the log's size when this process was spawned
};

// Polls `pred` every 20 ms until true or `timeout`.
bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

inline constexpr char kModel[] = "a_tiny6";
inline constexpr char kKeyAlpha[] = "key-alpha-0123456789";
inline constexpr char kKeyBeta[] = "key-beta-0123456789";

struct ClusterOptions {
  // AOF with `appendfsync` (always = the documented production setting). Without AOF the API
  // is started with --allow-non-durable-redis, as it refuses such a Redis otherwise.
  bool append_only = false;
  std::string appendfsync = "always";
  std::vector<std::string> api_args;  // extra evo2-api flags
  // PEM files: serve TLS; clients trust `tls_cert` and expect the name "localhost".
  std::string tls_cert, tls_key;
  // The served model: its name, evo2-api's --model spec ("" = a_tiny6's) and the workers'
  // --checkpoint ("" = the golden a_tiny6 directory).
  std::string model = kModel;
  std::string model_spec;
  std::string checkpoint;
  bool http = false;  // also serve the HTTP/JSON API (--http-listen on a free port)
};

class ServiceCluster {
 public:
  // Starts Redis and evo2-api (no workers). FAILED_PRECONDITION when redis-server is missing.
  static absl::StatusOr<std::unique_ptr<ServiceCluster>> Start(ClusterOptions options = {});
  ~ServiceCluster();

  // Starts a worker for the model (a_tiny6 by default; CPU, 1 thread, visibility timeout 1.5 s);
  // waits until it pulls. Returns its index.
  absl::StatusOr<int> StartWorker(const std::vector<std::string>& extra_args = {});
  ChildProcess& worker(int i) { return *workers_.at(static_cast<size_t>(i)); }
  int worker_metrics_port(int i) const { return worker_metrics_ports_.at(static_cast<size_t>(i)); }
  ChildProcess& api() { return *api_; }
  // SIGKILLs evo2-api (if running) and starts it again on the same ports; waits until it serves.
  absl::Status RestartApi();
  // SIGKILLs evo2-api and waits for it (RestartApi brings it back).
  void KillApi();
  RedisServer& redis() { return *redis_; }

  std::unique_ptr<evo2::client::JobClient> Client(const std::string& key = kKeyAlpha);
  // A direct Redis connection (inspection / fault injection).
  std::unique_ptr<evo2::svc::RedisConnection> Redis();
  // All keys under the service prefix.
  std::vector<std::string> Keys();
  std::string api_target() const { return "127.0.0.1:" + std::to_string(api_port_); }
  int api_metrics_port() const { return api_metrics_port_; }
  int http_port() const { return http_port_; }  // 0 unless ClusterOptions::http

 private:
  absl::Status SpawnApi();

  ClusterOptions options_;
  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<ChildProcess> api_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
  std::vector<int> worker_metrics_ports_;
  int api_port_ = 0;
  int api_metrics_port_ = 0;
  int http_port_ = 0;
  std::filesystem::path logs_;
};

// Golden case a_tiny6: records of input.fa by name, and the fp32 log-probs of a record.
struct GoldenRecord {
  std::string name;
  std::string sequence;
};
absl::StatusOr<std::vector<GoldenRecord>> GoldenRecords();
absl::StatusOr<std::vector<float>> GoldenLogProbs(const std::string& record);
std::filesystem::path GoldenDir();
// FASTA text of the named golden records (80 columns, like input.fa).
std::string GoldenFasta(const std::vector<std::string>& names);

// Body of GET http://127.0.0.1:<port><path> (plain HTTP/1.0; for /metrics).
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);

// Job in a terminal state within `timeout` (polls GetJob).
absl::StatusOr<evo2::v1::Job> WaitForTerminal(evo2::client::JobClient& client,
                                              const std::string& job_id,
                                              std::chrono::milliseconds timeout);

}  // namespace evo2::testing
