// The HTTP/JSON API of a real evo2-api (redis-server + evo2-api + one CPU worker on golden case
// a_tiny6) through a real HTTP client (cpp-httplib's): every route, JSON bodies equal to what the
// gRPC API returns, errors as google.rpc.Status with the standard statuses, Server-Sent Events
// resumed after a dropped connection, keep-alive comments, CORS preflight, 413, and the OpenAPI
// document checked against the routes the server registers.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "http_gateway.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "service_harness.h"
#include "support/expect_contains.h"

namespace evo2::testing {
namespace {

using nlohmann::json;

constexpr char kOrigin[] = "https://portal.example.org";
constexpr char kIdleModel[] = "idle";  // served by the API, no worker: its jobs stay QUEUED
constexpr int64_t kMaxBodyBytes = 1 << 20;

httplib::Headers Auth(const std::string& key = kKeyAlpha) {
  return {{"Authorization", "Bearer " + key}};
}

// One Server-Sent Events message.
struct SseMessage {
  std::string id, event = "message", data;
};

// Parses complete messages out of `buffer` (consumed); counts comment lines in `comments`.
std::vector<SseMessage> ParseSse(std::string& buffer, int* comments) {
  std::vector<SseMessage> out;
  size_t cut;
  while ((cut = buffer.find("\n\n")) != std::string::npos) {
    SseMessage m;
    bool any = false;
    for (absl::string_view line : absl::StrSplit(buffer.substr(0, cut), '\n')) {
      if (absl::StartsWith(line, ":")) {
        ++*comments;
        continue;
      }
      const size_t colon = line.find(':');
      const std::string field(line.substr(0, colon));
      std::string value(colon == absl::string_view::npos ? "" : line.substr(colon + 1));
      if (absl::StartsWith(value, " ")) value.erase(0, 1);
      any = true;
      if (field == "id") m.id = value;
      if (field == "event") m.event = value;
      if (field == "data") m.data += value;
    }
    buffer.erase(0, cut + 2);
    if (any) out.push_back(m);
  }
  return out;
}

class HttpApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ClusterOptions o;
    o.http = true;
    o.api_args = {"--http-keepalive-ms",
                  "150",
                  "--http-max-body-bytes",
                  absl::StrCat(kMaxBodyBytes),
                  "--http-cors-origin",
                  kOrigin,
                  "--model",
                  absl::StrCat(kIdleModel, "=8192,layers=6,hidden=128")};
    auto c = ServiceCluster::Start(o);
    if (!c.ok()) {
      start_error_ = new absl::Status(c.status());
      return;
    }
    cluster_ = c->release();
    auto w = cluster_->StartWorker();
    if (!w.ok()) start_error_ = new absl::Status(w.status());
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }
  void SetUp() override {
    if (start_error_ != nullptr && absl::IsFailedPrecondition(*start_error_)) {
      GTEST_SKIP() << *start_error_;
    }
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
  }

  static httplib::Client Http() {
    httplib::Client c("127.0.0.1", cluster_->http_port());
    c.set_read_timeout(30, 0);
    return c;
  }

  // A SubmitJobRequest in JSON for golden records, per-token log-probs + sum + mean.
  static std::string SubmitBody(const std::string& model, const std::string& fasta) {
    return json{
        {"model", model},
        {"fasta", absl::Base64Escape(fasta)},
        {"outputs",
         {{"logProbs",
           {"LOG_PROB_REDUCTION_SUM", "LOG_PROB_REDUCTION_MEAN", "LOG_PROB_REDUCTION_PER_TOKEN"}}}}}
        .dump();
  }

  // Submits over HTTP and waits (gRPC GetJob) until the job is terminal; returns its id.
  static std::string SubmitAndWait(const std::string& fasta) {
    auto r = Http().Post("/v1/jobs", Auth(), SubmitBody(kModel, fasta), "application/json");
    EXPECT_TRUE(r) << httplib::to_string(r.error());
    if (!r) return "";
    EXPECT_EQ(r->status, 200) << r->body;
    const std::string id = json::parse(r->body)["job"]["jobId"];
    auto client = cluster_->Client();
    auto job = WaitForTerminal(*client, id, std::chrono::seconds(60));
    EXPECT_TRUE(job.ok() && job->state() == evo2::v1::JOB_STATE_SUCCEEDED);
    return id;
  }

  // Every event message of a job's stream (from the start), read until `event: end`.
  static std::vector<SseMessage> AllEvents(const std::string& id, httplib::Headers headers) {
    std::string buffer;
    int comments = 0;
    std::vector<SseMessage> out;
    auto r = Http().Get(absl::StrCat("/v1/jobs/", id, "/events"), headers,
                        [&](const char* data, size_t n) {
                          buffer.append(data, n);
                          for (auto& m : ParseSse(buffer, &comments)) out.push_back(m);
                          return true;
                        });
    EXPECT_TRUE(r) << httplib::to_string(r.error());
    if (r) {
      EXPECT_EQ(r->status, 200);
      EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
    }
    return out;
  }

  static void ExpectError(const httplib::Result& r, int http_status, int code,
                          const std::string& message_part) {
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, http_status) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    const json body = json::parse(r->body);
    EXPECT_EQ(body["code"], code) << r->body;
    EVO2_EXPECT_CONTAINS(body["message"].get<std::string>(), message_part);
  }

  static ServiceCluster* cluster_;
  static absl::Status* start_error_;
};

ServiceCluster* HttpApiTest::cluster_ = nullptr;
absl::Status* HttpApiTest::start_error_ = nullptr;

TEST_F(HttpApiTest, SubmitGetResultsAndNpyEqualTheGrpcApi) {
  const std::string id = SubmitAndWait(GoldenFasta({"len00017", "len00500"}));
  ASSERT_FALSE(id.empty());
  auto client = cluster_->Client();

  auto get = Http().Get(absl::StrCat("/v1/jobs/", id), Auth());
  ASSERT_TRUE(get);
  ASSERT_EQ(get->status, 200) << get->body;
  const json job = json::parse(get->body);
  EXPECT_EQ(job["state"], "JOB_STATE_SUCCEEDED");
  EXPECT_EQ(job["progress"]["recordsDone"], "2");  // int64 as a string (proto3 JSON)

  std::vector<evo2::v1::RecordResult> grpc_records;
  evo2::v1::GetJobResultsRequest req;
  req.set_job_id(id);
  ASSERT_TRUE(
      client->Results(req, [&](evo2::v1::RecordResult&& r) { grpc_records.push_back(r); }).ok());
  ASSERT_EQ(grpc_records.size(), 2u);

  auto res = Http().Get(absl::StrCat("/v1/jobs/", id, "/results"), Auth());
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body.substr(0, 500);
  const json results = json::parse(res->body);
  ASSERT_EQ(results["records"].size(), 2u);
  EXPECT_EQ(results["end"]["complete"], true);
  for (size_t i = 0; i < 2; ++i) {
    const json& r = results["records"][i];
    const auto& g = grpc_records[i];
    EXPECT_EQ(r["recordName"], g.record_name());
    EXPECT_EQ(r["numTokens"], absl::StrCat(g.num_tokens()));
    // Exactly equal: protobuf prints doubles with round-trip precision.
    EXPECT_EQ(r["logProbSum"].get<double>(), g.log_prob_sum());
    EXPECT_EQ(r["logProbMean"].get<double>(), g.log_prob_mean());
    ASSERT_EQ(r["tensors"].size(), 1u);
    EXPECT_EQ(r["tensors"][0]["name"], "log_probs");
    std::string bytes;
    ASSERT_TRUE(absl::Base64Unescape(r["tensors"][0]["data"].get<std::string>(), &bytes));
    EXPECT_EQ(bytes, g.tensors(0).data());

    // The .npy download: a numpy header, then the same float32 values.
    auto npy = Http().Get(absl::StrCat("/v1/jobs/", id, "/results/", i, "/log_probs.npy"), Auth());
    ASSERT_TRUE(npy);
    ASSERT_EQ(npy->status, 200) << npy->body;
    EXPECT_EQ(npy->get_header_value("Content-Type"), "application/octet-stream");
    EVO2_EXPECT_CONTAINS(npy->get_header_value("Content-Disposition"), ".npy");
    ASSERT_GT(npy->body.size(), g.tensors(0).data().size());
    EXPECT_EQ(npy->body.substr(0, 6), "\x93NUMPY");
    EVO2_EXPECT_CONTAINS(npy->body.substr(0, 128),
                         absl::StrCat("'shape': (", g.tensors(0).shape(0), ",)"));
    EXPECT_EQ(npy->body.substr(npy->body.size() - g.tensors(0).data().size()), g.tensors(0).data());
  }
  ExpectError(Http().Get(absl::StrCat("/v1/jobs/", id, "/results/0/logits.npy"), Auth()), 404, 5,
              "has no tensor 'logits' (it has: log_probs)");
  ExpectError(Http().Get(absl::StrCat("/v1/jobs/", id, "/results/7/log_probs.npy"), Auth()), 404, 5,
              "no result for record 7");
  ExpectError(Http().Get(absl::StrCat("/v1/jobs/", id, "/results?start_record=x"), Auth()), 400, 3,
              "start_record='x' is not an integer");
}

TEST_F(HttpApiTest, ListPagesAndFiltersLikeTheGrpcApi) {
  SubmitAndWait(GoldenFasta({"len00017"}));
  SubmitAndWait(GoldenFasta({"len00017"}));
  auto first = Http().Get("/v1/jobs?page_size=1", Auth());
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  const json page1 = json::parse(first->body);
  ASSERT_EQ(page1["jobs"].size(), 1u);
  const std::string token = page1["nextPageToken"];
  ASSERT_FALSE(token.empty());
  auto second = Http().Get(absl::StrCat("/v1/jobs?page_size=1&page_token=", token), Auth());
  ASSERT_TRUE(second);
  const json page2 = json::parse(second->body);
  ASSERT_EQ(page2["jobs"].size(), 1u);
  EXPECT_NE(page2["jobs"][0]["jobId"], page1["jobs"][0]["jobId"]);

  evo2::v1::ListJobsRequest req;
  req.set_state(evo2::v1::JOB_STATE_SUCCEEDED);
  auto grpc_list = cluster_->Client()->List(req);
  ASSERT_TRUE(grpc_list.ok());
  auto filtered = Http().Get("/v1/jobs?state=succeeded", Auth());
  ASSERT_TRUE(filtered);
  const json jobs = json::parse(filtered->body)["jobs"];
  ASSERT_EQ(jobs.size(), static_cast<size_t>(grpc_list->jobs_size()));
  for (size_t i = 0; i < jobs.size(); ++i) {
    EXPECT_EQ(jobs[i]["jobId"], grpc_list->jobs(static_cast<int>(i)).job_id());
  }
  // The other tenant sees none of them.
  auto beta = Http().Get("/v1/jobs", Auth(kKeyBeta));
  ASSERT_TRUE(beta);
  EXPECT_EQ(json::parse(beta->body)["jobs"].size(), 0u);

  ExpectError(Http().Get("/v1/jobs?state=sleeping", Auth()), 400, 3, "state='sleeping'");
  ExpectError(Http().Get("/v1/jobs?page_size=5000", Auth()), 400, 3, "outside 0..1000");
  ExpectError(Http().Get("/v1/jobs?pagesize=5", Auth()), 400, 3,
              "unknown query parameter 'pagesize'");
}

TEST_F(HttpApiTest, ErrorsCarryTheServiceMessageAndStandardStatus) {
  // Same message and details as the gRPC API gives for the same request.
  const std::string bad_fasta = ">ok\nACGT\n>bad\nACGTXACGT\n";
  evo2::v1::SubmitJobRequest grpc_req;
  grpc_req.set_model(kModel);
  grpc_req.set_fasta(bad_fasta);
  auto grpc_status = cluster_->Client()->Submit(grpc_req).status();
  ASSERT_TRUE(absl::IsInvalidArgument(grpc_status));
  auto r = Http().Post("/v1/jobs", Auth(), SubmitBody(kModel, bad_fasta), "application/json");
  ExpectError(r, 400, 3, std::string(grpc_status.message()));
  const json body = json::parse(r->body);
  ASSERT_EQ(body["details"].size(), 1u);
  EXPECT_EQ(body["details"][0]["@type"], "type.googleapis.com/google.rpc.BadRequest");
  EXPECT_EQ(body["details"][0]["fieldViolations"][0]["field"], "fasta");

  ExpectError(Http().Post("/v1/jobs", Auth(), "{not json", "application/json"), 400, 3,
              "not an evo2.v1.SubmitJobRequest in JSON");
  ExpectError(
      Http().Post("/v1/jobs", Auth(), R"({"model":"a_tiny6","fastaa":"QQ=="})", "application/json"),
      400, 3, "fastaa");
  ExpectError(Http().Post("/v1/jobs", Auth(), SubmitBody("no_such_model", ">a\nACGT\n"),
                          "application/json"),
              400, 3, "no_such_model");

  // Authentication: the service's own messages; 401 with a Bearer challenge.
  auto none = Http().Get("/v1/jobs");
  ExpectError(none, 401, 16, "missing API key");
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
  ExpectError(Http().Get("/v1/jobs", Auth("wrong-key-0123456789")), 401, 16, "");
  ExpectError(Http().Get("/v1/jobs", {{"Authorization", "Basic abc"}}), 401, 16,
              "must be 'Bearer <key>'");
  auto x_api_key = Http().Get("/v1/jobs", {{"X-API-Key", kKeyAlpha}});
  ASSERT_TRUE(x_api_key);
  EXPECT_EQ(x_api_key->status, 200);
  ExpectError(Http().Post("/v1/jobs", Auth("wrong-key-0123456789"),
                          SubmitBody(kModel, ">a\nACGT\n"), "application/json"),
              401, 16, "");

  // Other tenants' jobs and malformed ids are NOT_FOUND; unknown routes too, as JSON.
  const std::string id = SubmitAndWait(GoldenFasta({"len00017"}));
  ExpectError(Http().Get(absl::StrCat("/v1/jobs/", id), Auth(kKeyBeta)), 404, 5, "not found");
  ExpectError(Http().Get("/v1/jobs/xyz", Auth()), 404, 5, "32 hex digits");
  ExpectError(Http().Get(absl::StrCat("/v1/jobs/", id, "/events"), Auth(kKeyBeta)), 404, 5,
              "not found");
  ExpectError(Http().Get("/v1/nothing", Auth()), 404, 5, "no route GET /v1/nothing");

  // Bodies over --http-max-body-bytes: 413 before the service sees them.
  const std::string huge(static_cast<size_t>(kMaxBodyBytes) + 1, 'A');
  ExpectError(Http().Post("/v1/jobs", Auth(), huge, "application/json"), 413, 8,
              absl::StrCat("exceeds ", kMaxBodyBytes, " bytes"));
}

TEST_F(HttpApiTest, EventsResumeAfterADroppedConnection) {
  const std::string id = SubmitAndWait(GoldenFasta({"len00017", "len00500"}));
  const std::vector<SseMessage> all = AllEvents(id, Auth());
  // QUEUED, RUNNING, 2 × RECORD_FINISHED, SUCCEEDED, then the end message.
  ASSERT_GE(all.size(), 6u);
  ASSERT_EQ(all.back().event, "end");
  EXPECT_EQ(json::parse(all.back().data)["code"], 0);
  const json last = json::parse(all[all.size() - 2].data);
  EXPECT_EQ(last["state"], "JOB_STATE_SUCCEEDED");
  for (size_t i = 0; i + 1 < all.size(); ++i) {
    EXPECT_EQ(json::parse(all[i].data)["eventId"], all[i].id);  // id: is the event id
  }

  // Drop the connection after two events, then resume with Last-Event-ID: nothing is missed
  // or repeated.
  std::vector<SseMessage> got;
  std::string buffer;
  int comments = 0;
  auto dropped =
      Http().Get(absl::StrCat("/v1/jobs/", id, "/events"), Auth(), [&](const char* data, size_t n) {
        buffer.append(data, n);
        for (auto& m : ParseSse(buffer, &comments)) {
          if (got.size() < 2) got.push_back(m);
        }
        return got.size() < 2;  // false: close the connection
      });
  EXPECT_FALSE(dropped);  // the client gave up on purpose
  ASSERT_EQ(got.size(), 2u);
  auto headers = Auth();
  headers.emplace("Last-Event-ID", got.back().id);
  for (auto& m : AllEvents(id, headers)) got.push_back(m);
  ASSERT_EQ(got.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(got[i].id, all[i].id) << i;
    EXPECT_EQ(got[i].data, all[i].data) << i;
  }
  // The query parameter does the same for clients that cannot set headers.
  auto via_query = Http().Get(
      absl::StrCat("/v1/jobs/", id, "/events?after_event_id=", all[all.size() - 3].id), Auth());
  ASSERT_TRUE(via_query);
  EVO2_EXPECT_CONTAINS(via_query->body, all[all.size() - 2].id);
  EXPECT_EQ(via_query->body.find(all[0].id + "\n"), std::string::npos);
}

TEST_F(HttpApiTest, IdleStreamsGetKeepAlivesAndCancelEndsThem) {
  // A job of the model no worker serves stays QUEUED: its stream is idle.
  auto submitted =
      Http().Post("/v1/jobs", Auth(), SubmitBody(kIdleModel, ">a\nACGT\n"), "application/json");
  ASSERT_TRUE(submitted);
  ASSERT_EQ(submitted->status, 200) << submitted->body;
  const std::string id = json::parse(submitted->body)["job"]["jobId"];

  std::string buffer;
  int comments = 0;
  std::vector<SseMessage> events;
  const auto t0 = std::chrono::steady_clock::now();
  auto idle =
      Http().Get(absl::StrCat("/v1/jobs/", id, "/events"), Auth(), [&](const char* data, size_t n) {
        buffer.append(data, n);
        for (auto& m : ParseSse(buffer, &comments)) events.push_back(m);
        return comments < 3;  // keep-alive every 150 ms: about 0.45 s
      });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(comments, 3);
  EXPECT_LT(secs, 5.0);  // comments come at the configured interval, not the default 15 s
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(json::parse(events[0].data)["state"], "JOB_STATE_QUEUED");

  // Cancel (a POST with no body) over HTTP; a new stream then ends with CANCELLED.
  auto cancel = Http().Post(absl::StrCat("/v1/jobs/", id, ":cancel"), Auth(), "", "text/plain");
  ASSERT_TRUE(cancel);
  ASSERT_EQ(cancel->status, 200) << cancel->body;
  EXPECT_EQ(json::parse(cancel->body)["state"], "JOB_STATE_CANCELLED");
  auto after = AllEvents(id, Auth());
  ASSERT_GE(after.size(), 3u);
  EXPECT_EQ(json::parse(after[after.size() - 2].data)["state"], "JOB_STATE_CANCELLED");
  EXPECT_EQ(after.back().event, "end");
  ExpectError(Http().Post("/v1/jobs/0123:cancel", Auth(), "", "text/plain"), 404, 5, "not found");
}

TEST_F(HttpApiTest, CorsPreflightAndHeadersForConfiguredOrigins) {
  httplib::Headers preflight = {{"Origin", kOrigin},
                                {"Access-Control-Request-Method", "POST"},
                                {"Access-Control-Request-Headers", "authorization,content-type"}};
  auto ok = Http().Options("/v1/jobs", preflight);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 204);
  EXPECT_EQ(ok->get_header_value("Access-Control-Allow-Origin"), kOrigin);
  EVO2_EXPECT_CONTAINS(ok->get_header_value("Access-Control-Allow-Methods"), "POST");
  EVO2_EXPECT_CONTAINS(ok->get_header_value("Access-Control-Allow-Headers"), "Authorization");
  EVO2_EXPECT_CONTAINS(ok->get_header_value("Access-Control-Allow-Headers"), "Last-Event-ID");

  httplib::Headers other = {{"Origin", "https://evil.example.com"},
                            {"Access-Control-Request-Method", "POST"}};
  auto refused = Http().Options("/v1/jobs", other);
  ExpectError(refused, 403, 7, "origin 'https://evil.example.com' may not call this API");
  EXPECT_FALSE(refused->has_header("Access-Control-Allow-Origin"));

  // Actual requests: the allowed origin is echoed (errors too, so the page can read them).
  auto headers = Auth();
  headers.emplace("Origin", kOrigin);
  auto list = Http().Get("/v1/jobs", headers);
  ASSERT_TRUE(list);
  EXPECT_EQ(list->get_header_value("Access-Control-Allow-Origin"), kOrigin);
  auto denied = Http().Get("/v1/jobs", {{"Origin", kOrigin}});
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  EXPECT_EQ(denied->get_header_value("Access-Control-Allow-Origin"), kOrigin);
  auto foreign = Http().Get("/v1/jobs", {{"Origin", "https://evil.example.com"},
                                         {"Authorization", std::string("Bearer ") + kKeyAlpha}});
  ASSERT_TRUE(foreign);
  EXPECT_FALSE(foreign->has_header("Access-Control-Allow-Origin"));
}

TEST_F(HttpApiTest, OpenApiDocumentDescribesExactlyTheServedRoutes) {
  auto doc_resp = Http().Get("/v1/openapi.json");  // no key needed for the document
  ASSERT_TRUE(doc_resp);
  ASSERT_EQ(doc_resp->status, 200);
  const json doc = json::parse(doc_resp->body);
  EXPECT_EQ(doc["openapi"].get<std::string>().substr(0, 2), "3.");
  std::set<std::pair<std::string, std::string>> documented, served;
  for (const auto& [path, ops] : doc["paths"].items()) {
    for (const auto& [method, op] : ops.items()) documented.insert({method, path});
  }
  for (const auto& r : evo2::svc::HttpGateway::ApiRoutes()) served.insert({r.method, r.path});
  EXPECT_EQ(documented, served);

  // And each documented operation really answers at its path (not the no-route 404).
  const std::string id = SubmitAndWait(GoldenFasta({"len00017"}));
  auto queued =
      Http().Post("/v1/jobs", Auth(), SubmitBody(kIdleModel, ">a\nACGT\n"), "application/json");
  ASSERT_TRUE(queued);
  const std::string queued_id = json::parse(queued->body)["job"]["jobId"];
  for (const auto& [method, path] : documented) {
    // A finished job cannot be cancelled (FAILED_PRECONDITION): cancel the queued one.
    const bool cancel = absl::EndsWith(path, ":cancel");
    std::string url = path;
    url = absl::StrReplaceAll(url, {{"{job_id}", cancel ? queued_id : id},
                                    {"{record_index}", "0"},
                                    {"{tensor}", "log_probs"}});
    auto r = method == "get"
                 ? Http().Get(url, Auth())
                 : Http().Post(url, Auth(), SubmitBody(kModel, ">a\nACGT\n"), "application/json");
    ASSERT_TRUE(r) << method << " " << url;
    EXPECT_EQ(r->status, 200) << method << " " << url << ": " << r->body.substr(0, 300);
    // Declared responses include the status received.
    EXPECT_TRUE(doc["paths"][path][method]["responses"].contains("200")) << path;
  }
}

// GET /v1/models: every served model with its record limit and the references its workers
// registered (names only, sorted), the variant defaults; a key is needed like for every call.
TEST_F(HttpApiTest, ModelsListTheServedModelsTheirReferencesAndTheVariantDefaults) {
  auto redis = cluster_->Redis();
  for (const char* name : {"zeta", "alpha"}) {
    ASSERT_TRUE(redis
                    ->Command({"HSET", absl::StrCat("evo2:q:", kIdleModel, ":references"), name,
                               "worker w-1: /refs/secret/path.fa"})
                    .ok());
  }
  auto r = Http().Get("/v1/models", Auth());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json body = json::parse(r->body);
  ASSERT_EQ(body["models"].size(), 2u) << r->body;
  // Sorted by name: "a_tiny6" (the worker's) before "idle".
  EXPECT_EQ(body["models"][0]["name"], kModel);
  EXPECT_EQ(body["models"][0]["references"], json::array());
  EXPECT_EQ(body["models"][1]["name"], kIdleModel);
  EXPECT_EQ(body["models"][1]["maxRecordTokens"], "8192");
  EXPECT_EQ(body["models"][1]["references"], json::array({"alpha", "zeta"}));
  EXPECT_FALSE(absl::StrContains(r->body, "/refs/secret")) << r->body;
  EXPECT_EQ(body["variantDefaults"]["windowBases"], "8192");
  EXPECT_EQ(body["variantDefaults"]["minWindowBases"], "2");
  EXPECT_EQ(body["variantDefaults"]["batchWindows"], 8);
  EXPECT_EQ(body["variantDefaults"]["maxBatchWindows"], 64);
  // Equal to the gRPC answer.
  auto grpc = cluster_->Client()->ListModels();
  ASSERT_TRUE(grpc.ok()) << grpc.status();
  EXPECT_EQ(grpc->models(1).references_size(), 2);
  EXPECT_EQ(grpc->variant_defaults().window_bases(), 8192);

  auto no_key = Http().Get("/v1/models");
  ASSERT_TRUE(no_key);
  EXPECT_EQ(no_key->status, 401) << no_key->body;
}

TEST_F(HttpApiTest, ServesTheWebPage) {
  auto page = Http().Get("/");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EVO2_EXPECT_CONTAINS(page->body, "<title>Evo2 Serve</title>");
  auto js = Http().Get("/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EVO2_EXPECT_CONTAINS(js->get_header_value("Content-Type"), "text/javascript");
  auto variants_js = Http().Get("/variants.js");
  ASSERT_TRUE(variants_js);
  EXPECT_EQ(variants_js->status, 200);
  EVO2_EXPECT_CONTAINS(variants_js->body, "function fillVariantResults");
  auto css = Http().Get("/app.css");
  ASSERT_TRUE(css);
  EXPECT_EQ(css->status, 200);
  EVO2_EXPECT_CONTAINS(css->get_header_value("Content-Type"), "text/css");
}

}  // namespace
}  // namespace evo2::testing
