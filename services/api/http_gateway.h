// evo2-api's HTTP/JSON face for browsers and web portals (docs/service.md, "HTTP/JSON API").
// Every /v1 route is one JobService call made through the gRPC server's in-process channel, so
// authentication, validation, quotas, metrics and error details are the gRPC service's own;
// this layer only translates: proto3 JSON bodies (protobuf's JSON utilities), gRPC code → HTTP
// status (http_errors.h), WatchJob → Server-Sent Events, results → JSON or .npy downloads.
// It also serves the web page (services/api/web/) and the OpenAPI document.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"

namespace httplib {
class Server;
}

namespace evo2::svc {

struct HttpOptions {
  std::string listen;  // host:port, e.g. "0.0.0.0:8080"; port 0 picks a free one
  // Origins (scheme://host[:port]) whose pages may call the API; "*" allows any.
  std::vector<std::string> cors_origins;
  // Largest request body; bigger ones get 413 before the body is read. The default admits the
  // gRPC default limit's 64 MiB of FASTA after base64 (4/3) in the JSON body.
  int64_t max_body_bytes = 96ll << 20;
  // A Server-Sent Events stream idle this long gets a comment line, so proxies keep it open.
  absl::Duration keepalive = absl::Seconds(15);
  int threads = 64;  // concurrent requests (each open event stream holds one)
};

class HttpGateway {
 public:
  // Binds `options.listen` and serves on a thread of its own; `channel` reaches the JobService.
  static absl::StatusOr<std::unique_ptr<HttpGateway>> Start(const HttpOptions& options,
                                                            std::shared_ptr<grpc::Channel> channel);
  ~HttpGateway();  // Stop()
  // Stops accepting, lets running requests finish (open event streams end when the service
  // drains) and joins.
  void Stop();
  int port() const { return port_; }

  // The /v1 routes as OpenAPI path templates ("/v1/jobs/{job_id}"), for the document's test.
  struct Route {
    std::string method;  // "get", "post"
    std::string path;
  };
  static std::vector<Route> ApiRoutes();

 private:
  HttpGateway() = default;

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace evo2::svc
