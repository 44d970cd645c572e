// A client that retries after an API crash creates exactly one job. The dangerous case is an API
// that stored the job but died before answering: here Redis is paused (SIGSTOP) so the API's
// submit script sits in Redis' socket buffer, the client's attempt times out and retries, the API
// is SIGKILLed, Redis resumes and runs the dead API's script (the job now exists, unacknowledged),
// and the API restarts. Only the idempotency key the client sent on every attempt lets the retry
// find that job instead of creating a second one.
#include <signal.h>

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli_runner.h"
#include "gtest/gtest.h"
#include "service_harness.h"

namespace evo2::testing {
namespace {

int64_t TenantJobs(ServiceCluster& cluster) {
  auto r = cluster.Redis()->Command({"ZCARD", "evo2:t:alpha:jobs"});
  return r.ok() ? r->integer : -1;
}

TEST(ServiceClientRetryFaultTest, RetryAcrossAnApiCrashCreatesExactlyOneJob) {
  if (GoldenDir().empty()) GTEST_SKIP() << "golden case a_tiny6 not available";
  auto c = ServiceCluster::Start();
  if (absl::IsFailedPrecondition(c.status())) GTEST_SKIP() << c.status();
  ASSERT_TRUE(c.ok()) << c.status();
  ServiceCluster& cluster = **c;
  // Warm-up: Redis caches the submit script, so the stalled attempt below is a single EVALSHA.
  auto client = cluster.Client();
  evo2::v1::SubmitJobRequest warm;
  warm.set_model(kModel);
  warm.set_fasta(">warm\nACGT\n");
  ASSERT_TRUE(client->Submit(warm).ok());
  ASSERT_EQ(TenantJobs(cluster), 1);

  const auto fasta = cluster.redis().dir() / "in.fa";
  std::ofstream(fasta) << ">r\nACGTTGCA\n";
  ASSERT_EQ(::kill(cluster.redis().pid(), SIGSTOP), 0);
  const auto log = cluster.redis().dir() / "cli.log";
  auto cli =
      StartCli(cluster,
               {"submit", fasta.string(), "--model", kModel, "--json", "--attempt-timeout-seconds",
                "1", "--retry-initial-ms", "100", "--retry-max-backoff-ms", "400",
                "--retry-attempts", "200", "--retry-max-seconds", "60"},
               log);
  ASSERT_NE(cli, nullptr);
  // The first attempt reached the API, whose script waits in the paused Redis.
  ASSERT_TRUE(cli->WaitForLog("DEADLINE_EXCEEDED", std::chrono::seconds(20))) << cli->Log();
  cluster.KillApi();
  ASSERT_TRUE(cli->WaitForLog("UNAVAILABLE", std::chrono::seconds(20))) << cli->Log();
  ASSERT_EQ(::kill(cluster.redis().pid(), SIGCONT), 0);
  // The dead API's script ran: a job exists that no client was told about.
  ASSERT_TRUE(WaitUntil([&] { return TenantJobs(cluster) == 2; }, std::chrono::seconds(10)))
      << "jobs: " << TenantJobs(cluster);

  ASSERT_TRUE(cluster.RestartApi().ok());
  ASSERT_EQ(cli->Wait(std::chrono::seconds(60)), 0) << cli->Log();
  const std::string out = cli->Log();
  EXPECT_TRUE(absl::StrContains(out, "\"idempotent_replay\": true")) << out;
  EXPECT_EQ(TenantJobs(cluster), 2) << out;
  evo2::v1::ListJobsRequest list;
  auto jobs = client->List(list);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->jobs_size(), 2);
  // The job the client printed is the one the dead API stored.
  EXPECT_TRUE(absl::StrContains(out, jobs->jobs(0).job_id())) << out;
}

}  // namespace
}  // namespace evo2::testing
