// The worker's Kubernetes probe files and drain timeout (deploy/k8s/base/worker.yaml,
// docs/service.md "Health"), against a real redis-server, evo2-api and evo2-worker:
//   * `alive` appears once the model is loaded and self-tested and keeps being touched;
//   * `ready` follows evo2_worker_ready: present, gone while Redis is unreachable (SIGSTOP),
//     back after SIGCONT, gone from the first SIGTERM;
//   * with --drain-timeout-ms, one SIGTERM during a record that would take a minute aborts it
//     after the timeout and releases the job (QUEUED again), and the worker exits 0.
#include <signal.h>

#include <filesystem>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "service_harness.h"
#include "support/temp_dir.h"

namespace evo2::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

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

class ServiceWorkerProbesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (GoldenDir().empty()) GTEST_SKIP() << "golden case a_tiny6 not available";
    auto c = ServiceCluster::Start({});
    if (absl::IsFailedPrecondition(c.status())) GTEST_SKIP() << c.status();
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    client_ = cluster_->Client();
  }

  std::unique_ptr<ServiceCluster> cluster_;
  std::unique_ptr<evo2::client::JobClient> client_;
  TempDir dir_{"probes"};
};

TEST_F(ServiceWorkerProbesTest, AliveAndReadyFilesFollowTheWorker) {
  const fs::path alive = dir_ / "alive", ready = dir_ / "ready";
  auto w =
      cluster_->StartWorker({"--health-dir", dir_.path().string(), "--health-interval-ms", "200"});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_NE(cluster_->worker(0).Log().find("self-test passed"), std::string::npos)
      << cluster_->worker(0).Log();
  ASSERT_TRUE(WaitUntil([&] { return fs::exists(alive) && fs::exists(ready); }, seconds(10)));
  // The loop turns every --block-ms (200 ms): the heartbeat file keeps getting newer.
  const auto t0 = fs::last_write_time(alive);
  EXPECT_TRUE(WaitUntil([&] { return fs::last_write_time(alive) > t0; }, seconds(5)));

  const pid_t redis = RedisPid(*cluster_);
  ASSERT_GT(redis, 0);
  ASSERT_EQ(::kill(redis, SIGSTOP), 0);
  const bool not_ready = WaitUntil([&] { return !fs::exists(ready); }, seconds(30));
  ::kill(redis, SIGCONT);
  ASSERT_TRUE(not_ready) << "'ready' stayed while Redis was unreachable\n"
                         << cluster_->worker(0).Log();
  ASSERT_TRUE(WaitUntil([&] { return fs::exists(ready); }, seconds(30)))
      << cluster_->worker(0).Log();

  cluster_->worker(0).Signal(SIGTERM);
  EXPECT_EQ(cluster_->worker(0).Wait(seconds(30)), 0) << cluster_->worker(0).Log();
  EXPECT_FALSE(fs::exists(ready)) << "'ready' outlived the drain";
}

TEST_F(ServiceWorkerProbesTest, DrainTimeoutAbortsTheRecordAndReleasesTheJob) {
  // Each record would take 60 s; the drain may wait only 500 ms for it.
  auto w = cluster_->StartWorker({"--fault-record-delay-ms", "60000", "--drain-timeout-ms", "500"});
  ASSERT_TRUE(w.ok()) << w.status();
  evo2::v1::SubmitJobRequest req;
  req.set_model(kModel);
  req.set_fasta(GoldenFasta({"len00017"}));
  auto submitted = client_->Submit(req);
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string id = submitted->job().job_id();
  // Signalled once the record is surely in progress, so that the drain has one to wait for.
  ASSERT_TRUE(cluster_->worker(0).WaitForLog("record #0 started", seconds(30)))
      << cluster_->worker(0).Log();
  const auto t0 = std::chrono::steady_clock::now();
  cluster_->worker(0).Signal(SIGTERM);  // once: without the timeout it would wait ~60 s
  ASSERT_EQ(cluster_->worker(0).Wait(seconds(20)), 0) << cluster_->worker(0).Log();
  const auto took = std::chrono::steady_clock::now() - t0;
  // 500 ms timeout + one heartbeat period (1.5 s / 4) for the abort to reach the record + the
  // release script; 10 s leaves room for a loaded CI machine, and is far below the 60 s record.
  EXPECT_LT(took, seconds(10));
  auto job = client_->Get(id);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), evo2::v1::JOB_STATE_QUEUED) << "the job was not released";
  EXPECT_EQ(job->attempt(), 0) << "a release must not use an attempt";
  EXPECT_NE(cluster_->worker(0).Log().find("drain timeout"), std::string::npos)
      << cluster_->worker(0).Log();
}

}  // namespace
}  // namespace evo2::testing
