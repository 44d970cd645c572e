// Bad inputs through the real API: each gets the right gRPC code and a message naming the
// record / line / limit, and nothing is left in Redis for a refused request. Also tenant
// isolation, idempotency, quotas and ListJobs paging. No worker runs here (jobs stay QUEUED).
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "service_harness.h"

namespace evo2::testing {
namespace {

using evo2::v1::SubmitJobRequest;

class ServiceValidationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions o;
    o.api_args = {"--tenant-max-active-jobs", "6", "--max-records", "5", "--max-header-bytes",
                  "100"};
    auto c = ServiceCluster::Start(o);
    if (absl::IsFailedPrecondition(c.status())) GTEST_SKIP() << c.status();
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
  }

  SubmitJobRequest Fasta(const std::string& fasta) {
    SubmitJobRequest r;
    r.set_model(kModel);
    r.set_fasta(fasta);
    return r;
  }

  std::unique_ptr<ServiceCluster> cluster_;
};

// SubmitJob through the generated stub, keeping the status' details trailer (the JobClient turns
// statuses into absl::Status).
grpc::Status SubmitDirect(evo2::client::JobClient& client, const SubmitJobRequest& request) {
  auto ctx = client.NewContext();
  evo2::v1::SubmitJobResponse response;
  return client.stub().SubmitJob(ctx.get(), request, &response);
}

// The google.rpc details of a status by type name ("BadRequest", ...): serialized messages.
std::map<std::string, std::string> Details(const grpc::Status& s) {
  std::map<std::string, std::string> out;
  google::rpc::Status details;
  if (!details.ParseFromString(s.error_details())) return out;
  EXPECT_EQ(details.code(), static_cast<int>(s.error_code()));
  EXPECT_EQ(details.message(), s.error_message());
  for (const auto& any : details.details()) {
    constexpr char kPrefix[] = "type.googleapis.com/google.rpc.";
    EXPECT_TRUE(absl::StartsWith(any.type_url(), kPrefix)) << any.type_url();
    out[any.type_url().substr(sizeof(kPrefix) - 1)] = any.value();
  }
  return out;
}

template <typename Detail>
Detail Get(const std::map<std::string, std::string>& details, const std::string& name) {
  Detail d;
  auto it = details.find(name);
  EXPECT_TRUE(it != details.end()) << "no " << name << " detail";
  if (it != details.end()) {
    EXPECT_TRUE(d.ParseFromString(it->second));
  }
  return d;
}

struct BadCase {
  std::string what;
  SubmitJobRequest request;
  absl::StatusCode code;
  std::vector<std::string> message_parts;
};

TEST_F(ServiceValidationTest, BadSubmissionsGetTheRightCodeAndMessageAndLeaveNoKeys) {
  const std::vector<std::string> keys_before = cluster_->Keys();
  std::vector<BadCase> cases;
  auto add = [&](std::string what, SubmitJobRequest r, absl::StatusCode code,
                 std::vector<std::string> parts) {
    cases.push_back({std::move(what), std::move(r), code, std::move(parts)});
  };
  using C = absl::StatusCode;
  add("sequence before header", Fasta("ACGT\n>r1\nACGT\n"), C::kInvalidArgument,
      {"fasta:1:", "before the first '>'"});
  add("bad letter", Fasta(">r1\nACGT\nACXT\n"), C::kInvalidArgument,
      {"record \"r1\"", "fasta:3:", "column 3", "'X'", "alphabet"});
  add("binary garbage", Fasta(std::string(">r1\nAC\x01\xff\x00GT\n", 11)), C::kInvalidArgument,
      {"record \"r1\"", "fasta:2:", "byte 0x01"});
  add("binary header", Fasta(std::string(">r\x02x\nACGT\n")), C::kInvalidArgument,
      {"fasta:1:", "header has byte 0x02"});
  add("huge header", Fasta(">" + std::string(500, 'h') + "\nACGT\n"), C::kInvalidArgument,
      {"fasta:1:", "500 bytes", "limit 100"});
  add("empty record", Fasta(">r1\n>r2\nACGT\n"), C::kInvalidArgument,
      {"record \"r1\"", "fasta:1:", "has no sequence"});
  add("empty name", Fasta(">\nACGT\n"), C::kInvalidArgument, {"fasta:1:", "no record name"});
  add("duplicate name", Fasta(">r1\nACGT\n>r1\nACGT\n"), C::kInvalidArgument,
      {"record \"r1\"", "fasta:3:", "duplicate"});
  add("no records", Fasta("\n\n"), C::kInvalidArgument, {"no '>' records"});
  add("record too long", Fasta(">long\n" + std::string(9000, 'A') + "\n"),
      C::kResourceExhausted, {"record 'long'", "9000 tokens", "limit of 8192", "a_tiny6"});
  add("too many records", Fasta(">a\nA\n>b\nA\n>c\nA\n>d\nA\n>e\nA\n>f\nA\n"),
      C::kResourceExhausted, {"fasta:11:", "more than 5 records"});
  {
    auto r = Fasta(">r1\nACGT\n");
    r.set_model("evo2_40b");
    add("unknown model", r, C::kInvalidArgument, {"unknown model 'evo2_40b'", "a_tiny6"});
  }
  {
    SubmitJobRequest r;
    r.set_model(kModel);
    add("no input", r, C::kInvalidArgument, {"no input"});
  }
  {
    auto r = Fasta(">r1\nACGT\n");
    r.mutable_outputs()->add_embeddings()->set_layer("blocks.9");
    add("layer out of range", r, C::kInvalidArgument, {"blocks.9", "layers 0..5"});
  }
  {
    auto r = Fasta(">r1\nACGT\n");
    r.mutable_outputs()->add_embeddings()->set_layer("unembed; DROP");
    add("bad layer name", r, C::kInvalidArgument,
        {"embedding layer #1", "valid names look like blocks.B"});
  }
  {
    auto r = Fasta(">r1\nACGT\n");
    for (int i = 0; i < 11; ++i) r.mutable_outputs()->add_embeddings()->set_layer("blocks.1");
    add("too many layers", r, C::kInvalidArgument, {"11 embedding layers", "limit 10"});
  }
  {
    auto r = Fasta(">r1\nACGT\n");
    r.set_idempotency_key(std::string(200, 'k'));
    add("idempotency key too long", r, C::kInvalidArgument, {"idempotency_key", "limit 128"});
  }
  {
    auto r = Fasta(">r1\nACGT\n");
    (*r.mutable_labels())["Bad Key"] = "v";
    add("bad label", r, C::kInvalidArgument, {"label key 'Bad Key'"});
  }
  {
    SubmitJobRequest r;
    r.set_model(kModel);
    auto* rec = r.mutable_records()->add_records();
    rec->set_name("r 1");
    rec->set_sequence("ACGT");
    add("record name with space", r, C::kInvalidArgument, {"record #1", "whitespace"});
  }
  {
    SubmitJobRequest r;
    r.set_model(kModel);
    auto* rec = r.mutable_records()->add_records();
    rec->set_name("r1");
    rec->set_sequence("AC GT");
    add("whitespace in records sequence", r, C::kInvalidArgument,
        {"record 'r1'", "position 3", "' ' (0x20)"});
  }

  auto client = cluster_->Client();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto r = client->Submit(c.request);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), c.code) << r.status();
    for (const auto& part : c.message_parts) {
      EXPECT_TRUE(absl::StrContains(r.status().message(), part))
          << "message '" << r.status().message() << "' lacks '" << part << "'";
    }
  }
  // Missing and wrong credentials (output-size refusals: OutputLimit test below).
  {
    auto anon = cluster_->Client("");
    auto r = anon->Submit(Fasta(">r1\nACGT\n"));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << r.status();
    EXPECT_TRUE(absl::StrContains(r.status().message(), "missing API key"));
    auto wrong = cluster_->Client("not-a-key");
    auto r2 = wrong->Submit(Fasta(">r1\nACGT\n"));
    EXPECT_EQ(r2.status().code(), absl::StatusCode::kUnauthenticated) << r2.status();
    auto r3 = wrong->Get("0123456789abcdef0123456789abcdef");
    EXPECT_EQ(r3.status().code(), absl::StatusCode::kUnauthenticated);
  }
  EXPECT_GE(cases.size() + 3, 15u);
  // Nothing was stored for any refused request.
  EXPECT_EQ(cluster_->Keys(), keys_before);
}

TEST_F(ServiceValidationTest, TenantIsolationIdempotencyQuotaAndPaging) {
  auto alpha = cluster_->Client(kKeyAlpha);
  auto beta = cluster_->Client(kKeyBeta);
  auto req = Fasta(">r1 some description\nACGTN\nacgt\n");
  req.set_idempotency_key("order-42");
  (*req.mutable_labels())["project"] = "brca1";
  auto first = alpha->Submit(req);
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string id = first->job().job_id();
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(first->job().state(), evo2::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(first->job().labels().at("project"), "brca1");
  EXPECT_FALSE(first->idempotent_replay());

  // Same key + same request: the same job. Different request: ALREADY_EXISTS.
  auto again = alpha->Submit(req);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->job().job_id(), id);
  EXPECT_TRUE(again->idempotent_replay());
  auto changed = req;
  changed.set_fasta(">r1\nACGTT\n");
  auto conflict = alpha->Submit(changed);
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAlreadyExists) << conflict.status();
  EXPECT_TRUE(absl::StrContains(conflict.status().message(), "order-42"));
  // The key is per tenant: beta may use it for its own job.
  auto beta_job = beta->Submit(req);
  ASSERT_TRUE(beta_job.ok()) << beta_job.status();
  EXPECT_NE(beta_job->job().job_id(), id);

  // Another tenant's job is NOT_FOUND for every call, exactly like an unknown id.
  EXPECT_EQ(beta->Get(id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(beta->Cancel(id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(beta->Watch(id, "", [](const evo2::v1::JobEvent&) { return true; }).code(),
            absl::StatusCode::kNotFound);
  evo2::v1::GetJobResultsRequest rr;
  rr.set_job_id(id);
  EXPECT_EQ(beta->Results(rr, [](evo2::v1::RecordResult&&) {}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(alpha->Get("ffffffffffffffffffffffffffffffff").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(alpha->Get("../../etc").status().code(), absl::StatusCode::kNotFound);
  // A bad resume id is INVALID_ARGUMENT.
  EXPECT_EQ(alpha->Watch(id, "not-an-id", [](const evo2::v1::JobEvent&) { return true; }).code(),
            absl::StatusCode::kInvalidArgument);

  // Quota: 6 active jobs per tenant; alpha has 1.
  std::vector<std::string> ids = {id};
  for (int i = 0; i < 5; ++i) {
    auto r = alpha->Submit(Fasta(absl::StrCat(">q", i, "\nACGT\n")));
    ASSERT_TRUE(r.ok()) << r.status();
    ids.push_back(r->job().job_id());
  }
  const auto keys_before = cluster_->Keys();
  auto over = alpha->Submit(Fasta(">q9\nACGT\n"));
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted) << over.status();
  EXPECT_TRUE(absl::StrContains(over.status().message(), "limit 6"));
  EXPECT_EQ(cluster_->Keys(), keys_before);

  // Cancel a queued job: CANCELLED at once, frees quota; cancelling again is a no-op.
  auto cancelled = alpha->Cancel(ids[1]);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), evo2::v1::JOB_STATE_CANCELLED);
  EXPECT_GT(cancelled->expire_time_us(), 0);
  EXPECT_TRUE(alpha->Cancel(ids[1]).ok());
  auto fits = alpha->Submit(Fasta(">q10\nACGT\n"));
  ASSERT_TRUE(fits.ok()) << fits.status();

  // ListJobs: newest first, paged, filtered; beta sees only its own job.
  std::vector<std::string> listed;
  std::string token;
  do {
    evo2::v1::ListJobsRequest lr;
    lr.set_page_size(4);
    lr.set_page_token(token);
    auto page = alpha->List(lr);
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_LE(page->jobs_size(), 4);
    for (const auto& j : page->jobs()) listed.push_back(j.job_id());
    token = page->next_page_token();
  } while (!token.empty());
  ASSERT_EQ(listed.size(), 7u);
  EXPECT_EQ(listed.front(), fits->job().job_id());
  EXPECT_EQ(listed.back(), id);
  evo2::v1::ListJobsRequest only_cancelled;
  only_cancelled.set_state(evo2::v1::JOB_STATE_CANCELLED);
  auto lc = alpha->List(only_cancelled);
  ASSERT_TRUE(lc.ok());
  ASSERT_EQ(lc->jobs_size(), 1);
  EXPECT_EQ(lc->jobs(0).job_id(), ids[1]);
  auto lb = beta->List(evo2::v1::ListJobsRequest());
  ASSERT_TRUE(lb.ok());
  ASSERT_EQ(lb->jobs_size(), 1);
  EXPECT_EQ(lb->jobs(0).job_id(), beta_job->job().job_id());
}

TEST_F(ServiceValidationTest, OutputLimitRefusesHugeLogitsUnlessAllowed) {
  // Restart the API with a 1 MiB per-record output limit and a 4 MiB hard maximum.
  cluster_.reset();
  ClusterOptions o;
  o.api_args = {"--max-output-bytes-per-record", "1048576", "--hard-max-output-bytes-per-record",
                "4194304"};
  auto c = ServiceCluster::Start(o);
  ASSERT_TRUE(c.ok()) << c.status();
  cluster_ = std::move(*c);
  auto client = cluster_->Client();
  // 1000 tokens × 512 × 4 B = 2 048 000 B > 1 MiB.
  auto r = Fasta(">mid\n" + std::string(1000, 'A') + "\n");
  r.mutable_outputs()->set_logits(true);
  auto refused = client->Submit(r);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "record 'mid'"));
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "2048000 bytes"));
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "allow_large_outputs"));
  r.mutable_outputs()->set_allow_large_outputs(true);
  EXPECT_TRUE(client->Submit(r).ok());
  // Above the hard maximum even when allowed: 3000 × 512 × 4 = 6 144 000 B > 4 MiB.
  auto big = Fasta(">big\n" + std::string(3000, 'A') + "\n");
  big.mutable_outputs()->set_logits(true);
  big.mutable_outputs()->set_allow_large_outputs(true);
  auto hard = client->Submit(big);
  EXPECT_EQ(hard.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(hard.status().message(), "hard maximum"));
  // bfloat16 halves the size: 3000 × 512 × 2 = 3 072 000 B fits under the hard maximum.
  big.mutable_outputs()->set_tensor_dtype(evo2::v1::DTYPE_BFLOAT16);
  EXPECT_TRUE(client->Submit(big).ok());
}

// proto3 enums are open: an unknown number parses, so the API checks every enum field against
// the schema instead of storing, queueing or ignoring it.
TEST_F(ServiceValidationTest, EnumValuesOutsideTheSchemaAreInvalidArgumentNamingTheField) {
  const std::vector<std::string> keys_before = cluster_->Keys();
  auto client = cluster_->Client();
  struct Case {
    SubmitJobRequest request;
    std::string field, text;
  };
  std::vector<Case> cases;
  auto add = [&](std::string field, std::string text, auto mutate) {
    Case c{Fasta(">r1\nACGT\n"), std::move(field), std::move(text)};
    mutate(c.request);
    cases.push_back(std::move(c));
  };
  add("outputs.log_probs[0]",
      "outputs.log_probs[0]: 99 is not a LogProbReduction (valid: ", [](SubmitJobRequest& r) {
        r.mutable_outputs()->add_log_probs(static_cast<evo2::v1::LogProbReduction>(99));
      });
  add("outputs.tensor_dtype", "outputs.tensor_dtype: 7 is not a DType", [](SubmitJobRequest& r) {
    r.mutable_outputs()->set_tensor_dtype(static_cast<evo2::v1::DType>(7));
  });
  add("priority", "priority: 42 is not a Priority",
      [](SubmitJobRequest& r) { r.set_priority(static_cast<evo2::v1::Priority>(42)); });
  add("priority", "priority: -1 is not a Priority",
      [](SubmitJobRequest& r) { r.set_priority(static_cast<evo2::v1::Priority>(-1)); });
  add("outputs.embeddings[0].pooling", "outputs.embeddings[0].pooling: 9 is not a Pooling",
      [](SubmitJobRequest& r) {
        auto* e = r.mutable_outputs()->add_embeddings();
        e->set_layer("blocks.1");
        e->set_pooling(static_cast<evo2::v1::Pooling>(9));
      });
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    grpc::Status s = SubmitDirect(*client, c.request);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), c.text)) << s.error_message();
    auto bad = Get<google::rpc::BadRequest>(Details(s), "BadRequest");
    ASSERT_EQ(bad.field_violations_size(), 1);
    EXPECT_EQ(bad.field_violations(0).field(), c.field);
  }
  EXPECT_EQ(cluster_->Keys(), keys_before);
}

// A record name that is not UTF-8 makes protobuf's parser refuse the whole request; sent as raw
// bytes (a generic stub: protobuf will not build such a message), it must come back as
// INVALID_ARGUMENT naming the record's field and the byte offset, not INTERNAL with no text.
TEST_F(ServiceValidationTest, NonUtf8RecordNameOrDescriptionIsInvalidArgumentWithOffset) {
  const std::vector<std::string> keys_before = cluster_->Keys();
  auto channel = grpc::CreateChannel(cluster_->api_target(), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  // Serializes `r`, replaces its single '~' by `bad` and sends the bytes as a SubmitJob.
  auto send = [&](const SubmitJobRequest& r, char bad) {
    std::string wire = r.SerializeAsString();
    const size_t at = wire.find('~');
    EXPECT_NE(at, std::string::npos);
    wire[at] = bad;
    grpc::Slice slice(wire);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-api-key", kKeyAlpha);
    std::promise<grpc::Status> done;
    stub.UnaryCall(&ctx, "/evo2.v1.JobService/SubmitJob", grpc::StubOptions(), &request, &response,
                   [&](grpc::Status s) { done.set_value(s); });
    return done.get_future().get();
  };
  SubmitJobRequest r;
  r.set_model(kModel);
  auto* first = r.mutable_records()->add_records();
  first->set_name("first");
  first->set_sequence("ACGT");
  auto* second = r.mutable_records()->add_records();
  second->set_name("se~cond");
  second->set_sequence("ACGT");
  grpc::Status s = send(r, '\xff');
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(s.error_message(),
            "records.records[1].name: byte 0xff at offset 2 is not valid UTF-8 (text fields must "
            "be UTF-8)");
  auto bad = Get<google::rpc::BadRequest>(Details(s), "BadRequest");
  ASSERT_EQ(bad.field_violations_size(), 1);
  EXPECT_EQ(bad.field_violations(0).field(), "records.records[1].name");

  second->set_name("second");
  second->set_description("caf~ au lait");
  s = send(r, '\xe9');  // Latin-1 'é'
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_TRUE(
      absl::StrContains(s.error_message(), "records.records[1].description: byte 0xe9 at offset 3"))
      << s.error_message();
  EXPECT_EQ(cluster_->Keys(), keys_before);
  // The same text as valid UTF-8 is accepted through the raw path.
  second->set_description("caf\xc3\xa9 au lait ~");
  EXPECT_TRUE(send(r, 'x').ok());
}

// google.rpc details tell the kinds of refusal apart without reading the text: BadRequest for
// invalid fields, ErrorInfo + PreconditionFailure for a size limit (never retry as sent),
// ErrorInfo + QuotaFailure + RetryInfo for a tenant quota (retry later).
TEST_F(ServiceValidationTest, RefusalsCarryStructuredErrorDetails) {
  auto client = cluster_->Client();
  {
    auto r = Fasta(">r1\nACGT\n");
    r.mutable_outputs()->add_embeddings()->set_layer("blocks.9");
    grpc::Status s = SubmitDirect(*client, r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    auto details = Details(s);
    EXPECT_EQ(details.size(), 1u);
    auto bad = Get<google::rpc::BadRequest>(details, "BadRequest");
    ASSERT_EQ(bad.field_violations_size(), 1);
    EXPECT_EQ(bad.field_violations(0).field(), "outputs.embeddings[0].layer");
    EXPECT_EQ(bad.field_violations(0).description(), s.error_message());
  }
  {
    grpc::Status s = SubmitDirect(*client, Fasta(">r1\nACXT\n"));
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    auto bad = Get<google::rpc::BadRequest>(Details(s), "BadRequest");
    ASSERT_EQ(bad.field_violations_size(), 1);
    EXPECT_EQ(bad.field_violations(0).field(), "fasta");
  }
  {
    auto r = Fasta(">r1\nACGT\n");
    r.set_model("evo2_40b");
    auto bad = Get<google::rpc::BadRequest>(Details(SubmitDirect(*client, r)), "BadRequest");
    ASSERT_EQ(bad.field_violations_size(), 1);
    EXPECT_EQ(bad.field_violations(0).field(), "model");
  }
  {
    grpc::Status s = SubmitDirect(*client, Fasta(">long\n" + std::string(9000, 'A') + "\n"));
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    auto details = Details(s);
    EXPECT_EQ(details.count("RetryInfo"), 0u);
    EXPECT_EQ(details.count("QuotaFailure"), 0u);
    auto info = Get<google::rpc::ErrorInfo>(details, "ErrorInfo");
    EXPECT_EQ(info.reason(), "RECORD_TOO_LONG");
    EXPECT_EQ(info.metadata().at("limit"), "8192");
    EXPECT_EQ(info.metadata().at("value"), "9000");
    auto pre = Get<google::rpc::PreconditionFailure>(details, "PreconditionFailure");
    ASSERT_EQ(pre.violations_size(), 1);
    EXPECT_EQ(pre.violations(0).type(), "SIZE_LIMIT");
    EXPECT_EQ(pre.violations(0).subject(), "fasta");
  }
  // The fixture's quota is 6 active jobs; no worker runs, so they stay active.
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(client->Submit(Fasta(absl::StrCat(">q", i, "\nACGT\n"))).ok());
  }
  grpc::Status s = SubmitDirect(*client, Fasta(">q9\nACGT\n"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  auto details = Details(s);
  auto info = Get<google::rpc::ErrorInfo>(details, "ErrorInfo");
  EXPECT_EQ(info.reason(), "TENANT_ACTIVE_JOBS");
  EXPECT_EQ(info.domain(), "evo2-serve");
  EXPECT_EQ(info.metadata().at("limit"), "6");
  auto quota = Get<google::rpc::QuotaFailure>(details, "QuotaFailure");
  ASSERT_EQ(quota.violations_size(), 1);
  EXPECT_EQ(quota.violations(0).subject(), "tenant:alpha");
  auto retry = Get<google::rpc::RetryInfo>(details, "RetryInfo");
  EXPECT_EQ(retry.retry_delay().seconds(), 30);
  EXPECT_EQ(details.count("PreconditionFailure"), 0u);
}

// TLS: a self-signed certificate made with the openssl tool; the TLS client works, a plaintext
// client cannot talk to the TLS port.
TEST_F(ServiceValidationTest, TlsListenerServesTlsClientsOnly) {
  const std::string dir = cluster_->redis().dir().string();
  const std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  const std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
      "-addext subjectAltName=DNS:localhost -keyout " + key + " -out " + cert + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "openssl tool not available";
  // Copy the files out: the cluster below owns a new Redis directory.
  const std::string tmp = ::testing::TempDir();
  std::filesystem::copy_file(cert, tmp + "/evo2-cert.pem",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(key, tmp + "/evo2-key.pem",
                             std::filesystem::copy_options::overwrite_existing);
  cluster_.reset();
  ClusterOptions o;
  o.tls_cert = tmp + "/evo2-cert.pem";
  o.tls_key = tmp + "/evo2-key.pem";
  auto c = ServiceCluster::Start(o);  // waits for a successful TLS ListJobs
  ASSERT_TRUE(c.ok()) << c.status();
  cluster_ = std::move(*c);
  auto tls = cluster_->Client();
  auto submitted = tls->Submit(Fasta(">r1\nACGT\n"));
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  evo2::client::ClientOptions plain;
  plain.target = cluster_->api_target();
  plain.api_key = kKeyAlpha;
  auto p = evo2::client::JobClient::Connect(plain);
  ASSERT_TRUE(p.ok());
  auto refused = (*p)->Get(submitted->job().job_id());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
}

// A second API on a port the first one holds must refuse to start: with gRPC's default
// SO_REUSEPORT both would listen and the kernel would split connections between them.
TEST_F(ServiceValidationTest, SecondApiOnATakenPortRefusesToStart) {
  auto second = ChildProcess::Spawn(
      {EVO2_API_BIN, "--listen", cluster_->api_target(), "--metrics-listen", "", "--redis",
       absl::StrCat("redis://127.0.0.1:", cluster_->redis().port()), "--model",
       absl::StrCat(kModel, "=8192,layers=6,hidden=128"), "--allow-non-durable-redis"},
      {{"EVO2_API_KEYS", absl::StrCat("alpha=", kKeyAlpha)}},
      cluster_->redis().dir() / "second-api.log");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*second)->Wait(std::chrono::seconds(30)), 2) << (*second)->Log();
  EXPECT_TRUE(absl::StrContains((*second)->Log(), "cannot listen on " + cluster_->api_target()))
      << (*second)->Log();
  // The first API still answers.
  evo2::v1::ListJobsRequest req;
  EXPECT_TRUE(cluster_->Client()->List(req).ok());
}

// grpc.health.v1.Health/Check through a generic stub (no health stubs ship with Debian's gRPC):
// an empty HealthCheckRequest (service "") must answer status SERVING (field 1 = 1 → 08 01).
TEST_F(ServiceValidationTest, StandardHealthServiceReportsServing) {
  auto channel = grpc::CreateChannel(cluster_->api_target(), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  grpc::ByteBuffer request(nullptr, 0);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) { done.set_value(s); });
  grpc::Status s = done.get_future().get();
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
}

}  // namespace
}  // namespace evo2::testing
