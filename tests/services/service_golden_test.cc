// End-to-end: real redis-server + evo2-api + evo2-worker (CPU, golden case a_tiny6) through a
// real gRPC client. Results must equal the golden fp32 log-probs; WatchJob must show every state
// change, live and replayed, and resume from an event id without gaps or repeats.
#include <cmath>
#include <cstring>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "evo2/npy.h"
#include "gtest/gtest.h"
#include "service_harness.h"
#include "support/golden_compare.h"

namespace evo2::testing {
namespace {

using evo2::v1::JobEvent;

// The CPU engine reproduces the fp32 golden to ~1e-5 per token (golden README: an independent
// float64 implementation lands within 1.2e-5); 1e-4 leaves margin for summation order.
constexpr double kPerTokenTol = 1e-4;

std::vector<float> Floats(const evo2::v1::Tensor& t) {
  std::vector<float> v(t.data().size() / 4);
  if (!v.empty()) std::memcpy(v.data(), t.data().data(), v.size() * 4);
  return v;
}

class ServiceGoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (GoldenDir().empty()) GTEST_SKIP() << "golden case a_tiny6 not available";
    auto c = ServiceCluster::Start();
    if (absl::IsFailedPrecondition(c.status())) GTEST_SKIP() << c.status();
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    auto w = cluster_->StartWorker();
    ASSERT_TRUE(w.ok()) << w.status();
  }
  std::unique_ptr<ServiceCluster> cluster_;
};

TEST_F(ServiceGoldenTest, MultiRecordJobEqualsGoldenAndWatchShowsEveryStateChange) {
  const std::vector<std::string> names = {"len00001", "len00017", "len00500", "len02048"};
  auto client = cluster_->Client();
  evo2::v1::SubmitJobRequest req;
  req.set_model(kModel);
  req.set_fasta(GoldenFasta(names));
  req.mutable_outputs()->add_log_probs(evo2::v1::LOG_PROB_REDUCTION_SUM);
  req.mutable_outputs()->add_log_probs(evo2::v1::LOG_PROB_REDUCTION_MEAN);
  req.mutable_outputs()->add_log_probs(evo2::v1::LOG_PROB_REDUCTION_PER_TOKEN);
  req.mutable_options()->set_keep_case(true);  // golden tokens are the raw bytes
  auto submitted = client->Submit(req);
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string id = submitted->job().job_id();
  EXPECT_EQ(submitted->job().progress().records_total(), 4);
  EXPECT_EQ(submitted->job().progress().tokens_total(), 1 + 17 + 500 + 2048);

  // A live watcher started right after submit.
  std::vector<JobEvent> live;
  absl::Status live_status;
  std::thread watcher([&] {
    auto c = cluster_->Client();
    live_status = c->Watch(id, "", [&](const JobEvent& ev) {
      live.push_back(ev);
      return true;
    });
  });
  auto job = WaitForTerminal(*client, id, std::chrono::seconds(240));
  watcher.join();
  ASSERT_TRUE(job.ok()) << job.status() << "\n" << cluster_->worker(0).Log();
  ASSERT_EQ(job->state(), evo2::v1::JOB_STATE_SUCCEEDED) << job->error().message();
  ASSERT_TRUE(live_status.ok()) << live_status;
  EXPECT_EQ(job->attempt(), 1);
  EXPECT_EQ(job->progress().records_done(), 4);
  EXPECT_EQ(job->provenance().worker_id(), "w0");
  EXPECT_EQ(job->provenance().parallel_layout(), "tp1xcp1");
  EXPECT_FALSE(job->provenance().precision().empty());
  // The harness serves a_tiny6 from its golden directory: directories get a listing digest.
  EXPECT_TRUE(absl::StartsWith(job->provenance().checkpoint_digest(), "sha256-dir:"))
      << job->provenance().checkpoint_digest();
  EXPECT_EQ(job->provenance().checkpoint_digest().size(), 11u + 64u);
  EXPECT_GT(job->end_time_us(), job->start_time_us());
  EXPECT_GE(job->start_time_us(), job->create_time_us());

  // Replay from the start: QUEUED, RUNNING, 4 × RECORD_FINISHED (in order), SUCCEEDED.
  std::vector<JobEvent> replay;
  ASSERT_TRUE(client->Watch(id, "", [&](const JobEvent& ev) {
                      replay.push_back(ev);
                      return true;
                    }).ok());
  ASSERT_EQ(replay.size(), 7u);
  EXPECT_EQ(replay[0].type(), evo2::v1::JOB_EVENT_TYPE_STATE_CHANGED);
  EXPECT_EQ(replay[0].state(), evo2::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(replay[1].state(), evo2::v1::JOB_STATE_RUNNING);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(replay[2 + i].type(), evo2::v1::JOB_EVENT_TYPE_RECORD_FINISHED);
    EXPECT_EQ(replay[2 + i].record_index(), i);
    EXPECT_EQ(replay[2 + i].record_name(), names[static_cast<size_t>(i)]);
    EXPECT_EQ(replay[2 + i].progress().records_done(), i + 1);
  }
  EXPECT_EQ(replay[6].state(), evo2::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(replay[6].progress().tokens_done(), 1 + 17 + 500 + 2048);
  // The live stream saw exactly the same events.
  ASSERT_EQ(live.size(), replay.size());
  for (size_t i = 0; i < live.size(); ++i) EXPECT_EQ(live[i].event_id(), replay[i].event_id());
  // Resume after event 2: the rest, no gap, no repeat.
  std::vector<JobEvent> resumed;
  ASSERT_TRUE(client->Watch(id, replay[2].event_id(), [&](const JobEvent& ev) {
                      resumed.push_back(ev);
                      return true;
                    }).ok());
  ASSERT_EQ(resumed.size(), 4u);
  for (size_t i = 0; i < resumed.size(); ++i) {
    EXPECT_EQ(resumed[i].event_id(), replay[3 + i].event_id());
  }
  // Resuming after the terminal event ends at once.
  int after_end = 0;
  ASSERT_TRUE(client->Watch(id, replay[6].event_id(), [&](const JobEvent&) {
                      ++after_end;
                      return true;
                    }).ok());
  EXPECT_EQ(after_end, 0);

  // Both binaries export their metrics on /metrics.
  auto api_metrics = HttpGet(cluster_->api_metrics_port(), "/metrics");
  ASSERT_TRUE(api_metrics.ok()) << api_metrics.status();
  EXPECT_TRUE(absl::StrContains(*api_metrics,
                                "evo2_api_requests_total{code=\"OK\",method=\"SubmitJob\"} 1"))
      << *api_metrics;
  EXPECT_TRUE(absl::StrContains(*api_metrics, "evo2_api_submitted_bases_total{model=\"a_tiny6\"} 2566"));
  EXPECT_TRUE(absl::StrContains(*api_metrics, "evo2_api_request_duration_seconds_bucket"));
  auto worker_metrics = HttpGet(cluster_->worker_metrics_port(0), "/metrics");
  ASSERT_TRUE(worker_metrics.ok()) << worker_metrics.status();
  for (const char* m :
       {"evo2_worker_jobs_total{model=\"a_tiny6\",outcome=\"succeeded\"} 1",
        "evo2_worker_tokens_processed_total{model=\"a_tiny6\"} 2566",
        "evo2_worker_records_processed_total{model=\"a_tiny6\"} 4",
        "evo2_worker_queue_wait_seconds_count{model=\"a_tiny6\"} 1",
        "evo2_worker_forward_seconds_count{model=\"a_tiny6\"} 4", "evo2_worker_queue_depth",
        "evo2_worker_oldest_job_age_seconds", "evo2_worker_tokens_per_second",
        "evo2_worker_ready{model=\"a_tiny6\"} 1",
        "evo2_worker_device_memory_bytes{model=\"a_tiny6\"} 0"}) {  // a CPU worker
    EXPECT_TRUE(absl::StrContains(*worker_metrics, m)) << m << "\n" << *worker_metrics;
  }

  // Results in input order, per-token log-probs equal the golden; small chunks force splitting.
  evo2::v1::GetJobResultsRequest rr;
  rr.set_job_id(id);
  rr.set_max_chunk_bytes(4096);
  std::vector<evo2::v1::RecordResult> results;
  auto end = client->Results(rr, [&](evo2::v1::RecordResult&& r) { results.push_back(r); });
  ASSERT_TRUE(end.ok()) << end.status();
  EXPECT_TRUE(end->complete());
  ASSERT_EQ(results.size(), 4u);
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    SCOPED_TRACE(names[i]);
    EXPECT_EQ(r.record_index(), static_cast<int64_t>(i));
    EXPECT_EQ(r.record_name(), names[i]);
    auto golden = GoldenLogProbs(names[i]);
    ASSERT_TRUE(golden.ok()) << golden.status();
    ASSERT_EQ(r.tensors_size(), 1);
    EXPECT_EQ(r.tensors(0).name(), "log_probs");
    ASSERT_EQ(r.tensors(0).shape_size(), 1);
    EXPECT_EQ(r.tensors(0).shape(0), static_cast<int64_t>(golden->size()));
    std::vector<float> lp = Floats(r.tensors(0));
    ASSERT_EQ(lp.size(), golden->size());
    double sum = 0;
    for (size_t t = 0; t < lp.size(); ++t) {
      ASSERT_TRUE(std::isfinite(lp[t])) << "token " << t;
      ASSERT_NEAR(lp[t], (*golden)[t], kPerTokenTol) << "token " << t;
      sum += (*golden)[t];
    }
    // Sum of up to 2047 per-token errors of ~1e-5 each: 5e-3 bounds even fully correlated drift.
    EXPECT_NEAR(r.log_prob_sum(), sum, 5e-3);
    const double mean = lp.empty() ? 0.0 : sum / static_cast<double>(lp.size());
    EXPECT_NEAR(r.log_prob_mean(), mean, kPerTokenTol);
  }
}

TEST_F(ServiceGoldenTest, LogitsStreamInChunksAndReassembleToGolden) {
  auto client = cluster_->Client();
  evo2::v1::SubmitJobRequest req;
  req.set_model(kModel);
  req.set_fasta(GoldenFasta({"len00017"}));
  req.mutable_outputs()->set_logits(true);
  req.mutable_options()->set_keep_case(true);
  auto submitted = client->Submit(req);
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  auto job = WaitForTerminal(*client, submitted->job().job_id(), std::chrono::seconds(60));
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->state(), evo2::v1::JOB_STATE_SUCCEEDED) << job->error().message();

  // Count raw chunks: 17 × 512 × 4 = 34816 bytes in 4 KiB pieces = 9 tensor chunks.
  auto ctx = client->NewContext();
  evo2::v1::GetJobResultsRequest rr;
  rr.set_job_id(submitted->job().job_id());
  rr.set_max_chunk_bytes(4096);
  auto reader = client->stub().GetJobResults(ctx.get(), rr);
  evo2::v1::ResultChunk chunk;
  int tensor_chunks = 0;
  std::string bytes;
  while (reader->Read(&chunk)) {
    if (chunk.has_tensor()) {
      ++tensor_chunks;
      // tensor_dtype was left UNSPECIFIED, which means float32: the label says what the bytes are.
      EXPECT_EQ(chunk.tensor().dtype(), evo2::v1::DTYPE_FLOAT32);
      EXPECT_LE(chunk.tensor().data().size(), 4096u);
      EXPECT_EQ(chunk.tensor().offset_bytes(), static_cast<int64_t>(bytes.size()));
      EXPECT_EQ(chunk.tensor().total_bytes(), 17 * 512 * 4);
      bytes += chunk.tensor().data();
    }
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(tensor_chunks, 9);
  auto golden = evo2::ReadNpy(GoldenDir() / "len00017.logits.npy");
  ASSERT_TRUE(golden.ok()) << golden.status();
  auto g = golden->ToFloat32();
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(bytes.size(), g->size() * 4);
  std::vector<float> got(g->size());
  std::memcpy(got.data(), bytes.data(), bytes.size());
  // Golden README: 1e-4 max-abs on logits (std ≈ 3) leaves a wide margin for an fp32 engine;
  // MaxAbsDiff is +inf on any NaN/inf.
  EXPECT_LT(evo2::testing::MaxAbsDiff(got, *g), 1e-4);
}

// SubmitJob promises QUEUED for a fresh job even when an idle worker claims it before the reply
// is built: the reply is the job as the submit stored it. Two idle workers race every submit.
TEST_F(ServiceGoldenTest, FreshSubmitReturnsQueuedEvenWhenClaimedAtOnce) {
  auto w = cluster_->StartWorker();
  ASSERT_TRUE(w.ok()) << w.status();
  auto client = cluster_->Client();
  int running_at_reply = 0;
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    evo2::v1::SubmitJobRequest req;
    req.set_model(kModel);
    req.set_fasta(absl::StrCat(">r", i, "\nACGT\n"));
    auto submitted = client->Submit(req);
    ASSERT_TRUE(submitted.ok()) << submitted.status();
    const auto& job = submitted->job();
    EXPECT_EQ(job.state(), evo2::v1::JOB_STATE_QUEUED) << "submit " << i;
    EXPECT_EQ(job.attempt(), 0);
    EXPECT_EQ(job.start_time_us(), 0);
    EXPECT_GT(job.create_time_us(), 0);
    EXPECT_EQ(job.progress().records_total(), 1);
    EXPECT_EQ(job.priority(), evo2::v1::PRIORITY_NORMAL);
    running_at_reply += job.state() != evo2::v1::JOB_STATE_QUEUED;
    ids.push_back(job.job_id());
    // Let the workers go idle again so that the next submit races a waiting worker.
    ASSERT_TRUE(WaitForTerminal(*client, job.job_id(), std::chrono::seconds(30)).ok());
  }
  EXPECT_EQ(running_at_reply, 0);
}

}  // namespace
}  // namespace evo2::testing
