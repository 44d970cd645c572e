// Unit tests of the API's request checks that run before validation and of the error details
// they produce: enum values outside the schema, invalid UTF-8 in text fields found on the wire,
// and absl::Status payloads → google.rpc.Status in the gRPC trailer.
#include <string>

#include "absl/strings/match.h"
#include "enum_fields.h"
#include "error_details.h"
#include "evo2/v1/jobs.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "status_details.h"
#include "utf8_fields.h"

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

TEST(ServiceUtf8Fields, FirstInvalidUtf8FollowsRfc3629) {
  EXPECT_EQ(FirstInvalidUtf8(""), std::string_view::npos);
  EXPECT_EQ(FirstInvalidUtf8("chr1 \xc3\xa9\xe2\x82\xac\xf0\x9f\xa7\xac"), std::string_view::npos);
  EXPECT_EQ(FirstInvalidUtf8("r\xff"), 1u);
  EXPECT_EQ(FirstInvalidUtf8("ab\xc3"), 2u);              // truncated
  EXPECT_EQ(FirstInvalidUtf8("a\xc0\xaf"), 1u);           // overlong '/'
  EXPECT_EQ(FirstInvalidUtf8("a\xe0\x80\xaf"), 1u);       // overlong
  EXPECT_EQ(FirstInvalidUtf8("\xed\xa0\x80"), 0u);        // surrogate U+D800
  EXPECT_EQ(FirstInvalidUtf8("xy\xf4\x90\x80\x80"), 2u);  // above U+10FFFF
  EXPECT_EQ(FirstInvalidUtf8("\xe2\x82"), 0u);
}

// Serializes `r` and replaces the single '~' with `bad` (protobuf refuses to build such a
// message itself: this is what another client or a hand-made request sends).
std::string WireWithByte(const SubmitJobRequest& r, char bad) {
  std::string wire = r.SerializeAsString();
  const size_t at = wire.find('~');
  EXPECT_NE(at, std::string::npos);
  EXPECT_EQ(wire.find('~', at + 1), std::string::npos);
  wire[at] = bad;
  return wire;
}

TEST(ServiceUtf8Fields, NamesTheFieldPathAndByteOffsetOnTheWire) {
  SubmitJobRequest r;
  r.set_model("a_tiny6");
  auto* a = r.mutable_records()->add_records();
  a->set_name("first");
  a->set_sequence("AC\xff~");  // bytes: never checked
  auto* b = r.mutable_records()->add_records();
  b->set_name("se~cond");
  b->set_sequence("ACGT");
  std::string wire = r.SerializeAsString();
  EXPECT_TRUE(CheckUtf8Fields(*SubmitJobRequest::descriptor(), wire).ok());

  a->set_sequence("ACGT");
  absl::Status s = CheckUtf8Fields(*SubmitJobRequest::descriptor(), WireWithByte(r, '\xff'));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(s.message(),
            "records.records[1].name: byte 0xff at offset 2 is not valid UTF-8 (text fields must "
            "be UTF-8)");
  auto bad = BadRequestOf(s);
  ASSERT_EQ(bad.field_violations_size(), 1);
  EXPECT_EQ(bad.field_violations(0).field(), "records.records[1].name");

  b->set_name("second");
  b->set_description("free text ~");
  s = CheckUtf8Fields(*SubmitJobRequest::descriptor(), WireWithByte(r, '\xc3'));
  EXPECT_TRUE(absl::StrContains(s.message(),
                                "records.records[1].description: byte 0xc3 at "
                                "offset 10"))
      << s;
  b->set_description("");
  (*r.mutable_labels())["k"] = "v~";
  s = CheckUtf8Fields(*SubmitJobRequest::descriptor(), WireWithByte(r, '\x80'));
  EXPECT_TRUE(absl::StrContains(s.message(), "labels[0].value: byte 0x80 at offset 1")) << s;
  // Garbage that is not a message at all is left for the parser.
  EXPECT_TRUE(CheckUtf8Fields(*SubmitJobRequest::descriptor(), "\xff\xff\xff").ok());
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
