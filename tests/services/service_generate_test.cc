// Generate jobs end to end (real redis-server, evo2-api, evo2-worker on golden case a_tiny6,
// real gRPC and `evo2` clients): the bases streamed as TOKENS_GENERATED events while the job
// runs, the job's results and `evo2 submit --generate --wait` all equal `evo2 generate` run
// locally with the same seed; a watch resumed after a token event misses nothing; bad
// generation options are refused at submit.
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli_runner.h"
#include "gtest/gtest.h"
#include "service_harness.h"
#include "support/temp_dir.h"

namespace evo2::testing {
namespace {

using evo2::v1::JobEvent;

constexpr char kPrompts[] =
    ">p1\nATGAAACGCATTAGCACCACCATTACCACCACCATC\n>p2\nTCAGCCCGCACCGTTACCTGTGG\n";

// FASTA text -> name -> sequence.
std::map<std::string, std::string> ParseFasta(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string name;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line[0] == '>') {
      name = line.substr(1, line.find(' ') - 1);
      out[name];
    } else if (!name.empty()) {
      out[name] += line;
    }
  }
  return out;
}

// Streamed bases by `evo2 generate`'s sequence name; checks that pieces arrive in order.
std::map<std::string, std::string> Assemble(const std::vector<JobEvent>& events) {
  std::map<std::string, std::string> out;
  for (const JobEvent& ev : events) {
    if (ev.type() != evo2::v1::JOB_EVENT_TYPE_TOKENS_GENERATED) continue;
    std::string& s = out[absl::StrCat(ev.record_name(), "_sample", ev.tokens().sample())];
    EXPECT_EQ(ev.tokens().first_index(), static_cast<int64_t>(s.size()));
    EXPECT_EQ(ev.tokens().log_probs_size(), static_cast<int>(ev.tokens().bases().size()));
    s += ev.tokens().bases();
  }
  return out;
}

class ServiceGenerateTest : public ::testing::Test {
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

  // `evo2 generate` on the worker's checkpoint, the job's sampling flags.
  std::map<std::string, std::string> LocalGenerate() {
    const auto prompts = scratch_.Write("prompts.fa", kPrompts);
    const auto out = scratch_.path() / "local.fa";
    auto p = ChildProcess::Spawn({EVO2_CLI_BIN,       "generate",
                                  "--ckpt-dir",       (GoldenDir() / "model.pt").string(),
                                  "--prompt-fasta",   prompts.string(),
                                  "--max-new-tokens", "40",
                                  "--temperature",    "0.9",
                                  "--top-k",          "3",
                                  "--seed",           "11",
                                  "--num-samples",    "2",
                                  "--threads",        "1",
                                  "--output",         out.string()},
                                 {}, scratch_.path() / "local.log");
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) return {};
    EXPECT_EQ((*p)->Wait(std::chrono::seconds(60)), 0) << (*p)->Log();
    return ParseFasta(ReadFileBytes(out));
  }

  evo2::v1::SubmitJobRequest Request() const {
    evo2::v1::SubmitJobRequest req;
    req.set_model(kModel);
    req.set_fasta(kPrompts);
    evo2::v1::GenerationOptions* g = req.mutable_generation();
    g->set_max_new_tokens(40);
    g->set_temperature(0.9);
    g->set_top_k(3);
    g->set_seed(11);
    g->set_num_samples(2);
    return req;
  }

  std::unique_ptr<ServiceCluster> cluster_;
  TempDir scratch_{"service-generate"};
};

TEST_F(ServiceGenerateTest, StreamedTokensEqualLocalGenerateWithTheSameSeed) {
  auto client = cluster_->Client();
  auto submitted = client->Submit(Request());
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string id = submitted->job().job_id();
  // Prompt tokens plus every generated base.
  EXPECT_EQ(submitted->job().progress().tokens_total(), 36 + 23 + 2 * 2 * 40);
  std::vector<JobEvent> live;
  absl::Status live_status = client->Watch(id, "", [&](const JobEvent& ev) {
    live.push_back(ev);
    return true;
  });
  ASSERT_TRUE(live_status.ok()) << live_status << "\n" << cluster_->worker(0).Log();
  auto job = client->Get(id);
  ASSERT_TRUE(job.ok());
  ASSERT_EQ(job->state(), evo2::v1::JOB_STATE_SUCCEEDED) << job->error().message() << "\n"
                                                         << cluster_->worker(0).Log();

  const auto local = LocalGenerate();
  ASSERT_EQ(local.size(), 4u);
  const auto streamed = Assemble(live);
  EXPECT_EQ(streamed, local);
  // Tokens of a record are streamed before its result is stored.
  for (const std::string rec : {"p1", "p2"}) {
    size_t first_tokens = live.size(), finished = live.size();
    for (size_t i = 0; i < live.size(); ++i) {
      if (live[i].record_name() != rec) continue;
      if (live[i].type() == evo2::v1::JOB_EVENT_TYPE_TOKENS_GENERATED)
        first_tokens = std::min(first_tokens, i);
      if (live[i].type() == evo2::v1::JOB_EVENT_TYPE_RECORD_FINISHED) finished = i;
    }
    EXPECT_LT(first_tokens, finished) << rec;
  }
  // Resuming after the first token event replays exactly the rest.
  size_t k = 0;
  while (k < live.size() && live[k].type() != evo2::v1::JOB_EVENT_TYPE_TOKENS_GENERATED) ++k;
  ASSERT_LT(k, live.size());
  std::vector<JobEvent> rest;
  ASSERT_TRUE(client
                  ->Watch(id, live[k].event_id(),
                          [&](const JobEvent& ev) {
                            rest.push_back(ev);
                            return true;
                          })
                  .ok());
  ASSERT_EQ(rest.size(), live.size() - k - 1);
  for (size_t i = 0; i < rest.size(); ++i) {
    EXPECT_EQ(rest[i].event_id(), live[k + 1 + i].event_id());
  }
  // The stored results hold the same sequences.
  evo2::v1::GetJobResultsRequest rreq;
  rreq.set_job_id(id);
  std::map<std::string, std::string> results;
  auto end = client->Results(rreq, [&](evo2::v1::RecordResult&& r) {
    for (const auto& g : r.generated()) {
      results[absl::StrCat(r.record_name(), "_sample", g.sample())] = g.bases();
      EXPECT_EQ(g.log_probs_size(), 40);
    }
  });
  ASSERT_TRUE(end.ok()) << end.status();
  EXPECT_EQ(results, local);

  // The `evo2` client: submit --generate --wait prints the token events and then the FASTA.
  const auto prompts = scratch_.Write("cli_prompts.fa", kPrompts);
  CliResult cli = RunCli(*cluster_, {"submit", prompts.string(), "--model", kModel, "--generate",
                                     "--max-new-tokens", "40", "--temperature", "0.9", "--top-k",
                                     "3", "--seed", "11", "--num-samples", "2", "--wait"});
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_NE(cli.output.find("tokens  p1 sample 0  @0  "), std::string::npos) << cli.output;
  EXPECT_EQ(ParseFasta(cli.output.substr(cli.output.find('>'))), local) << cli.output;
}

TEST_F(ServiceGenerateTest, BadGenerationOptionsAreRefusedAtSubmit) {
  auto client = cluster_->Client();
  auto top_p = Request();
  top_p.mutable_generation()->set_top_p(1.5);
  auto r = client->Submit(top_p);
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("top-p must be in (0, 1]"), std::string::npos);
  auto zero = Request();
  zero.mutable_generation()->set_max_new_tokens(0);
  r = client->Submit(zero);
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  auto logits = Request();
  logits.mutable_outputs()->set_logits(true);
  r = client->Submit(logits);
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  auto too_long = Request();
  too_long.mutable_generation()->set_max_new_tokens(1'000'000'000);
  r = client->Submit(too_long);
  EXPECT_TRUE(absl::IsResourceExhausted(r.status())) << r.status();
}

}  // namespace
}  // namespace evo2::testing
