// Health and reconnection, by actually stopping and restarting Redis and signalling the API:
// grpc.health.v1 follows Redis reachability (with hysteresis) and turns NOT_SERVING at the start
// of a drain while the server still answers; the worker's evo2_worker_ready gauge follows Redis
// too; pooled API connections that outlived a Redis restart do not fail requests.
#include <signal.h>

#include <future>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "service_harness.h"

namespace evo2::testing {
namespace {

// grpc.health.v1.HealthCheckResponse.ServingStatus, plus the transport failing altogether.
enum class Health { kServing, kNotServing, kServiceUnknown, kOther, kUnavailable };

const char* Name(Health h) {
  switch (h) {
    case Health::kServing:
      return "SERVING";
    case Health::kNotServing:
      return "NOT_SERVING";
    case Health::kServiceUnknown:
      return "SERVICE_UNKNOWN";
    case Health::kOther:
      return "other";
    case Health::kUnavailable:
      return "UNAVAILABLE";
  }
  return "?";
}

// Health/Check through a generic stub (no health stubs ship with Debian's gRPC). Request:
// field 1 (service) = `service`; response: field 1 (status) as one varint byte.
Health Check(const std::string& target, const std::string& service) {
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  std::string req;
  if (!service.empty()) {
    req = std::string("\x0a", 1) + static_cast<char>(service.size()) + service;
  }
  grpc::Slice slice(req);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) { done.set_value(s); });
  grpc::Status s = done.get_future().get();
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) return Health::kServiceUnknown;
  if (!s.ok()) return Health::kUnavailable;
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return Health::kOther;
  std::string bytes;
  for (const auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  if (bytes == std::string("\x08\x01", 2)) return Health::kServing;
  if (bytes == std::string("\x08\x02", 2)) return Health::kNotServing;
  return Health::kOther;
}

void PrintTo(Health h, std::ostream* os) { *os << Name(h); }

constexpr char kJobService[] = "evo2.v1.JobService";

// The redis-server's pid, from INFO (the harness does not expose it): SIGSTOP makes Redis
// unreachable without losing anything, SIGCONT brings it back.
pid_t RedisPid(ServiceCluster& cluster) {
  auto info = cluster.Redis()->Command({"INFO", "server"});
  if (!info.ok()) return -1;
  for (absl::string_view line : absl::StrSplit(info->str, "\r\n")) {
    if (absl::ConsumePrefix(&line, "process_id:")) {
      int pid = 0;
      if (absl::SimpleAtoi(line, &pid)) return pid;
    }
  }
  return -1;
}

// Value of the worker's evo2_worker_ready gauge, -1 when /metrics cannot be read.
int WorkerReady(ServiceCluster& cluster, int worker) {
  auto body = HttpGet(cluster.worker_metrics_port(worker), "/metrics");
  if (!body.ok()) return -1;
  if (absl::StrContains(*body, "evo2_worker_ready{model=\"a_tiny6\"} 1")) return 1;
  if (absl::StrContains(*body, "evo2_worker_ready{model=\"a_tiny6\"} 0")) return 0;
  return -1;
}

class ServiceHealthTest : public ::testing::Test {
 protected:
  void Start(ClusterOptions o) {
    if (GoldenDir().empty()) GTEST_SKIP() << "golden case a_tiny6 not available";
    auto c = ServiceCluster::Start(o);
    if (absl::IsFailedPrecondition(c.status())) GTEST_SKIP() << c.status();
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    client_ = cluster_->Client();
  }

  std::unique_ptr<ServiceCluster> cluster_;
  std::unique_ptr<evo2::client::JobClient> client_;
};

TEST_F(ServiceHealthTest, BothServiceNamesAreRegistered) {
  Start({});
  EXPECT_EQ(Check(cluster_->api_target(), ""), Health::kServing);
  EXPECT_EQ(Check(cluster_->api_target(), kJobService), Health::kServing);
  EXPECT_EQ(Check(cluster_->api_target(), "liveness"), Health::kServing);
  EXPECT_EQ(Check(cluster_->api_target(), "no.such.Service"), Health::kServiceUnknown);
}

TEST_F(ServiceHealthTest, ReadinessFollowsRedisReachability) {
  ClusterOptions o;
  o.api_args = {"--health-interval-ms", "200"};
  Start(o);
  ASSERT_TRUE(cluster_->StartWorker({"--health-interval-ms", "200"}).ok());
  const std::string api = cluster_->api_target();
  ASSERT_EQ(Check(api, kJobService), Health::kServing);
  ASSERT_TRUE(WaitUntil([&] { return WorkerReady(*cluster_, 0) == 1; }, std::chrono::seconds(10)));

  const pid_t redis = RedisPid(*cluster_);
  ASSERT_GT(redis, 0);
  ASSERT_EQ(::kill(redis, SIGSTOP), 0);
  // 3 failed PINGs of at most ~2 × 200 ms each, with a generous margin.
  const bool down = WaitUntil(
      [&] {
        return Check(api, "") == Health::kNotServing &&
               Check(api, kJobService) == Health::kNotServing && WorkerReady(*cluster_, 0) == 0;
      },
      std::chrono::seconds(30));
  // Liveness ignores Redis: restarting the API would not bring Redis back.
  const Health liveness_while_down = Check(api, "liveness");
  ::kill(redis, SIGCONT);
  EXPECT_EQ(liveness_while_down, Health::kServing);
  ASSERT_TRUE(down) << "api: " << Name(Check(api, "")) << ", worker ready "
                    << WorkerReady(*cluster_, 0) << "\n"
                    << cluster_->api().Log();

  const bool up = WaitUntil(
      [&] {
        return Check(api, "") == Health::kServing && Check(api, kJobService) == Health::kServing &&
               WorkerReady(*cluster_, 0) == 1;
      },
      std::chrono::seconds(30));
  ASSERT_TRUE(up) << "api: " << Name(Check(api, "")) << ", worker ready "
                  << WorkerReady(*cluster_, 0) << "\n"
                  << cluster_->api().Log() << cluster_->worker(0).Log();
  // And the service works again end to end.
  evo2::v1::SubmitJobRequest req;
  req.set_model(kModel);
  req.set_fasta(GoldenFasta({"len00017"}));
  auto submitted = client_->Submit(req);
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  auto job = WaitForTerminal(*client_, submitted->job().job_id(), std::chrono::seconds(60));
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), evo2::v1::JOB_STATE_SUCCEEDED);
}

TEST_F(ServiceHealthTest, SigtermReportsNotServingWhileStillAnswering) {
  ClusterOptions o;
  o.api_args = {"--drain-grace-ms", "3000"};
  Start(o);
  const std::string api = cluster_->api_target();
  ASSERT_EQ(Check(api, ""), Health::kServing);
  cluster_->api().Signal(SIGTERM);
  // The first answer that is no longer SERVING must be NOT_SERVING, not a closed server.
  Health h = Health::kServing;
  ASSERT_TRUE(WaitUntil(
      [&] {
        h = Check(api, "");
        return h != Health::kServing;
      },
      std::chrono::seconds(10)));
  EXPECT_EQ(h, Health::kNotServing) << Name(h);
  EXPECT_EQ(Check(api, kJobService), Health::kNotServing);
  EXPECT_EQ(Check(api, "liveness"), Health::kNotServing);
  // Calls still succeed during the grace period (load balancers are still moving away).
  evo2::v1::ListJobsRequest list;
  auto listed = client_->List(list);
  EXPECT_TRUE(listed.ok()) << listed.status();
  // Then the API stops on its own.
  EXPECT_EQ(cluster_->api().Wait(std::chrono::seconds(30)), 0) << cluster_->api().Log();
}

TEST_F(ServiceHealthTest, PooledConnectionsSurviveARedisRestart) {
  ClusterOptions o;
  o.append_only = true;
  Start(o);
  evo2::v1::SubmitJobRequest req;
  req.set_model(kModel);
  req.set_fasta(GoldenFasta({"len00017"}));
  auto first = client_->Submit(req);
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string id = first->job().job_id();
  // Concurrent calls leave several connections idle in the API's pool.
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      auto c = cluster_->Client();
      for (int i = 0; i < 5; ++i) (void)c->Get(id);
    });
  }
  for (auto& t : threads) t.join();

  ASSERT_TRUE(cluster_->redis().KillAndRestart().ok());  // returns once Redis answers PING
  int failures = 0;
  std::string errors;
  for (int i = 0; i < 32; ++i) {
    absl::Status s;
    switch (i % 3) {
      case 0:
        s = client_->Get(id).status();
        break;
      case 1:
        s = client_->List(evo2::v1::ListJobsRequest()).status();
        break;
      default:
        s = client_->Submit(req).status();
        break;
    }
    if (!s.ok()) {
      ++failures;
      absl::StrAppend(&errors, "call ", i, ": ", s.ToString(), "\n");
    }
  }
  EXPECT_EQ(failures, 0) << errors;
}

}  // namespace
}  // namespace evo2::testing
