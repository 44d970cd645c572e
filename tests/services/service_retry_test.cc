// Retry rule of the worker, with real processes: a retryable failure waits out an exponential
// backoff (stored in Redis, so it holds for whichever worker comes next) before the next
// attempt; a permanent failure (the engine says the input itself is wrong) fails the job at once.
// Also: every line of the worker's log starts with an ISO-8601 UTC timestamp.
#include <signal.h>

#include <regex>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "job_codec.h"
#include "service_harness.h"

namespace evo2::testing {
namespace {

using evo2::v1::JobEvent;

class ServiceRetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (GoldenDir().empty()) GTEST_SKIP() << "golden case a_tiny6 not available";
    auto c = ServiceCluster::Start();
    if (absl::IsFailedPrecondition(c.status())) GTEST_SKIP() << c.status();
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    client_ = cluster_->Client();
  }

  std::string Submit(const std::vector<std::string>& names) {
    evo2::v1::SubmitJobRequest req;
    req.set_model(kModel);
    req.set_fasta(GoldenFasta(names));
    auto r = client_->Submit(req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->job().job_id() : "";
  }

  std::vector<JobEvent> Events(const std::string& id) {
    std::vector<JobEvent> out;
    EXPECT_TRUE(client_
                    ->Watch(id, "",
                            [&](const JobEvent& ev) {
                              out.push_back(ev);
                              return true;
                            })
                    .ok());
    return out;
  }

  std::unique_ptr<ServiceCluster> cluster_;
  std::unique_ptr<evo2::client::JobClient> client_;
};

TEST_F(ServiceRetryTest, TransientFailuresBackOffExponentially) {
  // Waits of 200 ms ±20 % after attempt 1 and 1600 ms ±20 % after attempt 2.
  ASSERT_TRUE(cluster_
                  ->StartWorker({"--fault-fail-records", "^len00017$", "--retry-base-ms", "200",
                                 "--retry-factor", "8", "--retry-jitter", "0.2"})
                  .ok());
  const std::string id = Submit({"len00001", "len00017"});
  auto job = WaitForTerminal(*client_, id, std::chrono::seconds(60));
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->state(), evo2::v1::JOB_STATE_FAILED);
  EXPECT_EQ(job->attempt(), 3);
  EXPECT_TRUE(absl::StrContains(job->error().message(), "gave up after 3 attempts"));

  std::vector<int64_t> failed_us;
  for (const auto& ev : Events(id)) {
    if (ev.type() == evo2::v1::JOB_EVENT_TYPE_ATTEMPT_FAILED) failed_us.push_back(ev.time_us());
  }
  ASSERT_EQ(failed_us.size(), 3u);
  const int64_t gap1_ms = (failed_us[1] - failed_us[0]) / 1000;
  const int64_t gap2_ms = (failed_us[2] - failed_us[1]) / 1000;
  // Lower bounds only (the next attempt cannot start before its retry time); a slow machine
  // only makes the gaps longer.
  EXPECT_GE(gap1_ms, 160) << "gaps " << gap1_ms << " ms, " << gap2_ms << " ms";
  EXPECT_GE(gap2_ms, 1280) << "gaps " << gap1_ms << " ms, " << gap2_ms << " ms";
  EXPECT_GT(gap2_ms, gap1_ms);
  // The dead-letter entry is still written when the attempts are used up.
  auto dead = cluster_->Redis()->Command({"XLEN", "evo2:dead"});
  ASSERT_TRUE(dead.ok());
  EXPECT_EQ(dead->integer, 1);
  // Nothing is left parked for a retry.
  EXPECT_EQ(cluster_->Redis()->Command({"ZCARD", "evo2:q:a_tiny6:retry"})->integer, 0);
}

TEST_F(ServiceRetryTest, PermanentFailureFailsAfterOneAttempt) {
  // 3 = INVALID_ARGUMENT, what the engine answers for input it cannot score.
  ASSERT_TRUE(
      cluster_->StartWorker({"--fault-fail-records", "^len00017$", "--fault-fail-code", "3"}).ok());
  const std::string id = Submit({"len00001", "len00017"});
  auto job = WaitForTerminal(*client_, id, std::chrono::seconds(60));
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->state(), evo2::v1::JOB_STATE_FAILED);
  EXPECT_EQ(job->attempt(), 1);
  EXPECT_EQ(job->error().code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(absl::StrContains(job->error().message(), "injected fault: record 'len00017'"))
      << job->error().message();
  EXPECT_EQ(job->error().record_name(), "len00017");
  int attempt_failed = 0;
  for (const auto& ev : Events(id)) {
    attempt_failed += ev.type() == evo2::v1::JOB_EVENT_TYPE_ATTEMPT_FAILED;
  }
  EXPECT_EQ(attempt_failed, 0);
  EXPECT_EQ(cluster_->Redis()->Command({"XLEN", "evo2:dead"})->integer, 0);
}

// The autoscaler may take the workers to zero while a job waits out its backoff (a parked job is
// not in the stream, so it is not lag): the API queues it when it is due, with no worker running.
TEST_F(ServiceRetryTest, ParkedRetryIsQueuedWhenDueEvenWithNoWorker) {
  ASSERT_TRUE(cluster_
                  ->StartWorker({"--fault-fail-records", "^len00017$", "--retry-base-ms", "1500",
                                 "--retry-factor", "1", "--retry-jitter", "0"})
                  .ok());
  const std::string id = Submit({"len00017"});
  auto redis = cluster_->Redis();
  auto parked = [&] {
    auto n = redis->Command({"ZCARD", "evo2:q:a_tiny6:retry"});
    return n.ok() && n->integer == 1;
  };
  ASSERT_TRUE(WaitUntil(parked, std::chrono::seconds(60))) << cluster_->worker(0).Log();
  cluster_->worker(0).Signal(SIGTERM);
  ASSERT_EQ(cluster_->worker(0).Wait(std::chrono::seconds(30)), 0) << cluster_->worker(0).Log();
  // No worker is left; the job must come back into the stream as undelivered work.
  const bool queued = WaitUntil(
      [&] {
        auto z = redis->Command({"ZCARD", "evo2:q:a_tiny6:retry"});
        auto x = redis->Command({"XLEN", "evo2:q:a_tiny6:normal"});
        return z.ok() && z->integer == 0 && x.ok() && x->integer == 1;
      },
      std::chrono::seconds(30));
  ASSERT_TRUE(queued) << cluster_->api().Log();
  auto job = client_->Get(id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), evo2::v1::JOB_STATE_QUEUED);
  // A healthy worker then finishes it.
  ASSERT_TRUE(cluster_->StartWorker().ok());
  auto done = WaitForTerminal(*client_, id, std::chrono::seconds(60));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), evo2::v1::JOB_STATE_SUCCEEDED);
}

TEST_F(ServiceRetryTest, EveryWorkerLogLineIsTimestamped) {
  ASSERT_TRUE(cluster_->StartWorker().ok());
  const std::string id = Submit({"len00001"});
  ASSERT_TRUE(WaitForTerminal(*client_, id, std::chrono::seconds(60)).ok());
  const std::regex stamped(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z evo2-worker )");
  std::istringstream log(cluster_->worker(0).Log());
  int lines = 0;
  for (std::string line; std::getline(log, line);) {
    if (line.empty()) continue;
    ++lines;
    EXPECT_TRUE(std::regex_search(line, stamped)) << "line without timestamp: " << line;
  }
  EXPECT_GE(lines, 3);  // loading, pulling, running, ...
}

}  // namespace
}  // namespace evo2::testing
