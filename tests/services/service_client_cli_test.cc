// The `evo2` client binary against real evo2-api / evo2-worker processes: output file names of
// records whose names are not file names, refusal of an unknown priority, `list --model`.
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli_runner.h"
#include "gtest/gtest.h"
#include "service_harness.h"

namespace evo2::testing {
namespace {

class ServiceClientCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (GoldenDir().empty()) GTEST_SKIP() << "golden case a_tiny6 not available";
    ClusterOptions o;
    // A second served model, so that `list --model` has something to leave out.
    o.api_args = {"--model", "other=4096,layers=6,hidden=128"};
    auto c = ServiceCluster::Start(o);
    if (absl::IsFailedPrecondition(c.status())) GTEST_SKIP() << c.status();
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    client_ = cluster_->Client();
  }

  std::filesystem::path WriteFasta(const std::string& text) {
    const auto path = cluster_->redis().dir() / "in.fa";
    std::ofstream(path) << text;
    return path;
  }

  std::unique_ptr<ServiceCluster> cluster_;
  std::unique_ptr<evo2::client::JobClient> client_;
};

TEST_F(ServiceClientCliTest, ResultsKeepsRecordsWithSlashesInsideTheOutputDirectory) {
  ASSERT_TRUE(cluster_->StartWorker().ok());
  evo2::v1::SubmitJobRequest req;
  req.set_model(kModel);
  req.set_fasta(">chr1/part:2\nACGTTGCAACGT\n>../../escape\nTTGACCAGTA\n");
  req.mutable_outputs()->add_log_probs(evo2::v1::LOG_PROB_REDUCTION_PER_TOKEN);
  auto sub = client_->Submit(req);
  ASSERT_TRUE(sub.ok()) << sub.status();
  auto job = WaitForTerminal(*client_, sub->job().job_id(), std::chrono::seconds(60));
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->state(), evo2::v1::JOB_STATE_SUCCEEDED);

  const auto parent = cluster_->redis().dir() / "results";
  const auto out = parent / "out";
  auto r = RunCli(*cluster_, {"results", sub->job().job_id(), "--out", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "chr1/part:2")) << r.output;  // the TSV keeps the name
  // The engine's mapping of record names to file stems, nothing else, and nothing outside.
  std::set<std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(parent)) {
    files.insert(std::filesystem::relative(e.path(), parent).string());
  }
  EXPECT_EQ(files, (std::set<std::string>{"out", "out/0_chr1_part_2.log_probs.npy",
                                          "out/1__.._.._escape.log_probs.npy"}));
}

TEST_F(ServiceClientCliTest, UnknownPriorityIsRefusedNamingTheValidOnes) {
  const auto fasta = WriteFasta(">r\nACGT\n");
  auto r = RunCli(*cluster_, {"submit", fasta.string(), "--model", kModel, "--priority", "urgent"});
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "urgent")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "low") && absl::StrContains(r.output, "normal") &&
              absl::StrContains(r.output, "high"))
      << r.output;
  evo2::v1::ListJobsRequest list;
  auto jobs = client_->List(list);
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ(jobs->jobs_size(), 0);  // nothing was submitted

  r = RunCli(*cluster_,
             {"submit", fasta.string(), "--model", kModel, "--priority", "high", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  jobs = client_->List(list);
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->jobs_size(), 1);
  EXPECT_EQ(jobs->jobs(0).priority(), evo2::v1::PRIORITY_HIGH);
}

TEST_F(ServiceClientCliTest, ListFiltersByModel) {
  const auto fasta = WriteFasta(">r\nACGT\n");
  auto a = RunCli(*cluster_, {"submit", fasta.string(), "--model", kModel});
  ASSERT_EQ(a.exit_code, 0) << a.output;
  auto b = RunCli(*cluster_, {"submit", fasta.string(), "--model", "other"});
  ASSERT_EQ(b.exit_code, 0) << b.output;
  const std::string id_a = a.output.substr(0, a.output.find('\n'));
  const std::string id_b = b.output.substr(0, b.output.find('\n'));

  auto r = RunCli(*cluster_, {"list", "--model", "other"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, id_b)) << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, id_a)) << r.output;
  r = RunCli(*cluster_, {"list"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, id_a) && absl::StrContains(r.output, id_b)) << r.output;
}

}  // namespace
}  // namespace evo2::testing
