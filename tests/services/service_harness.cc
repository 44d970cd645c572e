#include "service_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "evo2/npy.h"
#include "support/free_port.h"
#include "support/golden_paths.h"

namespace evo2::testing {

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(
    const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
    const std::filesystem::path& log) {
  auto p = std::unique_ptr<ChildProcess>(new ChildProcess());
  p->log_ = log;
  std::error_code no_file;  // a log that does not exist yet starts at 0
  const auto size = std::filesystem::file_size(log, no_file);
  p->log_start_ = no_file ? 0 : static_cast<size_t>(size);
  pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::_Exit(127);
  }
  p->pid_ = pid;
  return p;
}

ChildProcess::~ChildProcess() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    Wait(std::chrono::milliseconds(5000));
  }
}

void ChildProcess::Signal(int sig) {
  if (!reaped_ && pid_ > 0) ::kill(pid_, sig);
}

int ChildProcess::Wait(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!reaped_) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    if (std::chrono::steady_clock::now() >= until) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return status_;
}

bool ChildProcess::Running() { return Wait(std::chrono::milliseconds(0)) == -1; }

std::string ChildProcess::Log() const {
  std::ifstream in(log_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool ChildProcess::WaitForLog(const std::string& text, std::chrono::milliseconds timeout) {
  auto written = [&] { return Log().find(text, log_start_) != std::string::npos; };
  WaitUntil([&] { return written() || !Running(); }, timeout);
  return written();
}

bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

std::filesystem::path GoldenDir() {
  auto d = GoldenCaseDir("a_tiny6");
  return d ? *d : std::filesystem::path();
}

absl::StatusOr<std::unique_ptr<ServiceCluster>> ServiceCluster::Start(ClusterOptions options) {
  if (!HaveRedisServer()) return absl::FailedPreconditionError("redis-server not installed");
  auto c = std::unique_ptr<ServiceCluster>(new ServiceCluster());
  c->options_ = options;
  RedisServer::Options ro;
  ro.append_only = options.append_only;
  ro.appendfsync = options.appendfsync;
  auto redis = RedisServer::Start(ro);
  if (!redis.ok()) return redis.status();
  c->redis_ = std::move(*redis);
  c->logs_ = c->redis_->dir();
  auto port = PickFreePort();
  auto mport = PickFreePort();
  if (!port.ok() || !mport.ok()) return absl::InternalError("no free port");
  c->api_port_ = *port;
  c->api_metrics_port_ = *mport;
  if (options.http) {
    auto hport = PickFreePort();
    if (!hport.ok()) return hport.status();
    c->http_port_ = *hport;
  }
  if (auto s = c->SpawnApi(); !s.ok()) return s;
  return c;
}

absl::Status ServiceCluster::SpawnApi() {
  std::vector<std::string> argv = {EVO2_API_BIN,
                                   "--listen",
                                   api_target(),
                                   "--metrics-listen",
                                   absl::StrCat("127.0.0.1:", api_metrics_port_),
                                   "--redis",
                                   absl::StrCat("redis://127.0.0.1:", redis_->port()),
                                   "--model",
                                   options_.model_spec.empty()
                                       ? absl::StrCat(kModel, "=8192,layers=6,hidden=128")
                                       : options_.model_spec,
                                   "--max-attempts",
                                   "3"};
  if (http_port_ > 0) {
    argv.insert(argv.end(), {"--http-listen", absl::StrCat("127.0.0.1:", http_port_)});
  }
  if (!options_.append_only || options_.appendfsync != "always") {
    argv.push_back("--allow-non-durable-redis");
  }
  argv.insert(argv.end(), options_.api_args.begin(), options_.api_args.end());
  if (!options_.tls_cert.empty()) {
    argv.insert(argv.end(), {"--tls-cert", options_.tls_cert, "--tls-key", options_.tls_key});
  }
  auto api = ChildProcess::Spawn(
      argv, {{"EVO2_API_KEYS", absl::StrCat("alpha=", kKeyAlpha, ",beta=", kKeyBeta)}},
      logs_ / "api.log");
  if (!api.ok()) return api.status();
  api_ = std::move(*api);
  // The API logs this line once its listeners are open. Waiting for it before the first call
  // matters: a channel whose connects were refused backs off (1 s growing by 1.6x), which on a
  // loaded machine can push the next connect past any wait.
  const bool listening = api_->WaitForLog("serving on port", std::chrono::seconds(60));
  auto client = Client();
  std::string last_error;
  auto answers = [&] {
    evo2::v1::ListJobsRequest req;
    auto r = client->List(req);
    if (!r.ok()) last_error = r.status().ToString();
    // The HTTP port opens just after the gRPC one.
    const bool http_up = http_port_ == 0 || HttpGet(http_port_, "/v1/openapi.json").ok();
    return (r.ok() && http_up) || !api_->Running();
  };
  const bool up = listening && WaitUntil(answers, std::chrono::seconds(30));
  if (!up || !api_->Running()) {
    return absl::UnavailableError(absl::StrCat(
        "evo2-api did not come up (last ListJobs: ", last_error.empty() ? "none" : last_error,
        "):\n", api_->Log()));
  }
  return absl::OkStatus();
}

void ServiceCluster::KillApi() {
  if (api_ == nullptr) return;
  api_->Signal(SIGKILL);
  api_->Wait(std::chrono::seconds(5));
}

absl::Status ServiceCluster::RestartApi() {
  KillApi();
  api_.reset();
  return SpawnApi();
}

ServiceCluster::~ServiceCluster() {
  workers_.clear();
  api_.reset();
}

absl::StatusOr<int> ServiceCluster::StartWorker(const std::vector<std::string>& extra) {
  const int index = static_cast<int>(workers_.size());
  auto mport = PickFreePort();
  if (!mport.ok()) return mport.status();
  std::vector<std::string> argv = {
      EVO2_WORKER_BIN,
      "--model-name",
      options_.model,
      "--checkpoint",
      options_.checkpoint.empty() ? GoldenDir().string() : options_.checkpoint,
      "--threads",
      "1",
      "--redis",
      absl::StrCat("redis://127.0.0.1:", redis_->port()),
      "--worker-id",
      absl::StrCat("w", index),
      "--metrics-listen",
      absl::StrCat("127.0.0.1:", *mport),
      "--visibility-timeout-ms",
      "1500",
      "--block-ms",
      "200",
      "--metrics-interval-ms",
      "200"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto w = ChildProcess::Spawn(argv, {}, logs_ / absl::StrCat("worker", index, ".log"));
  if (!w.ok()) return w.status();
  workers_.push_back(std::move(*w));
  worker_metrics_ports_.push_back(*mport);
  ChildProcess& p = *workers_.back();
  if (!p.WaitForLog("pulling jobs", std::chrono::seconds(60)) || !p.Running())
    return absl::UnavailableError("evo2-worker did not start:\n" + p.Log());
  return index;
}

std::unique_ptr<evo2::client::JobClient> ServiceCluster::Client(const std::string& key) {
  evo2::client::ClientOptions o;
  o.target = api_target();
  o.api_key = key;
  if (!options_.tls_cert.empty()) {
    o.tls = true;
    o.tls_ca_file = options_.tls_cert;
    o.tls_server_name = "localhost";
  }
  return std::move(*evo2::client::JobClient::Connect(o));
}

std::unique_ptr<evo2::svc::RedisConnection> ServiceCluster::Redis() {
  evo2::svc::RedisOptions o;
  o.port = redis_->port();
  auto c = evo2::svc::RedisConnection::Connect(o);
  return c.ok() ? std::move(*c) : nullptr;
}

std::vector<std::string> ServiceCluster::Keys() {
  std::vector<std::string> out;
  auto c = Redis();
  if (c == nullptr) return out;
  auto r = c->Command({"KEYS", "evo2:*"});
  if (!r.ok()) return out;
  for (const auto& e : r->elements) out.push_back(e.AsString());
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to port ", port));
  }
  const std::string req = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return absl::UnavailableError("write failed");
  }
  std::string resp;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) resp.append(buf, static_cast<size_t>(n));
  ::close(fd);
  auto body = resp.find("\r\n\r\n");
  if (!absl::StartsWith(resp, "HTTP/1.") || body == std::string::npos) {
    return absl::InternalError("not an HTTP response");
  }
  if (resp.find(" 200 ") == std::string::npos || resp.find(" 200 ") > resp.find("\r\n")) {
    return absl::NotFoundError(resp.substr(0, resp.find("\r\n")));
  }
  return resp.substr(body + 4);
}

absl::StatusOr<std::vector<GoldenRecord>> GoldenRecords() {
  std::ifstream in(GoldenDir() / "input.fa");
  if (!in) return absl::NotFoundError("golden a_tiny6/input.fa missing");
  std::vector<GoldenRecord> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] == '>') {
      out.push_back({line.substr(1, line.find(' ') - 1), ""});
    } else if (!out.empty()) {
      out.back().sequence += line;
    }
  }
  return out;
}

absl::StatusOr<std::vector<float>> GoldenLogProbs(const std::string& record) {
  auto t = evo2::ReadNpy(GoldenDir() / (record + ".logprobs.npy"));
  if (!t.ok()) return t.status();
  return t->ToFloat32();
}

std::string GoldenFasta(const std::vector<std::string>& names) {
  auto recs = GoldenRecords();
  std::string out;
  if (!recs.ok()) return out;
  for (const auto& n : names) {
    for (const auto& r : *recs) {
      if (r.name != n) continue;
      absl::StrAppend(&out, ">", r.name, " length=", r.sequence.size(), "\n");
      for (size_t i = 0; i < r.sequence.size(); i += 80) {
        absl::StrAppend(&out, r.sequence.substr(i, 80), "\n");
      }
    }
  }
  return out;
}

absl::StatusOr<evo2::v1::Job> WaitForTerminal(evo2::client::JobClient& client,
                                              const std::string& job_id,
                                              std::chrono::milliseconds timeout) {
  absl::StatusOr<evo2::v1::Job> job = absl::DeadlineExceededError("not polled");
  const bool done = WaitUntil(
      [&] {
        job = client.Get(job_id);
        return job.ok() && (job->state() == evo2::v1::JOB_STATE_SUCCEEDED ||
                            job->state() == evo2::v1::JOB_STATE_FAILED ||
                            job->state() == evo2::v1::JOB_STATE_CANCELLED);
      },
      timeout);
  if (!job.ok()) return job.status();
  if (!done) {
    return absl::DeadlineExceededError(
        absl::StrCat("job ", job_id, " still ", evo2::v1::JobState_Name(job->state())));
  }
  return job;
}

}  // namespace evo2::testing
