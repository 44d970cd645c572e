// The parked-retry protocol through JobStore / JobQueue against a real redis-server: a failed
// attempt leaves the stream and waits in the retry zset until its time, promotion queues it
// under a fresh entry that the claim script accepts, and a job cancelled while parked is dropped.
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "job_codec.h"
#include "job_queue.h"
#include "job_store.h"
#include "support/redis_server.h"

namespace evo2::svc {
namespace {

using evo2::testing::RedisServer;

class ServiceRetryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = RedisServer::Start();
    if (absl::IsFailedPrecondition(r.status())) GTEST_SKIP() << r.status();
    ASSERT_TRUE(r.ok()) << r.status();
    redis_ = std::move(*r);
    RedisOptions o;
    o.port = redis_->port();
    auto c = RedisConnection::Connect(o);
    ASSERT_TRUE(c.ok()) << c.status();
    conn_ = std::move(*c);
    store_ = std::make_unique<JobStore>(*conn_, keys_);
    queue_ = std::make_unique<JobQueue>(*conn_, keys_, "m");
    ASSERT_TRUE(queue_->EnsureGroups().ok());
  }

  // Submits job `id` and fails its first attempt with a retry time `retry_in_us` from now.
  std::string SubmitAndFailOnce(const std::string& id, int64_t retry_in_us) {
    NewJob j;
    j.tenant = "ten";
    j.job_id = id;
    j.model = "m";
    j.request_digest = "d";
    j.input_blob = "input";
    j.records_total = 1;
    j.bases = 10;
    EXPECT_TRUE(store_->Submit(j).ok());
    const std::string key = keys_.Job("ten", id);
    auto entries = queue_->ReadNew("w0", absl::Milliseconds(10));
    EXPECT_TRUE(entries.ok() && entries->size() == 1u);
    if (!entries.ok() || entries->empty()) return key;
    const QueueEntry& e = (*entries)[0];
    EXPECT_EQ(store_->Claim(key, e.queue, e.id, "w0", NowMicros() + 1000000, {})->kind,
              ClaimOutcome::Kind::kRun);
    evo2::v1::JobError err;
    err.set_code(14);
    err.set_message("transient");
    auto failed = store_->FailAttempt(key, "w0", 1, err, "m", NowMicros() + retry_in_us);
    EXPECT_TRUE(failed.ok() && failed->detail == "delayed");
    return key;
  }

  int64_t Int(const std::vector<std::string>& cmd) { return conn_->Command(cmd)->integer; }

  JobKeys keys_{"t:"};
  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<RedisConnection> conn_;
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<JobQueue> queue_;
};

TEST_F(ServiceRetryStoreTest, FailedAttemptWaitsInTheRetrySetUntilItsTime) {
  const std::string key = SubmitAndFailOnce("j1", 3'600'000'000);  // an hour from now
  const std::string q = keys_.Queue("m", "normal");
  EXPECT_EQ(Int({"XLEN", q}), 0);  // the failed entry is acked and deleted
  EXPECT_EQ(Int({"ZCARD", keys_.RetryQueue("m")}), 1);
  EXPECT_EQ(store_->GetByKey(key)->state(), evo2::v1::JOB_STATE_QUEUED);
  // Not due: nothing is promoted, nothing can be read.
  EXPECT_EQ(*queue_->PromoteDueRetries(), 0);
  EXPECT_TRUE(queue_->ReadNew("w1", absl::Milliseconds(10))->empty());

  // Due (retry time moved to the past): promoted once, under a fresh entry a claim accepts.
  ASSERT_TRUE(conn_->Command({"ZADD", keys_.RetryQueue("m"), "0", key}).ok());
  EXPECT_EQ(*queue_->PromoteDueRetries(), 1);
  EXPECT_EQ(*queue_->PromoteDueRetries(), 0);
  EXPECT_EQ(Int({"ZCARD", keys_.RetryQueue("m")}), 0);
  auto entries = queue_->ReadNew("w1", absl::Milliseconds(10));
  ASSERT_TRUE(entries.ok() && entries->size() == 1u);
  auto claim =
      store_->Claim(key, (*entries)[0].queue, (*entries)[0].id, "w1", NowMicros() + 1000000, {});
  ASSERT_TRUE(claim.ok()) << claim.status();
  EXPECT_EQ(claim->kind, ClaimOutcome::Kind::kRun);
  EXPECT_EQ(claim->attempt, 2);
}

TEST_F(ServiceRetryStoreTest, JobCancelledWhileParkedIsDroppedAndReleasesItsQuota) {
  const std::string key = SubmitAndFailOnce("j2", 0);
  auto cancelled = store_->Cancel("ten", "j2");
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), evo2::v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(*queue_->PromoteDueRetries(), 0);
  EXPECT_EQ(Int({"ZCARD", keys_.RetryQueue("m")}), 0);
  EXPECT_EQ(Int({"XLEN", keys_.Queue("m", "normal")}), 0);
  auto quota = conn_->Command({"HGET", keys_.TenantQuota("ten"), "active_jobs"});
  EXPECT_EQ(quota->AsString(), "0");
}

}  // namespace
}  // namespace evo2::svc
