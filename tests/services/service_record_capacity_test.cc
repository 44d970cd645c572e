// Workers advertise the longest record their engine can hold (docs/service.md, "Limits"), and
// the API refuses a longer record at submit. Real redis-server, evo2-api and evo2-worker: a CPU
// worker with a 2 MiB working-memory budget advertises a limit far below the configured 8192
// tokens; a record one base over it is refused with INVALID_ARGUMENT naming the record, its
// length, the limit and the worker; a record under it runs; once the worker is killed its
// advertisement expires and the configured limit applies again (the job waits for a worker).
// The API keeps the advertisements in memory (services/api/record_capacity_cache.h), so the
// test waits for its view (ListModels) with a bounded poll before it submits.
#include <csignal>
#include <cstdio>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "service_harness.h"

namespace evo2::testing {
namespace {

// The advertised limit ListModels shows for kModel; 0 when none (or on error).
int64_t AdvertisedLimit(evo2::client::JobClient& client) {
  auto models = client.ListModels();
  if (!models.ok()) return 0;
  for (const auto& m : models->models()) {
    if (m.name() == kModel) return m.advertised_max_record_tokens();
  }
  return 0;
}

evo2::v1::SubmitJobRequest OneRecord(const std::string& name, int64_t bases) {
  evo2::v1::SubmitJobRequest r;
  r.set_model(kModel);
  r.set_fasta(absl::StrCat(">", name, "\n", std::string(static_cast<size_t>(bases), 'A'), "\n"));
  return r;
}

TEST(ServiceRecordCapacity, AdvertisedLimitRefusesLongerRecordsWhileTheWorkerLives) {
  // The API reads the advertisements every 200 ms (record_capacity_cache.h), not at submit.
  ClusterOptions options;
  options.api_args = {"--record-capacity-refresh-ms", "200"};
  auto c = ServiceCluster::Start(options);
  if (absl::IsFailedPrecondition(c.status())) GTEST_SKIP() << c.status();
  ASSERT_TRUE(c.ok()) << c.status();
  ServiceCluster& cluster = **c;
  auto client = cluster.Client();
  EXPECT_EQ(AdvertisedLimit(*client), 0) << "no worker yet, nothing advertised";

  auto w = cluster.StartWorker({"--memory-budget-mib", "2"});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_TRUE(absl::StrContains(cluster.worker(*w).Log(), "longest record"))
      << cluster.worker(*w).Log();
  // The worker advertised before it pulled jobs; the API sees it at its next refresh. ListModels
  // and SubmitJob read the same view, so once ListModels shows it a submit applies it.
  ASSERT_TRUE(WaitUntil([&] { return AdvertisedLimit(*client) > 0; }, std::chrono::seconds(10)))
      << cluster.worker(*w).Log();
  const int64_t limit = AdvertisedLimit(*client);
  ASSERT_GT(limit, 16) << cluster.worker(*w).Log();
  ASSERT_LT(limit, 8192) << "a 2 MiB budget must hold less than the configured limit";
  auto metrics = HttpGet(cluster.worker_metrics_port(*w), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_TRUE(absl::StrContains(*metrics, "evo2_worker_max_record_tokens{")) << *metrics;

  // One base over: refused before anything is stored, naming record, length, limit and worker.
  const auto keys_before = cluster.Keys();
  auto over = client->Submit(OneRecord("too_long", limit + 1));
  ASSERT_EQ(over.status().code(), absl::StatusCode::kInvalidArgument) << over.status();
  const std::string message(over.status().message());
  EXPECT_TRUE(absl::StrContains(message, "record 'too_long'")) << message;
  EXPECT_TRUE(absl::StrContains(message, "exceeds the limit of " + std::to_string(limit)))
      << message;
  EXPECT_TRUE(absl::StrContains(message, "advertised by w0")) << message;
  EXPECT_EQ(cluster.Keys(), keys_before) << "a refused job left keys behind";
  std::printf("advertised limit %lld tokens; refusal: %s\n", static_cast<long long>(limit),
              message.c_str());

  // Under the limit (a prepended BOS included): runs on the worker.
  auto under = client->Submit(OneRecord("fits", limit - 1));
  ASSERT_TRUE(under.ok()) << under.status();
  auto done = WaitForTerminal(*client, under->job().job_id(), std::chrono::seconds(60));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), evo2::v1::JOB_STATE_SUCCEEDED) << done->DebugString();

  // Killed (no clean withdrawal): the advertisement expires after 3 metrics intervals (0.6 s),
  // the API's view drops it at its next refresh (0.2 s) and the configured 8192-token limit
  // applies; the job is queued for a future worker.
  cluster.worker(*w).Signal(SIGKILL);
  ASSERT_TRUE(WaitUntil([&] { return AdvertisedLimit(*client) == 0; }, std::chrono::seconds(10)));
  auto queued = client->Submit(OneRecord("too_long", limit + 1));
  ASSERT_TRUE(queued.ok()) << queued.status();
  EXPECT_EQ(queued->job().state(), evo2::v1::JOB_STATE_QUEUED);
}

}  // namespace
}  // namespace evo2::testing
