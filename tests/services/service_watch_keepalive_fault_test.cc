// Long WatchJob streams behind a proxy that, like a load balancer, cuts connections idle for a
// second (tests/support/tcp_proxy.h). A job whose records take 1.5 s each (--fault-record-delay-ms)
// is quiet for longer than that:
//   * with KEEPALIVE events every 300 ms the watch survives and sees every event once;
//   * without them (--watch-keepalive-ms 0) the same proxy cuts it: the test's proxy is real;
//   * `evo2 watch` through a proxy that resets every connection mid-job reconnects and resumes
//     after the last event id: every stored event printed exactly once, exit 0.
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "cli_runner.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "service_harness.h"
#include "support/tcp_proxy.h"

namespace evo2::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kIdleCut = milliseconds(1000);

class ServiceWatchKeepaliveTest : public ::testing::Test {
 protected:
  void Start(const std::string& keepalive_ms) {
    if (GoldenDir().empty()) GTEST_SKIP() << "golden case a_tiny6 not available";
    ClusterOptions o;
    o.api_args = {"--watch-keepalive-ms", keepalive_ms};
    auto c = ServiceCluster::Start(o);
    if (absl::IsFailedPrecondition(c.status())) GTEST_SKIP() << c.status();
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    ASSERT_TRUE(cluster_->StartWorker({"--fault-record-delay-ms", "1500"}).ok());
    const std::string api = cluster_->api_target();
    const int api_port = std::stoi(api.substr(api.rfind(':') + 1));
    auto p = TcpProxy::Start(api_port, kIdleCut);
    ASSERT_TRUE(p.ok()) << p.status();
    proxy_ = std::move(*p);
  }

  // A 2-record job: two quiet stretches of ~1.5 s each.
  std::string Submit() {
    evo2::v1::SubmitJobRequest req;
    req.set_model(kModel);
    req.set_fasta(GoldenFasta({"len00001", "len00017"}));
    auto s = cluster_->Client()->Submit(req);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? s->job().job_id() : "";
  }

  std::unique_ptr<evo2::client::JobClient> ProxiedClient() {
    evo2::client::ClientOptions o;
    o.target = "127.0.0.1:" + std::to_string(proxy_->port());
    o.api_key = kKeyAlpha;
    auto c = evo2::client::JobClient::Connect(o);  // no retries: one stream must last
    EXPECT_TRUE(c.ok());
    return c.ok() ? std::move(*c) : nullptr;
  }

  // Stored event ids of a finished job, read directly from the API.
  std::vector<std::string> StoredEventIds(const std::string& id) {
    std::vector<std::string> ids;
    auto s = cluster_->Client()->Watch(id, "", [&](const evo2::v1::JobEvent& ev) {
      ids.push_back(ev.event_id());
      return true;
    });
    EXPECT_TRUE(s.ok()) << s;
    return ids;
  }

  std::unique_ptr<ServiceCluster> cluster_;
  std::unique_ptr<TcpProxy> proxy_;
};

TEST_F(ServiceWatchKeepaliveTest, IdleWatchSurvivesAProxyThatCutsIdleConnections) {
  Start("300");
  const std::string id = Submit();
  auto client = ProxiedClient();
  std::vector<std::string> seen;
  evo2::v1::JobState last = evo2::v1::JOB_STATE_UNSPECIFIED;
  const absl::Status s = client->Watch(id, "", [&](const evo2::v1::JobEvent& ev) {
    EXPECT_NE(ev.type(), evo2::v1::JOB_EVENT_TYPE_KEEPALIVE) << "keep-alives reach the caller";
    seen.push_back(ev.event_id());
    last = ev.state();
    return true;
  });
  ASSERT_TRUE(s.ok()) << s << " after " << seen.size() << " events; proxy cuts "
                      << proxy_->idle_cuts();
  EXPECT_EQ(last, evo2::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(seen, StoredEventIds(id));
  EXPECT_EQ(proxy_->idle_cuts(), 0);
}

TEST_F(ServiceWatchKeepaliveTest, KeepaliveEventsCarryTheResumePosition) {
  Start("300");
  const std::string id = Submit();
  auto client = cluster_->Client();
  auto ctx = client->NewContext();
  evo2::v1::WatchJobRequest req;
  req.set_job_id(id);
  auto reader = client->stub().WatchJob(ctx.get(), req);
  evo2::v1::JobEvent ev;
  std::string last_stored;
  int keepalives = 0;
  while (reader->Read(&ev)) {
    if (ev.type() == evo2::v1::JOB_EVENT_TYPE_KEEPALIVE) {
      ++keepalives;
      EXPECT_EQ(ev.event_id(), last_stored) << "a keep-alive must not move the resume position";
      EXPECT_NE(ev.state(), evo2::v1::JOB_STATE_UNSPECIFIED);
    } else {
      last_stored = ev.event_id();
    }
  }
  EXPECT_TRUE(reader->Finish().ok());
  // ~3 s of quiet at one keep-alive per 300 ms; at least a few must have come.
  EXPECT_GE(keepalives, 3);
}

// Control: the proxy does cut a quiet stream when the server sends nothing.
TEST_F(ServiceWatchKeepaliveTest, WithoutKeepalivesTheProxyCutsTheWatch) {
  Start("0");
  const std::string id = Submit();
  auto client = ProxiedClient();
  const absl::Status s = client->Watch(id, "", [](const evo2::v1::JobEvent&) { return true; });
  EXPECT_FALSE(s.ok()) << "a stream quiet for 1.5 s outlived a 1 s idle cut";
  EXPECT_GE(proxy_->idle_cuts(), 1);
  (void)WaitForTerminal(*cluster_->Client(), id, seconds(60));
}

TEST_F(ServiceWatchKeepaliveTest, CliWatchResumesByEventIdWhenTheStreamIsCut) {
  Start("300");
  const std::string id = Submit();
  // Reset every connection through the proxy every 500 ms while the job runs (~3 s).
  std::atomic<bool> done{false};
  std::thread cutter([&] {
    while (!done) {
      std::this_thread::sleep_for(milliseconds(500));
      proxy_->CutAll();
    }
  });
  const CliResult r = RunCli(*cluster_, {"watch", id, "--json", "--retry-initial-ms", "50"},
                             "127.0.0.1:" + std::to_string(proxy_->port()));
  done = true;
  cutter.join();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_GE(proxy_->idle_cuts(), 2) << "the stream was never cut: the test proves nothing";
  std::vector<std::string> printed;
  for (absl::string_view line : absl::StrSplit(r.output, '\n')) {
    if (line.empty() || line.front() != '{') continue;  // retry notices go to the same log
    const auto ev = nlohmann::json::parse(line);
    printed.push_back(ev.value("event_id", ""));
  }
  EXPECT_EQ(printed, StoredEventIds(id)) << r.output;
}

}  // namespace
}  // namespace evo2::testing
