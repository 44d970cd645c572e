// Fault tests, by actually breaking things: SIGKILL a worker mid-job, restart Redis (AOF) with
// jobs queued, a job that always fails, cancel while running, SIGTERM drain.
// Workers use a 1.5 s visibility timeout; --fault-record-delay-ms makes records slow enough to
// hit "mid-job" deterministically.
#include <signal.h>

#include <map>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "job_codec.h"
#include "service_harness.h"

namespace evo2::testing {
namespace {

using evo2::v1::JobEvent;

class ServiceFaultTest : public ::testing::Test {
 protected:
  void Start(bool aof = false) {
    if (GoldenDir().empty()) GTEST_SKIP() << "golden case a_tiny6 not available";
    ClusterOptions o;
    o.append_only = aof;
    auto c = ServiceCluster::Start(o);
    if (absl::IsFailedPrecondition(c.status())) GTEST_SKIP() << c.status();
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    client_ = cluster_->Client();
  }

  std::string Submit(const std::vector<std::string>& names) {
    evo2::v1::SubmitJobRequest req;
    req.set_model(kModel);
    req.set_fasta(GoldenFasta(names));
    req.mutable_options()->set_keep_case(true);
    auto r = client_->Submit(req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->job().job_id() : "";
  }

  std::vector<JobEvent> Events(const std::string& id) {
    std::vector<JobEvent> out;
    EXPECT_TRUE(client_->Watch(id, "", [&](const JobEvent& ev) {
                         out.push_back(ev);
                         return true;
                       }).ok());
    return out;
  }

  std::vector<evo2::v1::RecordResult> Results(const std::string& id) {
    std::vector<evo2::v1::RecordResult> out;
    evo2::v1::GetJobResultsRequest rr;
    rr.set_job_id(id);
    auto end = client_->Results(rr, [&](evo2::v1::RecordResult&& r) { out.push_back(r); });
    EXPECT_TRUE(end.ok()) << end.status();
    return out;
  }

  bool WaitRecordsDone(const std::string& id, int64_t n, std::chrono::seconds timeout) {
    return WaitUntil(
        [&] {
          auto j = client_->Get(id);
          return j.ok() && j->progress().records_done() >= n;
        },
        timeout);
  }

  std::unique_ptr<ServiceCluster> cluster_;
  std::unique_ptr<evo2::client::JobClient> client_;
};

TEST_F(ServiceFaultTest, KilledWorkerMidJobIsReclaimedWithoutDuplicateResults) {
  Start();
  ASSERT_TRUE(cluster_->StartWorker({"--fault-record-delay-ms", "1200"}).ok());
  const std::vector<std::string> names = {"len00001", "len00017", "len00500"};
  const std::string id = Submit(names);
  ASSERT_TRUE(WaitRecordsDone(id, 1, std::chrono::seconds(60)));
  cluster_->worker(0).Signal(SIGKILL);
  ASSERT_EQ(cluster_->worker(0).Wait(std::chrono::seconds(5)), 128 + SIGKILL);
  const int64_t done_before = client_->Get(id)->progress().records_done();
  ASSERT_LT(done_before, 3);  // really mid-job

  ASSERT_TRUE(cluster_->StartWorker().ok());
  auto job = WaitForTerminal(*client_, id, std::chrono::seconds(60));
  ASSERT_TRUE(job.ok()) << job.status() << cluster_->worker(1).Log();
  ASSERT_EQ(job->state(), evo2::v1::JOB_STATE_SUCCEEDED) << job->error().message();
  EXPECT_EQ(job->attempt(), 2);
  EXPECT_EQ(job->provenance().worker_id(), "w1");
  EXPECT_EQ(job->progress().records_done(), 3);

  auto results = Results(id);
  ASSERT_EQ(results.size(), 3u);
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].record_index(), static_cast<int64_t>(i));
    // Records stored before the kill keep w0's result; the rest come from w1.
    EXPECT_EQ(results[i].worker_id(), static_cast<int64_t>(i) < done_before ? "w0" : "w1");
  }
  int finished = 0, attempt_failed = 0;
  std::set<int64_t> seen;
  for (const auto& ev : Events(id)) {
    if (ev.type() == evo2::v1::JOB_EVENT_TYPE_RECORD_FINISHED) {
      ++finished;
      EXPECT_TRUE(seen.insert(ev.record_index()).second) << "duplicate record event";
    }
    if (ev.type() == evo2::v1::JOB_EVENT_TYPE_ATTEMPT_FAILED) {
      ++attempt_failed;
      EXPECT_TRUE(absl::StrContains(ev.error().message(), "w0 stopped heartbeating"));
    }
  }
  EXPECT_EQ(finished, 3);
  EXPECT_EQ(attempt_failed, 1);
}

TEST_F(ServiceFaultTest, RedisRestartWithAofLosesNoQueuedJob) {
  Start(/*aof=*/true);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Submit({"len00017"}));
  ASSERT_TRUE(cluster_->redis().KillAndRestart().ok());
  ASSERT_TRUE(cluster_->StartWorker().ok());
  for (const auto& id : ids) {
    auto job = WaitForTerminal(*client_, id, std::chrono::seconds(60));
    ASSERT_TRUE(job.ok()) << job.status();
    EXPECT_EQ(job->state(), evo2::v1::JOB_STATE_SUCCEEDED);
    EXPECT_EQ(Results(id).size(), 1u);
  }
}

TEST_F(ServiceFaultTest, AlwaysFailingJobIsDeadLetteredAfterMaxAttempts) {
  Start();
  ASSERT_TRUE(cluster_->StartWorker({"--fault-fail-records", "^len00017$"}).ok());
  const std::string id = Submit({"len00001", "len00017"});
  auto job = WaitForTerminal(*client_, id, std::chrono::seconds(60));
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->state(), evo2::v1::JOB_STATE_FAILED);
  EXPECT_EQ(job->attempt(), 3);
  EXPECT_EQ(job->error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(absl::StrContains(job->error().message(), "gave up after 3 attempts"));
  EXPECT_TRUE(absl::StrContains(job->error().message(), "injected fault: record 'len00017'"));
  EXPECT_EQ(job->error().record_name(), "len00017");
  EXPECT_EQ(job->error().record_index(), 1);

  int attempt_failed = 0, finished = 0;
  for (const auto& ev : Events(id)) {
    attempt_failed += ev.type() == evo2::v1::JOB_EVENT_TYPE_ATTEMPT_FAILED;
    finished += ev.type() == evo2::v1::JOB_EVENT_TYPE_RECORD_FINISHED;
  }
  EXPECT_EQ(attempt_failed, 3);
  EXPECT_EQ(finished, 1);  // record 0 stored once, reused by attempts 2 and 3

  auto redis = cluster_->Redis();
  auto dead = redis->Command({"XRANGE", "evo2:dead", "-", "+"});
  ASSERT_TRUE(dead.ok());
  ASSERT_EQ(dead->elements.size(), 1u);
  auto f = evo2::svc::FieldsFromReply(dead->elements[0].elements[1]);
  EXPECT_EQ(f["job_id"], id);
  EXPECT_EQ(f["tenant"], "alpha");
  EXPECT_EQ(f["attempts"], "3");
  EXPECT_TRUE(absl::StrContains(f["err_msg"], "injected fault"));
  // Nothing left pending in the queue and the entry is gone.
  auto pending = redis->Command({"XPENDING", "evo2:q:a_tiny6:normal", "workers"});
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->elements[0].integer, 0);
  EXPECT_EQ(redis->Command({"XLEN", "evo2:q:a_tiny6:normal"})->integer, 0);
}

TEST_F(ServiceFaultTest, CancelWhileRunningStopsWithinOneRecord) {
  Start();
  ASSERT_TRUE(cluster_->StartWorker({"--fault-record-delay-ms", "800"}).ok());
  const std::string id = Submit({"len00001", "len00017", "len00500", "len02048"});
  ASSERT_TRUE(WaitRecordsDone(id, 1, std::chrono::seconds(60)));
  auto c = client_->Cancel(id);
  ASSERT_TRUE(c.ok()) << c.status();
  const int64_t done_at_cancel = c->progress().records_done();
  EXPECT_TRUE(c->cancel_requested() || c->state() == evo2::v1::JOB_STATE_CANCELLED);
  auto job = WaitForTerminal(*client_, id, std::chrono::seconds(30));
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), evo2::v1::JOB_STATE_CANCELLED);
  EXPECT_LE(job->progress().records_done(), done_at_cancel + 1);
  EXPECT_LT(job->progress().records_done(), 4);
  // Cancel of a cancelled job is a no-op; results of finished records stay readable.
  EXPECT_TRUE(client_->Cancel(id).ok());
  EXPECT_EQ(static_cast<int64_t>(Results(id).size()), job->progress().records_done());
  bool saw_request = false;
  for (const auto& ev : Events(id)) {
    saw_request |= ev.type() == evo2::v1::JOB_EVENT_TYPE_CANCEL_REQUESTED;
  }
  EXPECT_TRUE(saw_request);
  // The worker is free again: a new job runs.
  const std::string next = Submit({"len00001"});
  auto nj = WaitForTerminal(*client_, next, std::chrono::seconds(30));
  ASSERT_TRUE(nj.ok());
  EXPECT_EQ(nj->state(), evo2::v1::JOB_STATE_SUCCEEDED);
  // Cancelling a succeeded job is FAILED_PRECONDITION.
  EXPECT_EQ(client_->Cancel(next).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ServiceFaultTest, SigtermDrainsTheRecordAndReleasesTheJob) {
  Start();
  ASSERT_TRUE(cluster_->StartWorker({"--fault-record-delay-ms", "1500"}).ok());
  const std::string id = Submit({"len00001", "len00017", "len00500"});
  // Signalled once the first record is surely in progress: a worker signalled between its claim
  // and its first record releases the job with nothing done, which is right but not this test.
  ASSERT_TRUE(cluster_->worker(0).WaitForLog("record #0 started", std::chrono::seconds(30)))
      << cluster_->worker(0).Log();
  cluster_->worker(0).Signal(SIGTERM);
  // Finishes the record in progress, releases the job and exits cleanly.
  EXPECT_EQ(cluster_->worker(0).Wait(std::chrono::seconds(10)), 0) << cluster_->worker(0).Log();
  auto released = client_->Get(id);
  ASSERT_TRUE(released.ok());
  EXPECT_EQ(released->state(), evo2::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(released->progress().records_done(), 1);
  EXPECT_EQ(released->attempt(), 0);  // a release does not use up an attempt
  ASSERT_TRUE(cluster_->StartWorker().ok());
  auto job = WaitForTerminal(*client_, id, std::chrono::seconds(60));
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), evo2::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(job->attempt(), 1);
  EXPECT_EQ(Results(id).size(), 3u);
}

}  // namespace
}  // namespace evo2::testing
