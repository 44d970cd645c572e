// evo2-api: the gRPC front end of the job service (docs/service.md). Every flag can also be set
// by the environment variable named in its help (containers configure it that way).
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api_keys.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "hashing.h"
#include "http_gateway.h"
#include "job_service.h"
#include "job_store.h"
#include "metrics.h"
#include "model_catalog.h"
#include "record_capacity_cache.h"
#include "redis_durability.h"
#include "redis_health.h"
#include "results_janitor.h"
#include "retry_promoter.h"
#include "serving_health.h"

namespace {

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "evo2-api: cannot read '" << path << "'\n";
    std::exit(2);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Die(const std::string& what, const absl::Status& s) {
  std::cerr << "evo2-api: " << what << ": " << s << "\n";
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  // SIGTERM/SIGINT are taken by sigwait below; block them before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  CLI::App app{"evo2-api: Evo 2 job service gRPC API"};
  std::string listen = "0.0.0.0:50051";
  std::string metrics_listen = "0.0.0.0:9464";
  std::string redis_url = "redis://127.0.0.1:6379";
  std::string redis_password;
  std::string key_prefix = "evo2:";
  std::string api_keys_file;
  std::string hash_key;
  std::vector<std::string> model_specs;
  std::string tls_cert, tls_key, tls_client_ca;
  bool reflection = true;
  int64_t grpc_max_receive_bytes = 64ll << 20;
  bool allow_non_durable_redis = false;
  int64_t health_interval_ms = 1000, drain_grace_ms = 5000, retry_promote_ms = 1000;
  int health_failures = 3, health_successes = 2;
  evo2::svc::ApiConfig config;
  evo2::svc::HttpOptions http;
  http.listen = "";
  int64_t http_keepalive_ms = 15000;

  app.add_option("--listen", listen, "gRPC address [EVO2_API_LISTEN]")->envname("EVO2_API_LISTEN");
  app.add_option("--metrics-listen", metrics_listen,
                 "Prometheus /metrics address, '' to disable [EVO2_API_METRICS_LISTEN]")
      ->envname("EVO2_API_METRICS_LISTEN");
  app.add_option("--redis", redis_url, "redis://[:password@]host:port[/db] [EVO2_REDIS_URL]")
      ->envname("EVO2_REDIS_URL");
  app.add_option("--redis-password", redis_password, "Redis password [EVO2_REDIS_PASSWORD]")
      ->envname("EVO2_REDIS_PASSWORD");
  app.add_option("--key-prefix", key_prefix, "Redis key prefix [EVO2_KEY_PREFIX]")
      ->envname("EVO2_KEY_PREFIX");
  app.add_option("--api-keys-file", api_keys_file,
                 "File of '<tenant> sha256:<hex>' lines [EVO2_API_KEYS_FILE]; plain keys may "
                 "also come as EVO2_API_KEYS=tenant=key,...")
      ->envname("EVO2_API_KEYS_FILE");
  app.add_option("--hash-key", hash_key, "Print the key-file hash of KEY and exit");
  app.add_option("--model", model_specs,
                 "Served model NAME=MAX_TOKENS[,layers=N][,hidden=H] (repeatable) "
                 "[EVO2_API_MODELS, ';'-separated]");
  app.add_option("--tls-cert", tls_cert, "PEM server certificate (enables TLS) [EVO2_TLS_CERT]")
      ->envname("EVO2_TLS_CERT");
  app.add_option("--tls-key", tls_key, "PEM private key [EVO2_TLS_KEY]")->envname("EVO2_TLS_KEY");
  app.add_option("--tls-client-ca", tls_client_ca,
                 "PEM CA for client certificates (enables mTLS) [EVO2_TLS_CLIENT_CA]")
      ->envname("EVO2_TLS_CLIENT_CA");
  app.add_flag("!--no-reflection", reflection, "Disable gRPC server reflection");
  app.add_option("--max-attempts", config.max_attempts, "Attempts before dead-lettering a job")
      ->envname("EVO2_MAX_ATTEMPTS");
  app.add_option("--job-ttl-seconds", config.job_ttl_s, "Retention of finished jobs + results")
      ->envname("EVO2_JOB_TTL_SECONDS");
  app.add_option("--max-records", config.limits.max_records, "Records per job [EVO2_MAX_RECORDS]")
      ->envname("EVO2_MAX_RECORDS");
  app.add_option("--max-total-bases", config.limits.max_total_bases,
                 "Bases per job [EVO2_MAX_TOTAL_BASES]")
      ->envname("EVO2_MAX_TOTAL_BASES");
  app.add_option("--max-output-bytes-per-job", config.limits.max_output_bytes_per_job,
                 "Tensor bytes a job may request in all (logits, embeddings, per-token "
                 "log-probs) [EVO2_MAX_OUTPUT_BYTES_PER_JOB]")
      ->envname("EVO2_MAX_OUTPUT_BYTES_PER_JOB");
  app.add_option("--max-vcf-bytes", config.limits.max_vcf_bytes,
                 "Bytes of a variant-scoring job's VCF [EVO2_MAX_VCF_BYTES]")
      ->envname("EVO2_MAX_VCF_BYTES");
  app.add_option("--max-reference-fasta-bytes", config.limits.max_reference_fasta_bytes,
                 "Bytes of a reference FASTA uploaded with a variant-scoring job "
                 "[EVO2_MAX_REFERENCE_FASTA_BYTES]")
      ->envname("EVO2_MAX_REFERENCE_FASTA_BYTES");
  app.add_option("--max-header-bytes", config.limits.max_header_bytes, "FASTA header length");
  app.add_option("--alphabet", config.limits.alphabet,
                 "Accepted sequence letters (case-insensitive) [EVO2_ALPHABET]")
      ->envname("EVO2_ALPHABET");
  app.add_option("--max-output-bytes-per-record", config.limits.max_output_bytes_per_record);
  app.add_option("--hard-max-output-bytes-per-record",
                 config.limits.hard_max_output_bytes_per_record);
  app.add_option("--tenant-max-active-jobs", config.max_active_jobs_per_tenant,
                 "Queued+running jobs per tenant (0 = unlimited)")
      ->envname("EVO2_TENANT_MAX_ACTIVE_JOBS");
  app.add_option("--tenant-max-active-bases", config.max_active_bases_per_tenant,
                 "Queued+running bases per tenant (0 = unlimited)")
      ->envname("EVO2_TENANT_MAX_ACTIVE_BASES");
  app.add_option("--quota-retry-delay-seconds", config.quota_retry_delay_s,
                 "RetryInfo delay sent with a tenant-quota refusal");
  app.add_option("--grpc-max-receive-bytes", grpc_max_receive_bytes, "Largest request accepted");
  app.add_flag("--allow-non-durable-redis", allow_non_durable_redis,
               "Serve even when Redis does not fsync every write (development and tests only: an "
               "OK from SubmitJob may then be lost) [EVO2_ALLOW_NON_DURABLE_REDIS]")
      ->envname("EVO2_ALLOW_NON_DURABLE_REDIS");
  app.add_option("--health-interval-ms", health_interval_ms,
                 "Redis PING period (and timeout) of the health check [EVO2_HEALTH_INTERVAL_MS]")
      ->envname("EVO2_HEALTH_INTERVAL_MS");
  app.add_option("--health-failures", health_failures,
                 "Failed PINGs in a row before health reports NOT_SERVING");
  app.add_option("--health-successes", health_successes,
                 "Good PINGs in a row before health reports SERVING again");
  app.add_option("--retry-promote-ms", retry_promote_ms,
                 "Period of queueing jobs whose retry backoff is over (workers do it too)");
  int64_t capacity_refresh_ms = 1000, capacity_max_stale_ms = 15000;
  app.add_option("--record-capacity-refresh-ms", capacity_refresh_ms,
                 "Period of reading the longest records live workers advertise (SubmitJob "
                 "checks records against the last read)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{10}, int64_t{600000}));
  app.add_option("--record-capacity-max-stale-ms", capacity_max_stale_ms,
                 "While those reads fail, keep using the last one this long, then apply only "
                 "the configured --model limits")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{3600000}));
  app.add_option("--drain-grace-ms", drain_grace_ms,
                 "After SIGTERM: report NOT_SERVING but keep serving this long, so load "
                 "balancers stop routing first; a second signal cuts it short "
                 "[EVO2_API_DRAIN_GRACE_MS]")
      ->envname("EVO2_API_DRAIN_GRACE_MS");
  app.add_option("--http-listen", http.listen,
                 "HTTP/JSON API + web page address, e.g. 0.0.0.0:8080; '' (default) = off "
                 "[EVO2_HTTP_LISTEN]")
      ->envname("EVO2_HTTP_LISTEN");
  app.add_option("--http-cors-origin", http.cors_origins,
                 "Origin whose pages may call the HTTP API, e.g. https://portal.example.org; "
                 "repeatable; '*' = any [EVO2_HTTP_CORS_ORIGINS, ','-separated]")
      ->envname("EVO2_HTTP_CORS_ORIGINS")
      ->delimiter(',');
  app.add_option("--http-max-body-bytes", http.max_body_bytes,
                 "Largest HTTP request body; larger ones get 413")
      ->capture_default_str();
  app.add_option("--http-keepalive-ms", http_keepalive_ms,
                 "Comment sent on an idle Server-Sent Events stream this often")
      ->capture_default_str();
  app.add_option("--http-threads", http.threads,
                 "Concurrent HTTP requests (each open event stream holds one)")
      ->capture_default_str();
  // Idle streams: a KEEPALIVE event on WatchJob, and HTTP/2 PINGs on every connection, so that
  // load balancers and NAT tables do not drop quiet clients (docs/service.md, "Long streams").
  int64_t grpc_keepalive_ms = 30000;
  app.add_option("--watch-keepalive-ms", config.watch_keepalive_ms,
                 "WatchJob sends a KEEPALIVE event after this long without events; 0 = never "
                 "[EVO2_API_WATCH_KEEPALIVE_MS]")
      ->envname("EVO2_API_WATCH_KEEPALIVE_MS");
  app.add_option("--grpc-keepalive-ms", grpc_keepalive_ms,
                 "HTTP/2 PING period on idle connections (a client that stops answering for "
                 "10 s more is dropped); 0 = no pings");
  int64_t results_clean_interval_ms = 600000, results_clean_grace_ms = 3600000;
  app.add_option("--results-dir", config.results_dir,
                 "Results store shared with the workers (their --results-dir) [EVO2_RESULTS_DIR]")
      ->envname("EVO2_RESULTS_DIR");
  app.add_option("--results-clean-interval-ms", results_clean_interval_ms,
                 "How often expired jobs' results are removed from the results store");
  app.add_option("--results-clean-grace-ms", results_clean_grace_ms,
                 "Leave a job's results directory alone this long after its last change");
  CLI11_PARSE(app, argc, argv);
  http.keepalive = absl::Milliseconds(http_keepalive_ms);

  if (!hash_key.empty()) {
    std::cout << "sha256:" << evo2::svc::Sha256Hex(hash_key) << "\n";
    return 0;
  }
  if (model_specs.empty()) {
    if (const char* env = std::getenv("EVO2_API_MODELS")) {
      model_specs = absl::StrSplit(env, ';', absl::SkipWhitespace());
    }
  }
  evo2::svc::ModelCatalog models;
  for (const auto& spec : model_specs) {
    if (auto s = models.AddSpec(spec); !s.ok()) Die("--model", s);
  }
  if (models.models().empty()) Die("--model", absl::InvalidArgumentError("no model configured"));

  evo2::svc::ApiKeyRegistry keys;
  if (!api_keys_file.empty()) {
    if (auto s = keys.LoadFile(api_keys_file); !s.ok()) Die("api keys", s);
  }
  if (const char* env = std::getenv("EVO2_API_KEYS")) {
    if (auto s = keys.LoadEnvList(env); !s.ok()) Die("api keys", s);
  }
  if (keys.size() == 0) {
    Die("api keys", absl::InvalidArgumentError(
                        "no API keys: give --api-keys-file or EVO2_API_KEYS (every call needs one)"));
  }

  auto redis_opts = evo2::svc::ParseRedisUrl(redis_url);
  if (!redis_opts.ok()) Die("--redis", redis_opts.status());
  if (!redis_password.empty()) redis_opts->password = redis_password;
  evo2::svc::RedisPool pool(*redis_opts, 64);
  config.keys = evo2::svc::JobKeys(key_prefix);
  bool redis_durable = false;
  {
    auto conn = pool.Acquire();
    if (!conn.ok()) Die("redis", conn.status());
    const absl::Status durable = evo2::svc::CheckRedisDurable(**conn);
    redis_durable = durable.ok();
    if (!durable.ok() && !allow_non_durable_redis) {
      Die("redis", absl::Status(durable.code(), absl::StrCat(durable.message(),
                                                             " (--allow-non-durable-redis to "
                                                             "serve anyway)")));
    }
    if (!durable.ok()) {
      std::cerr << "evo2-api: WARNING: " << durable.message()
                << "; serving anyway (--allow-non-durable-redis): an acknowledged job can be "
                   "lost if Redis crashes"
                << std::endl;
    }
    evo2::svc::JobStore store(**conn, config.keys);
    for (const auto& [name, m] : models.models()) {
      if (auto s = store.EnsureQueues(name); !s.ok()) Die("redis queues", s);
    }
  }

  auto metrics = evo2::svc::MetricsEndpoint::Start(metrics_listen);
  if (!metrics.ok()) Die("metrics", metrics.status());
  evo2::svc::ExportRedisDurable((*metrics)->registry(), redis_durable);

  std::vector<std::string> model_names;
  for (const auto& [name, m] : models.models()) model_names.push_back(name);
  evo2::svc::RecordCapacityCacheOptions capacity_opts;
  capacity_opts.refresh_interval = absl::Milliseconds(capacity_refresh_ms);
  capacity_opts.max_stale = absl::Milliseconds(capacity_max_stale_ms);
  evo2::svc::RecordCapacityCache capacities(*redis_opts, config.keys, model_names, capacity_opts);
  evo2::svc::JobServiceImpl service(config, models, keys, pool, capacities, (*metrics)->registry());
  grpc::EnableDefaultHealthCheckService(true);
  if (reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (!tls_cert.empty()) {
    grpc::SslServerCredentialsOptions ssl(
        tls_client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                              : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_key_cert_pairs.push_back({ReadFileOrDie(tls_key), ReadFileOrDie(tls_cert)});
    if (!tls_client_ca.empty()) ssl.pem_root_certs = ReadFileOrDie(tls_client_ca);
    creds = grpc::SslServerCredentials(ssl);
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, creds, &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(grpc_max_receive_bytes));
  if (grpc_keepalive_ms > 0) {
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(grpc_keepalive_ms));
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  }
  // Clients ping every 20 s (services/client/job_client.cc); accept pings that far apart, also
  // on connections without calls, instead of answering them with GOAWAY "too_many_pings".
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // gRPC sets SO_REUSEPORT by default, so a second evo2-api on a taken port would start and
  // silently share its connections; refuse to start instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::cerr << "evo2-api: cannot listen on " << listen << "\n";
    return 2;
  }
  // The HTTP face calls the same service through the in-process channel (http_gateway.h).
  std::unique_ptr<evo2::svc::HttpGateway> http_gateway;
  if (!http.listen.empty()) {
    grpc::ChannelArguments channel_args;
    channel_args.SetMaxReceiveMessageSize(16 << 20);  // result chunks are at most 3 MiB
    auto gw = evo2::svc::HttpGateway::Start(http, server->InProcessChannel(channel_args));
    if (!gw.ok()) Die("--http-listen", gw.status());
    http_gateway = std::move(*gw);
  }
  evo2::svc::RetryPromoter retry_promoter(*redis_opts, config.keys, model_names,
                                          absl::Milliseconds(retry_promote_ms));
  evo2::svc::ServingHealth health(server->GetHealthCheckService());
  evo2::svc::RedisHealthOptions health_opts;
  health_opts.redis = *redis_opts;
  health_opts.interval = absl::Milliseconds(health_interval_ms);
  health_opts.failures_to_down = health_failures;
  health_opts.successes_to_up = health_successes;
  evo2::svc::RedisHealthChecker redis_health(health_opts, [&](bool reachable) {
    std::cerr << "evo2-api: redis "
              << (reachable ? "reachable again: SERVING" : "unreachable: NOT_SERVING") << std::endl;
    health.SetRedisReachable(reachable);
  });
  std::unique_ptr<evo2::svc::ResultsJanitor> results_janitor;
  if (!config.results_dir.empty()) {
    results_janitor = std::make_unique<evo2::svc::ResultsJanitor>(
        evo2::svc::ResultsStore(config.results_dir), config.keys, pool,
        absl::Milliseconds(results_clean_interval_ms), absl::Milliseconds(results_clean_grace_ms));
  }
  std::cerr << "evo2-api: serving on port " << port << " (metrics port " << (*metrics)->port()
            << ", " << models.models().size() << " model(s), " << keys.size() << " key(s), "
            << (tls_cert.empty() ? "plaintext" : "TLS") << ")" << std::endl;
  if (http_gateway != nullptr) {
    std::cerr << "evo2-api: HTTP on port " << http_gateway->port() << std::endl;
  }

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cerr << "evo2-api: signal " << sig << ", draining" << std::endl;
  // Health flips first and the server keeps answering for the grace period, so load balancers
  // see NOT_SERVING (not a refused connection) and stop routing before calls start failing.
  health.BeginDrain();
  if (drain_grace_ms > 0) {
    const timespec grace = {static_cast<time_t>(drain_grace_ms / 1000),
                            static_cast<long>(drain_grace_ms % 1000) * 1000000L};
    if (sigtimedwait(&stop_signals, nullptr, &grace) > 0) {
      std::cerr << "evo2-api: second signal, ending the grace period" << std::endl;
    }
  }
  redis_health.Stop();
  capacities.Stop();  // submits still in flight read the last view
  if (results_janitor != nullptr) results_janitor->Stop();
  // Open streams end with UNAVAILABLE so clients resume on another replica.
  service.BeginShutdown();
  if (http_gateway != nullptr) http_gateway->Stop();  // its event streams end with the watches
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(10));
  std::cerr << "evo2-api: stopped" << std::endl;
  return 0;
}
