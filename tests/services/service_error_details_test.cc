// Unit tests of the API's request checks that run before validation and of the error details
// they produce: enum values outside the schema, and absl::Status payloads → google.rpc.Status in
// the gRPC trailer.
#include <string>

#include "absl/strings/match.h"
#include "enum_fields.h"
#include "error_details.h"
#include "evo2/v1/jobs.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "status_details.h"

namespace evo2::svc {
namespace {

using evo2::v1::SubmitJobRequest;

// The BadRequest of a status' trailer, or an empty one.
google::rpc::BadRequest BadRequestOf(const absl::Status& s) {
  google::rpc::Status details;
  google::rpc::BadRequest bad;
  if (!details.ParseFromString(ToGrpc(s).error_details())) return bad;
  for (const auto& any : details.details()) {
    if (any.type_url() == "type.googleapis.com/google.rpc.BadRequest") {
      bad.ParseFromString(any.value());
    }
  }
  return bad;
}

TEST(ServiceEnumFields, RefusesUnknownValuesAtAnyDepthNamingTheField) {
  SubmitJobRequest ok;
  ok.set_priority(evo2::v1::PRIORITY_HIGH);
  ok.mutable_outputs()->add_log_probs(evo2::v1::LOG_PROB_REDUCTION_PER_TOKEN);
  ok.mutable_outputs()->add_embeddings()->set_pooling(evo2::v1::POOLING_LAST);
  EXPECT_TRUE(CheckEnumFields(ok).ok());

  struct Case {
    SubmitJobRequest request;
    std::string field, text;
  };
  std::vector<Case> cases(5);
  cases[0].request.mutable_outputs()->add_log_probs(evo2::v1::LOG_PROB_REDUCTION_SUM);
  cases[0].request.mutable_outputs()->add_log_probs(static_cast<evo2::v1::LogProbReduction>(99));
  cases[0].field = "outputs.log_probs[1]";
  cases[0].text =
      "outputs.log_probs[1]: 99 is not a LogProbReduction (valid: "
      "LOG_PROB_REDUCTION_UNSPECIFIED=0, LOG_PROB_REDUCTION_SUM=1, ";
  cases[1].request.mutable_outputs()->set_tensor_dtype(static_cast<evo2::v1::DType>(7));
  cases[1].field = "outputs.tensor_dtype";
  cases[1].text = "7 is not a DType";
  cases[2].request.set_priority(static_cast<evo2::v1::Priority>(42));
  cases[2].field = "priority";
  cases[2].text = "42 is not a Priority";
  cases[3].request.set_priority(static_cast<evo2::v1::Priority>(-1));
  cases[3].field = "priority";
  cases[3].text = "-1 is not a Priority";
  cases[4].request.mutable_outputs()->add_embeddings()->set_layer("blocks.1");
  cases[4].request.mutable_outputs()->add_embeddings()->set_pooling(
      static_cast<evo2::v1::Pooling>(9));
  cases[4].field = "outputs.embeddings[1].pooling";
  cases[4].text = "9 is not a Pooling (valid: POOLING_UNSPECIFIED=0,";
  for (const auto& c : cases) {
    SCOPED_TRACE(c.field);
    absl::Status s = CheckEnumFields(c.request);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), c.text)) << s.message();
    auto bad = BadRequestOf(s);
    ASSERT_EQ(bad.field_violations_size(), 1);
    EXPECT_EQ(bad.field_violations(0).field(), c.field);
    EXPECT_EQ(bad.field_violations(0).description(), s.message());
  }
}

TEST(ServiceStatusDetails, PayloadsBecomeGoogleRpcStatusDetails) {
  EXPECT_TRUE(ToGrpc(absl::OkStatus()).ok());
  grpc::Status plain = ToGrpc(absl::NotFoundError("job 'x' not found"));
  EXPECT_EQ(plain.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(plain.error_details().empty());

  grpc::Status quota = ToGrpc(TenantQuotaError("TENANT_ACTIVE_JOBS", "alpha", "tenant quota", 7, 6,
                                               absl::Milliseconds(1500)));
  EXPECT_EQ(quota.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(quota.error_details()));
  EXPECT_EQ(details.code(), 8);
  EXPECT_EQ(details.message(), "tenant quota");
  std::map<std::string, std::string> by_type;
  for (const auto& any : details.details()) by_type[any.type_url()] = any.value();
  ASSERT_EQ(by_type.size(), 3u);
  google::rpc::RetryInfo retry;
  ASSERT_TRUE(retry.ParseFromString(by_type["type.googleapis.com/google.rpc.RetryInfo"]));
  EXPECT_EQ(retry.retry_delay().seconds(), 1);
  EXPECT_EQ(retry.retry_delay().nanos(), 500000000);
  google::rpc::QuotaFailure qf;
  ASSERT_TRUE(qf.ParseFromString(by_type["type.googleapis.com/google.rpc.QuotaFailure"]));
  ASSERT_EQ(qf.violations_size(), 1);
  EXPECT_EQ(qf.violations(0).subject(), "tenant:alpha");
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(info.ParseFromString(by_type["type.googleapis.com/google.rpc.ErrorInfo"]));
  EXPECT_EQ(info.reason(), "TENANT_ACTIVE_JOBS");
  EXPECT_EQ(info.domain(), kErrorDomain);
  EXPECT_EQ(info.metadata().at("limit"), "6");

  // A field violation is added once, to INVALID_ARGUMENT only.
  absl::Status twice = WithFieldViolation(InvalidField("fasta", "bad"), "model");
  ASSERT_EQ(BadRequestOf(twice).field_violations_size(), 1);
  EXPECT_EQ(BadRequestOf(twice).field_violations(0).field(), "fasta");
  EXPECT_TRUE(
      ToGrpc(WithFieldViolation(absl::UnavailableError("down"), "model")).error_details().empty());
}

}  // namespace
}  // namespace evo2::svc
