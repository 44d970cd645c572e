// The results store (services/common/results_store.h) with a real redis-server, evo2-api and
// evo2-worker processes sharing a directory: record results above the worker's
// --results-inline-max-bytes are files, Redis holds only references, the API streams them
// exactly as results kept in Redis (the same job on a worker without a store gives identical
// records), and the job's directory goes once the job's TTL has expired.
#include <signal.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "results_store.h"
#include "service_harness.h"
#include "support/temp_dir.h"

namespace evo2::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

TEST(ServiceResultsStoreUnitTest, ReferencesStayInsideTheirJob) {
  TempDir dir("rs_unit");
  evo2::svc::ResultsStore store(dir.path());
  auto ref = store.Put("alpha", "0123abcd", 7, "w0.1", std::string("\x0a\x03xyz", 5));
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_TRUE(evo2::svc::ResultsStore::IsReference(*ref));
  EXPECT_TRUE(fs::exists(dir / "alpha" / "0123abcd" / "7.w0.1.pb"));
  EXPECT_EQ(*store.Get("alpha", "0123abcd", *ref), std::string("\x0a\x03xyz", 5));
  // Another tenant's or job's directory is never read, nor a path that climbs out.
  EXPECT_EQ(store.Get("beta", "0123abcd", *ref).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store.Get("alpha", "0123abcd", std::string("\0store:../x.pb", 14)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.Put("..", "0123abcd", 0, "w", "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  // A serialized RecordResult is never taken for a reference.
  evo2::v1::RecordResult r;
  r.set_record_index(0);
  r.set_record_name("x");
  EXPECT_FALSE(evo2::svc::ResultsStore::IsReference(r.SerializeAsString()));
}

// Results of a finished job, by record index.
std::map<int64_t, evo2::v1::RecordResult> ReadResults(evo2::client::JobClient& client,
                                                      const std::string& id) {
  std::map<int64_t, evo2::v1::RecordResult> out;
  evo2::v1::GetJobResultsRequest req;
  req.set_job_id(id);
  auto end = client.Results(
      req, [&](evo2::v1::RecordResult&& r) { out[r.record_index()] = std::move(r); });
  EXPECT_TRUE(end.ok()) << end.status();
  if (end.ok()) {
    EXPECT_TRUE(end->complete());
  }
  return out;
}

TEST(ServiceResultsStoreTest, LargeResultsComeFromTheStoreAndEqualTheRedisPath) {
  if (GoldenDir().empty()) GTEST_SKIP() << "golden case a_tiny6 not available";
  TempDir store_dir("results_store");
  ClusterOptions o;
  o.api_args = {"--results-dir",
                store_dir.path().string(),
                "--results-clean-interval-ms",
                "200",
                "--results-clean-grace-ms",
                "0",
                "--job-ttl-seconds",
                "4"};
  auto c = ServiceCluster::Start(o);
  if (absl::IsFailedPrecondition(c.status())) GTEST_SKIP() << c.status();
  ASSERT_TRUE(c.ok()) << c.status();
  ServiceCluster& cluster = **c;
  auto client = cluster.Client();
  evo2::v1::SubmitJobRequest req;
  req.set_model(kModel);
  req.set_fasta(GoldenFasta({"len00001", "len00017"}));
  req.mutable_outputs()->set_logits(true);  // [S, 512] float32: 2 KiB and 34 KiB
  req.mutable_outputs()->add_log_probs(evo2::v1::LOG_PROB_REDUCTION_SUM);

  // Worker with a store and a 1 KiB threshold: both records go to files.
  ASSERT_TRUE(cluster
                  .StartWorker({"--results-dir", store_dir.path().string(),
                                "--results-inline-max-bytes", "1024"})
                  .ok());
  auto stored = client->Submit(req);
  ASSERT_TRUE(stored.ok()) << stored.status();
  const std::string id = stored->job().job_id();
  auto job = WaitForTerminal(*client, id, seconds(60));
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->state(), evo2::v1::JOB_STATE_SUCCEEDED) << cluster.worker(0).Log();
  const auto from_store = ReadResults(*client, id);
  auto hash = cluster.Redis()->Command({"HGETALL", "evo2:t:alpha:job:" + id + ":results"});
  ASSERT_TRUE(hash.ok());
  ASSERT_EQ(hash->elements.size(), 4u);
  for (size_t i = 1; i < hash->elements.size(); i += 2) {
    const std::string& value = hash->elements[i].str;
    EXPECT_TRUE(evo2::svc::ResultsStore::IsReference(value)) << "a large result is in Redis";
    EXPECT_LT(value.size(), 200u);
  }
  const fs::path job_dir = store_dir / "alpha" / id;
  EXPECT_EQ(std::distance(fs::directory_iterator(job_dir), fs::directory_iterator()), 2);
  cluster.worker(0).Signal(SIGTERM);
  ASSERT_EQ(cluster.worker(0).Wait(seconds(30)), 0);

  // The same job on a worker without a store: results inline in Redis.
  ASSERT_TRUE(cluster.StartWorker().ok());
  auto inline_job = client->Submit(req);
  ASSERT_TRUE(inline_job.ok());
  const std::string id2 = inline_job->job().job_id();
  ASSERT_EQ(WaitForTerminal(*client, id2, seconds(60))->state(), evo2::v1::JOB_STATE_SUCCEEDED);
  const auto from_redis = ReadResults(*client, id2);
  EXPECT_FALSE(fs::exists(store_dir / "alpha" / id2));

  ASSERT_EQ(from_store.size(), 2u);
  ASSERT_EQ(from_redis.size(), 2u);
  for (const auto& [index, a] : from_store) {
    const auto& b = from_redis.at(index);
    EXPECT_EQ(a.record_name(), b.record_name());
    EXPECT_EQ(a.num_tokens(), b.num_tokens());
    // Same binary, same CPU backend, one thread: the forward is deterministic, bit for bit.
    EXPECT_EQ(a.log_prob_sum(), b.log_prob_sum());
    ASSERT_EQ(a.tensors_size(), 1);
    ASSERT_EQ(b.tensors_size(), 1);
    EXPECT_EQ(a.tensors(0).name(), "logits");
    EXPECT_EQ(a.tensors(0).shape_size(), 2);
    EXPECT_EQ(a.tensors(0).data().size(), static_cast<size_t>(a.num_tokens()) * 512 * 4);
    EXPECT_TRUE(a.tensors(0).data() == b.tensors(0).data()) << "record " << index;
  }

  // The job expires from Redis 4 s after it ended; the API's sweep then removes its files.
  EXPECT_TRUE(WaitUntil([&] { return !fs::exists(job_dir); }, seconds(30))) << cluster.api().Log();
}

}  // namespace
}  // namespace evo2::testing
