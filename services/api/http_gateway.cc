#include "http_gateway.h"

#include <sys/socket.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "evo2/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "http_errors.h"
#include "httplib.h"
#include "job_client.h"
#include "job_event_pump.h"
#include "npy_out.h"
#include "web_assets.h"

namespace evo2::svc {
namespace {

using httplib::Request;
using httplib::Response;

std::string ToJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions opts;
  // Zeros and empty strings are printed too: a page reads `recordsDone: "0"` rather than
  // guessing what a missing field means.
  opts.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  return out;
}

void ReplyError(Response& res, const absl::Status& status) {
  res.status = HttpStatusFromCode(status.code());
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    res.set_header("WWW-Authenticate", "Bearer");
  }
  res.set_content(ErrorJson(status), "application/json");
}

void ReplyJson(Response& res, std::string json) {
  res.status = 200;
  res.set_content(std::move(json), "application/json");
}

// Query parameters, each at most once; an unknown one is refused (a typo must not silently
// list every job).
absl::Status CheckParams(const Request& req, std::initializer_list<const char*> known) {
  for (const auto& [name, value] : req.params) {
    bool ok = false;
    for (const char* k : known) ok |= name == k;
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown query parameter '", name, "' (known: ", absl::StrJoin(known, ", "), ")"));
    }
    if (req.get_param_value_count(name) > 1) {
      return absl::InvalidArgumentError(absl::StrCat("query parameter '", name, "' given twice"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> IntParam(const Request& req, const char* name, int64_t fallback) {
  if (!req.has_param(name)) return fallback;
  int64_t v = 0;
  const std::string s = req.get_param_value(name);
  if (!absl::SimpleAtoi(s, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat("query parameter ", name, "='", s.substr(0, 64), "' is not an integer"));
  }
  return v;
}

absl::StatusOr<bool> BoolParam(const Request& req, const char* name) {
  if (!req.has_param(name)) return false;
  bool v = false;
  const std::string s = req.get_param_value(name);
  if (!absl::SimpleAtob(s, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat("query parameter ", name, "='", s.substr(0, 64), "' is not true/false"));
  }
  return v;
}

// The JobService handlers, one per route, each a translation of one gRPC call.
class Api {
 public:
  Api(HttpOptions options, std::shared_ptr<grpc::Channel> channel)
      : options_(std::move(options)), channel_(std::move(channel)) {}

  // A client whose calls carry this request's credentials as sent: the service authenticates
  // them exactly as it does a gRPC caller's metadata.
  std::unique_ptr<evo2::client::JobClient> ClientFor(const Request& req) const {
    evo2::client::ClientOptions o;
    if (req.has_header("Authorization")) {
      o.metadata.emplace_back("authorization", req.get_header_value("Authorization"));
    }
    if (req.has_header("X-API-Key")) {
      o.metadata.emplace_back("x-api-key", req.get_header_value("X-API-Key"));
    }
    return evo2::client::JobClient::OverChannel(channel_, o);
  }

  void Submit(const Request& req, Response& res) {
    evo2::v1::SubmitJobRequest msg;
    const auto parsed = google::protobuf::util::JsonStringToMessage(req.body, &msg);
    if (!parsed.ok()) {
      return ReplyError(res, absl::InvalidArgumentError(absl::StrCat(
                                 "the body is not an evo2.v1.SubmitJobRequest in JSON: ",
                                 parsed.message().as_string())));
    }
    auto r = ClientFor(req)->Submit(msg);
    if (!r.ok()) return ReplyError(res, r.status());
    ReplyJson(res, ToJson(*r));
  }

  void List(const Request& req, Response& res) {
    auto reply = [&]() -> absl::StatusOr<std::string> {
      RETURN_IF_ERROR(CheckParams(req, {"page_size", "page_token", "state", "model"}));
      evo2::v1::ListJobsRequest msg;
      ASSIGN_OR_RETURN(const int64_t page_size, IntParam(req, "page_size", 0));
      if (page_size < 0 || page_size > 1000) {
        return absl::InvalidArgumentError(
            absl::StrCat("page_size ", page_size, " is outside 0..1000"));
      }
      msg.set_page_size(static_cast<int32_t>(page_size));
      msg.set_page_token(req.get_param_value("page_token"));
      msg.set_model(req.get_param_value("model"));
      if (req.has_param("state")) {
        // "JOB_STATE_RUNNING" as in the JSON bodies, or just "running".
        std::string name = absl::AsciiStrToUpper(req.get_param_value("state"));
        if (!absl::StartsWith(name, "JOB_STATE_")) name = "JOB_STATE_" + name;
        evo2::v1::JobState state;
        if (!evo2::v1::JobState_Parse(name, &state)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "query parameter state='", req.get_param_value("state").substr(0, 64),
              "' is not a job state (queued, running, succeeded, failed, cancelled, ...)"));
        }
        msg.set_state(state);
      }
      ASSIGN_OR_RETURN(auto resp, ClientFor(req)->List(msg));
      return ToJson(resp);
    }();
    if (!reply.ok()) return ReplyError(res, reply.status());
    ReplyJson(res, *std::move(reply));
  }

  void Models(const Request& req, Response& res) {
    auto models = ClientFor(req)->ListModels();
    if (!models.ok()) return ReplyError(res, models.status());
    ReplyJson(res, ToJson(*models));
  }

  void Get(const Request& req, Response& res) {
    auto job = ClientFor(req)->Get(req.matches[1]);
    if (!job.ok()) return ReplyError(res, job.status());
    ReplyJson(res, ToJson(*job));
  }

  void Cancel(const Request& req, Response& res) {
    auto job = ClientFor(req)->Cancel(req.matches[1]);
    if (!job.ok()) return ReplyError(res, job.status());
    ReplyJson(res, ToJson(*job));
  }

  // WatchJob as Server-Sent Events (https://html.spec.whatwg.org/#server-sent-events): one
  // `id: <event id>` + `data: <JobEvent JSON>` message per event, so a reconnecting EventSource
  // sends Last-Event-ID and resumes after it (WatchJob's after_event_id); `: keep-alive`
  // comments while idle; a final `event: end` whose data is the watch's google.rpc.Status
  // (code 0 once the job is terminal, else the error, after which a client resumes).
  void Events(const Request& req, Response& res) {
    const std::string job_id = req.matches[1];
    std::string after = req.get_param_value("after_event_id");
    if (req.has_header("Last-Event-ID")) after = req.get_header_value("Last-Event-ID");
    // Errors the stream would report at once (key, job id) get an HTTP status instead.
    auto client = ClientFor(req);
    if (auto job = client->Get(job_id); !job.ok()) return ReplyError(res, job.status());
    auto pump = std::make_shared<JobEventPump>(std::move(client), job_id, after);
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");  // nginx: do not buffer the stream
    const absl::Duration keepalive = options_.keepalive;
    res.set_chunked_content_provider(
        "text/event-stream",
        [pump, keepalive](size_t /*offset*/, httplib::DataSink& sink) {
          while (true) {
            JobEventPump::Item item = pump->Next(keepalive);
            std::string frame;
            if (item.event) {
              frame = absl::StrCat("id: ", item.event->event_id(), "\ndata: ", ToJson(*item.event),
                                   "\n\n");
            } else if (item.end) {
              frame = absl::StrCat("event: end\ndata: ", ErrorJson(*item.end), "\n\n");
            } else {
              frame = ": keep-alive\n\n";
            }
            // A failed write means the client went away: returning false drops the connection
            // and the releaser below cancels the watch.
            if (!sink.write(frame.data(), frame.size())) return false;
            if (item.end) {
              sink.done();
              return true;
            }
          }
        },
        [pump](bool /*success*/) { pump->Stop(); });
  }

  // Whole records in JSON: {"records": [RecordResult...], "end": ResultsEnd}; tensor bytes are
  // base64 (the proto3 JSON mapping of `bytes`), little-endian values of `dtype`.
  void Results(const Request& req, Response& res) {
    auto reply = [&]() -> absl::StatusOr<std::string> {
      RETURN_IF_ERROR(CheckParams(req, {"start_record", "follow"}));
      evo2::v1::GetJobResultsRequest msg;
      msg.set_job_id(req.matches[1]);
      ASSIGN_OR_RETURN(const int64_t start, IntParam(req, "start_record", 0));
      ASSIGN_OR_RETURN(const bool follow, BoolParam(req, "follow"));
      msg.set_start_record(start);
      msg.set_follow(follow);
      std::string records;
      ASSIGN_OR_RETURN(auto end, ClientFor(req)->Results(msg, [&](evo2::v1::RecordResult&& r) {
        absl::StrAppend(&records, records.empty() ? "" : ",", ToJson(r));
      }));
      return absl::StrCat("{\"records\":[", records, "],\"end\":", ToJson(end), "}");
    }();
    if (!reply.ok()) return ReplyError(res, reply.status());
    ReplyJson(res, *std::move(reply));
  }

  // One tensor of one record as a .npy file (bf16 widened to float32, like `evo2 results`).
  void Npy(const Request& req, Response& res) {
    const std::string job_id = req.matches[1];
    const std::string tensor_name = req.matches[3];
    auto reply = [&]() -> absl::StatusOr<std::string> {
      int64_t index = 0;
      if (!absl::SimpleAtoi(std::string(req.matches[2]), &index) || index < 0) {
        return absl::InvalidArgumentError(absl::StrCat("record index '",
                                                       std::string(req.matches[2]).substr(0, 64),
                                                       "' is not an integer >= 0"));
      }
      evo2::v1::GetJobResultsRequest msg;
      msg.set_job_id(job_id);
      msg.set_start_record(index);
      std::optional<evo2::v1::RecordResult> record;
      RETURN_IF_ERROR(ClientFor(req)
                          ->ResultsWhile(msg,
                                         [&](evo2::v1::RecordResult&& r) {
                                           record = std::move(r);
                                           return false;  // only this record
                                         })
                          .status());
      if (!record || record->record_index() != index) {
        return absl::NotFoundError(
            absl::StrCat("job ", job_id, " has no result for record ", index, " (yet)"));
      }
      std::vector<std::string> names;
      for (const auto& t : record->tensors()) {
        if (t.name() == tensor_name) return evo2::client::NpyBytes(t);
        names.push_back(t.name());
      }
      return absl::NotFoundError(absl::StrCat(
          "record ", index, " of job ", job_id, " has no tensor '", tensor_name.substr(0, 128),
          "' (it has: ", names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
    }();
    if (!reply.ok()) return ReplyError(res, reply.status());
    res.set_header(
        "Content-Disposition",
        absl::StrCat("attachment; filename=\"", job_id, "_", req.matches[2].str(), "_",
                     absl::StrReplaceAll(tensor_name, {{"/", "_"}, {"\"", "_"}}), ".npy\""));
    res.set_content(*std::move(reply), "application/octet-stream");
  }

  void OpenApi(const Request&, Response& res) { ServeAsset("openapi.json", res); }

  static void ServeAsset(std::string_view name, Response& res) {
    const WebAsset* asset = FindWebAsset(name);
    if (asset == nullptr) {
      return ReplyError(res, absl::NotFoundError(absl::StrCat("no asset ", std::string(name))));
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_content(asset->data.data(), asset->data.size(), std::string(asset->content_type));
  }

  bool OriginAllowed(const std::string& origin) const {
    for (const auto& o : options_.cors_origins) {
      if (o == "*" || o == origin) return true;
    }
    return false;
  }

  const HttpOptions& options() const { return options_; }

 private:
  HttpOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
};

using Handler = void (Api::*)(const Request&, Response&);
struct RouteSpec {
  const char* method;   // OpenAPI's lower-case name
  const char* path;     // OpenAPI path template
  const char* pattern;  // httplib's regex; job ids stop at '/' and ':'
  Handler handler;
};
const RouteSpec kRoutes[] = {
    {"post", "/v1/jobs", "/v1/jobs", &Api::Submit},
    {"get", "/v1/jobs", "/v1/jobs", &Api::List},
    {"get", "/v1/jobs/{job_id}", R"(/v1/jobs/([^/:]+))", &Api::Get},
    {"post", "/v1/jobs/{job_id}:cancel", R"(/v1/jobs/([^/:]+):cancel)", &Api::Cancel},
    {"get", "/v1/jobs/{job_id}/events", R"(/v1/jobs/([^/:]+)/events)", &Api::Events},
    {"get", "/v1/jobs/{job_id}/results", R"(/v1/jobs/([^/:]+)/results)", &Api::Results},
    {"get", "/v1/jobs/{job_id}/results/{record_index}/{tensor}.npy",
     R"(/v1/jobs/([^/:]+)/results/([^/]+)/(.+)\.npy)", &Api::Npy},
    {"get", "/v1/models", "/v1/models", &Api::Models},
    {"get", "/v1/openapi.json", "/v1/openapi.json", &Api::OpenApi},
};

}  // namespace

std::vector<HttpGateway::Route> HttpGateway::ApiRoutes() {
  std::vector<Route> out;
  for (const auto& r : kRoutes) out.push_back({r.method, r.path});
  return out;
}

absl::StatusOr<std::unique_ptr<HttpGateway>> HttpGateway::Start(
    const HttpOptions& options, std::shared_ptr<grpc::Channel> channel) {
  const size_t colon = options.listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(options.listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP listen address '", options.listen, "' is not host:port"));
  }
  std::string host = options.listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }

  auto api = std::make_shared<Api>(options, std::move(channel));
  std::unique_ptr<HttpGateway> gw(new HttpGateway());
  gw->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *gw->server_;
  const int threads = std::max(1, options.threads);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_payload_max_length(static_cast<size_t>(options.max_body_bytes));
  // Small JSON replies must not wait for the client's delayed ACK (Nagle), and a portal's
  // keep-alive connection should not be closed after httplib's default of 5 requests.
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(1000);

  // CORS (https://fetch.spec.whatwg.org/#http-cors-protocol): configured origins get their
  // Origin echoed; a preflight is answered here, before routing.
  server.set_pre_routing_handler([api](const Request& req, Response& res) {
    const std::string origin = req.get_header_value("Origin");
    const bool allowed = !origin.empty() && api->OriginAllowed(origin);
    if (allowed) {
      res.set_header("Access-Control-Allow-Origin", origin);
      res.set_header("Vary", "Origin");
      res.set_header("Access-Control-Expose-Headers", "Content-Disposition, WWW-Authenticate");
    }
    if (req.method != "OPTIONS") return httplib::Server::HandlerResponse::Unhandled;
    if (!allowed) {
      ReplyError(res, absl::PermissionDeniedError(
                          absl::StrCat("origin '", origin.substr(0, 200),
                                       "' may not call this API (evo2-api --http-cors-origin)")));
      return httplib::Server::HandlerResponse::Handled;
    }
    res.status = 204;
    res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    res.set_header("Access-Control-Allow-Headers",
                   "Authorization, Content-Type, Last-Event-ID, X-API-Key");
    res.set_header("Access-Control-Max-Age", "600");
    return httplib::Server::HandlerResponse::Handled;
  });
  // Statuses httplib sets itself (no route, body too large) get the same JSON error body.
  const int64_t max_body = options.max_body_bytes;
  server.set_error_handler([max_body](const Request& req, Response& res) {
    if (!res.body.empty()) return;
    absl::Status s;
    if (res.status == 413) {
      s = absl::ResourceExhaustedError(absl::StrCat("the request body exceeds ", max_body,
                                                    " bytes (evo2-api --http-max-body-bytes)"));
    } else if (res.status == 404) {
      s = absl::NotFoundError(absl::StrCat("no route ", req.method, " ", req.path.substr(0, 200),
                                           " (see /v1/openapi.json)"));
    } else {
      s = absl::UnknownError(absl::StrCat("HTTP ", res.status));
    }
    res.set_content(ErrorJson(s), "application/json");
  });

  for (const auto& r : kRoutes) {
    const Handler h = r.handler;
    auto fn = [api, h](const Request& req, Response& res) { ((*api).*h)(req, res); };
    if (std::string_view(r.method) == "get") {
      server.Get(r.pattern, fn);
    } else {
      server.Post(r.pattern, fn);
    }
  }
  // The web page.
  server.Get("/", [](const Request&, Response& res) { Api::ServeAsset("index.html", res); });
  server.Get(R"(/(app\.js|variants\.js|app\.css))",
             [](const Request& req, Response& res) { Api::ServeAsset(req.matches[1].str(), res); });

  // httplib 0.11 listens with a backlog of 5 (compiled into Debian's library), so a burst of
  // new connections overflows it and the unlucky clients wait for a 1 s SYN retransmit. The
  // listening socket passes through the socket-options hook; listen() on it again raises the
  // backlog.
  auto listen_fd = std::make_shared<socket_t>(INVALID_SOCKET);
  server.set_socket_options([listen_fd](socket_t sock) {
    httplib::default_socket_options(sock);
    *listen_fd = sock;
  });
  const int bound =
      port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", options.listen));
  }
  if (*listen_fd != INVALID_SOCKET && ::listen(*listen_fd, SOMAXCONN) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot raise the HTTP listen backlog"));
  }
  gw->port_ = bound;
  gw->thread_ = std::thread([&server] { server.listen_after_bind(); });
  return gw;
}

void HttpGateway::Stop() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

HttpGateway::~HttpGateway() { Stop(); }

}  // namespace evo2::svc
