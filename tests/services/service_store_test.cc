// The job state machine's racing transitions, driven directly through JobStore against a real
// redis-server: cancel vs claim, takeover fencing (a worker that lost its lease cannot write),
// idempotent result writes, release, and tenant-scoped keys.
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "job_codec.h"
#include "job_store.h"
#include "support/redis_server.h"

namespace evo2::svc {
namespace {

using evo2::testing::RedisServer;

class ServiceJobStoreTest : public ::testing::Test {
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
    store_ = std::make_unique<JobStore>(*conn_, JobKeys("t:"));
    ASSERT_TRUE(store_->EnsureQueues("m").ok());
  }

  std::string Submit(const std::string& id) {
    NewJob j;
    j.tenant = "ten";
    j.job_id = id;
    j.model = "m";
    j.request_digest = "d";
    j.input_blob = "input";
    j.records_total = 2;
    j.bases = 10;
    auto r = store_->Submit(j);
    EXPECT_TRUE(r.ok()) << r.status();
    return store_->keys().Job("ten", id);
  }

  // XREADGROUP one entry as `consumer`: (queue, entry id).
  std::pair<std::string, std::string> Read(const std::string& consumer) {
    const std::string q = store_->keys().Queue("m", "normal");
    auto r = conn_->Command({"XREADGROUP", "GROUP", kWorkerGroup, consumer, "COUNT", "1",
                             "STREAMS", q, ">"});
    EXPECT_TRUE(r.ok() && r->is_array() && !r->elements.empty());
    if (!r.ok() || !r->is_array() || r->elements.empty()) return {q, ""};
    return {q, r->elements[0].elements[1].elements[0].elements[0].AsString()};
  }

  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<RedisConnection> conn_;
  std::unique_ptr<JobStore> store_;
};

TEST_F(ServiceJobStoreTest, CancelWhileQueuedWinsOverALaterClaim) {
  const std::string key = Submit("j1");
  auto job = store_->Cancel("ten", "j1");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), evo2::v1::JOB_STATE_CANCELLED);
  auto [q, entry] = Read("w0");
  auto claim = store_->Claim(key, q, entry, "w0", NowMicros() + 1000000, {});
  ASSERT_TRUE(claim.ok()) << claim.status();
  EXPECT_EQ(claim->kind, ClaimOutcome::Kind::kSkip);
  EXPECT_EQ(claim->detail, "CANCELLED");
  // The skipped entry is acked and deleted; the quota was released exactly once.
  EXPECT_EQ(conn_->Command({"XLEN", q})->integer, 0);
  auto quota = conn_->Command({"HGET", store_->keys().TenantQuota("ten"), "active_jobs"});
  EXPECT_EQ(quota->AsString(), "0");
}

TEST_F(ServiceJobStoreTest, TakeoverFencesTheOldWorkerAndResultsAreWrittenOnce) {
  const std::string key = Submit("j2");
  auto [q, entry] = Read("w0");
  auto c0 = store_->Claim(key, q, entry, "w0", NowMicros() + 1000000, {});
  ASSERT_TRUE(c0.ok());
  ASSERT_EQ(c0->kind, ClaimOutcome::Kind::kRun);
  EXPECT_EQ(c0->attempt, 1);
  // Another consumer cannot claim an entry it does not hold.
  auto stolen = store_->Claim(key, q, entry, "w1", NowMicros() + 1000000, {});
  ASSERT_TRUE(stolen.ok());
  EXPECT_EQ(stolen->kind, ClaimOutcome::Kind::kSkip);
  EXPECT_EQ(stolen->detail, "not-owner");
  auto put0 = store_->PutResult(key, "w0", 1, 0, "r0-by-w0", 5, "a");
  ASSERT_TRUE(put0.ok());
  EXPECT_TRUE(put0->added);

  // w0 stalls; w1 takes the entry over (XAUTOCLAIM, min idle 0 for the test) and claims.
  ASSERT_TRUE(conn_->Command({"XAUTOCLAIM", q, kWorkerGroup, "w1", "0", "0-0"}).ok());
  auto c1 = store_->Claim(key, q, entry, "w1", NowMicros() + 1000000, {});
  ASSERT_TRUE(c1.ok());
  ASSERT_EQ(c1->kind, ClaimOutcome::Kind::kRun);
  EXPECT_EQ(c1->attempt, 2);
  // Every write of the old holder is refused now.
  EXPECT_TRUE(store_->PutResult(key, "w0", 1, 1, "r1-by-w0", 5, "b")->fenced);
  EXPECT_TRUE(store_->Heartbeat(key, q, entry, "w0", 1, NowMicros())->fenced);
  EXPECT_TRUE(store_->Finish(key, "w0", 1, evo2::v1::JOB_STATE_SUCCEEDED, {}, "")->fenced);
  EXPECT_TRUE(store_->Release(key, "w0", 1)->fenced);
  // The new holder re-writing record 0 does not duplicate it; record 1 is new.
  auto again = store_->PutResult(key, "w1", 2, 0, "r0-by-w1", 5, "a");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->fenced);
  EXPECT_FALSE(again->added);
  EXPECT_TRUE(store_->PutResult(key, "w1", 2, 1, "r1-by-w1", 5, "b")->added);
  ASSERT_FALSE(store_->Finish(key, "w1", 2, evo2::v1::JOB_STATE_SUCCEEDED, {}, "ok")->fenced);

  auto job = store_->Get("ten", "j2");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), evo2::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(job->progress().records_done(), 2);
  EXPECT_EQ(job->progress().tokens_done(), 10);
  EXPECT_EQ(**store_->GetResult("ten", "j2", 0), "r0-by-w0");  // first write wins
  EXPECT_EQ(**store_->GetResult("ten", "j2", 1), "r1-by-w1");
  // Terminal: TTL on the job's keys, cancel is FAILED_PRECONDITION, the entry is gone.
  EXPECT_GT(conn_->Command({"TTL", key})->integer, 0);
  EXPECT_GT(conn_->Command({"TTL", key + ":results"})->integer, 0);
  EXPECT_EQ(store_->Cancel("ten", "j2").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(conn_->Command({"XLEN", q})->integer, 0);
  // Other tenants' lookups never reach the job.
  EXPECT_EQ(store_->Get("other", "j2").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ServiceJobStoreTest, CancelWhileRunningIsSeenByTheWorkerAndReleaseRequeues) {
  const std::string key = Submit("j3");
  auto [q, entry] = Read("w0");
  ASSERT_EQ(store_->Claim(key, q, entry, "w0", NowMicros() + 1000000, {})->kind,
            ClaimOutcome::Kind::kRun);
  // Release (drain): back to QUEUED under a new entry, attempt not counted.
  ASSERT_EQ(store_->Release(key, "w0", 1)->detail, "released");
  auto queued = store_->Get("ten", "j3");
  EXPECT_EQ(queued->state(), evo2::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(queued->attempt(), 0);
  auto [q2, entry2] = Read("w1");
  EXPECT_NE(entry2, entry);
  ASSERT_EQ(store_->Claim(key, q2, entry2, "w1", NowMicros() + 1000000, {})->attempt, 1);
  auto cancelled = store_->Cancel("ten", "j3");
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state(), evo2::v1::JOB_STATE_RUNNING);
  EXPECT_TRUE(cancelled->cancel_requested());
  EXPECT_TRUE(store_->Heartbeat(key, q2, entry2, "w1", 1, NowMicros() + 1000000)->cancel_requested);
  ASSERT_FALSE(
      store_->Finish(key, "w1", 1, evo2::v1::JOB_STATE_CANCELLED, {}, "cancelled")->fenced);
  EXPECT_EQ(store_->Get("ten", "j3")->state(), evo2::v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(conn_->Command({"HGET", store_->keys().TenantQuota("ten"), "active_bases"})->AsString(),
            "0");
}

// The autoscaler's signal (deploy/k8s/keda): XLEN of the active-work stream = queued + running
// jobs. It must not drop when a job is claimed (the consumer group's lag does), must survive a
// release, and must drop at once when a queued job is cancelled (no pod woken for it).
TEST_F(ServiceJobStoreTest, ActiveWorkCountsQueuedAndRunningJobsOnly) {
  const std::string active = store_->keys().ActiveWork("m");
  auto xlen = [&] { return conn_->Command({"XLEN", active})->integer; };
  const std::string k1 = Submit("a1");
  Submit("a2");
  EXPECT_EQ(xlen(), 2);
  ASSERT_EQ(store_->Cancel("ten", "a2")->state(), evo2::v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(xlen(), 1) << "a job cancelled while queued still counts as work";
  auto [q, entry] = Read("w0");
  ASSERT_EQ(store_->Claim(k1, q, entry, "w0", NowMicros() + 1000000, {})->kind,
            ClaimOutcome::Kind::kRun);
  EXPECT_EQ(xlen(), 1) << "a running job must keep its worker";
  ASSERT_EQ(store_->Release(k1, "w0", 1)->detail, "released");
  EXPECT_EQ(xlen(), 1);
  // The cancelled job's entry is skipped by the claim; it changes nothing.
  auto [q2, skipped] = Read("w1");
  EXPECT_EQ(store_->Claim(store_->keys().Job("ten", "a2"), q2, skipped, "w1",
                          NowMicros() + 1000000, {})->kind,
            ClaimOutcome::Kind::kSkip);
  auto [q3, entry3] = Read("w1");
  ASSERT_EQ(store_->Claim(k1, q3, entry3, "w1", NowMicros() + 1000000, {})->kind,
            ClaimOutcome::Kind::kRun);
  ASSERT_FALSE(store_->Finish(k1, "w1", 1, evo2::v1::JOB_STATE_SUCCEEDED, {}, "ok")->fenced);
  EXPECT_EQ(xlen(), 0);
}

}  // namespace
}  // namespace evo2::svc

namespace evo2::svc {
namespace {

TEST(ServiceRedisAuth, PasswordIsRequiredAndUsed) {
  evo2::testing::RedisServer::Options ro;
  ro.password = "s3cret-pw";
  auto r = evo2::testing::RedisServer::Start(ro);
  if (absl::IsFailedPrecondition(r.status())) GTEST_SKIP() << r.status();
  ASSERT_TRUE(r.ok()) << r.status();
  RedisOptions o;
  o.port = (*r)->port();
  // No password: connecting works, the first command is refused.
  auto anon = RedisConnection::Connect(o);
  ASSERT_TRUE(anon.ok());
  EXPECT_EQ((*anon)->Command({"PING"}).status().code(), absl::StatusCode::kUnauthenticated);
  o.password = "wrong";
  EXPECT_EQ(RedisConnection::Connect(o).status().code(), absl::StatusCode::kUnauthenticated);
  auto url = ParseRedisUrl(absl::StrCat("redis://:s3cret-pw@127.0.0.1:", (*r)->port()));
  ASSERT_TRUE(url.ok());
  auto good = RedisConnection::Connect(*url);
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ((*good)->Command({"PING"})->AsString(), "PONG");
}

}  // namespace
}  // namespace evo2::svc
