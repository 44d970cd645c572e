// Per-job size limits at SubmitJob (docs/service.md, "Limits"), against a real evo2-api and
// Redis: a job above the bases limit or whose requested outputs add up to more than
// --max-output-bytes-per-job is refused with RESOURCE_EXHAUSTED naming the record and the limit,
// before anything is stored; a job just under the limits is accepted.
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "service_harness.h"

namespace evo2::testing {
namespace {

class ServiceJobLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions o;
    o.api_args = {"--max-total-bases", "1000", "--max-output-bytes-per-job", "100000"};
    auto c = ServiceCluster::Start(o);
    if (absl::IsFailedPrecondition(c.status())) GTEST_SKIP() << c.status();
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    client_ = cluster_->Client();
  }

  static evo2::v1::SubmitJobRequest Fasta(const std::string& fasta) {
    evo2::v1::SubmitJobRequest r;
    r.set_model(kModel);
    r.set_fasta(fasta);
    return r;
  }

  std::unique_ptr<ServiceCluster> cluster_;
  std::unique_ptr<evo2::client::JobClient> client_;
};

TEST_F(ServiceJobLimitsTest, TooManyBasesIsRefusedNamingTheLimit) {
  const auto keys_before = cluster_->Keys();
  auto r = client_->Submit(
      Fasta(">a\n" + std::string(600, 'A') + "\n>b\n" + std::string(401, 'C') + "\n"));
  ASSERT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "record 'b'")) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "total bases 1001 exceed the limit of 1000"))
      << r.status();
  EXPECT_EQ(cluster_->Keys(), keys_before) << "a refused job left keys behind";
  EXPECT_TRUE(
      client_
          ->Submit(Fasta(">a\n" + std::string(600, 'A') + "\n>b\n" + std::string(400, 'C') + "\n"))
          .ok());
}

TEST_F(ServiceJobLimitsTest, RequestedOutputsAboveTheJobLimitAreRefusedAtSubmit) {
  const auto keys_before = cluster_->Keys();
  // Logits in bfloat16: 40 tokens × 512 × 2 B = 40 960 B per record, each far below the 64 MiB
  // per-record limit; the third record brings the job to 122 880 B > 100 000 B.
  std::string fasta;
  for (const char* name : {"r1", "r2", "r3"})
    fasta += std::string(">") + name + "\n" + std::string(40, 'G') + "\n";
  auto req = Fasta(fasta);
  req.mutable_outputs()->set_logits(true);
  req.mutable_outputs()->set_tensor_dtype(evo2::v1::DTYPE_BFLOAT16);
  auto r = client_->Submit(req);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "record 'r3'")) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "122880 bytes")) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "limit of 100000 bytes per job"))
      << r.status();
  EXPECT_EQ(cluster_->Keys(), keys_before) << "a refused job left keys behind";

  // Two of those records plus their per-token log-probs (2 × 39 × 2 B) fit: 82 076 B.
  auto two = Fasta(">r1\n" + std::string(40, 'G') + "\n>r2\n" + std::string(40, 'G') + "\n");
  two.mutable_outputs()->set_logits(true);
  two.mutable_outputs()->set_tensor_dtype(evo2::v1::DTYPE_BFLOAT16);
  two.mutable_outputs()->add_log_probs(evo2::v1::LOG_PROB_REDUCTION_PER_TOKEN);
  EXPECT_TRUE(client_->Submit(two).ok());
}

}  // namespace
}  // namespace evo2::testing
