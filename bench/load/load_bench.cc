// Load benchmark of the job service (a program, not a test): N concurrent clients each submit
// M small jobs through the real gRPC API; reports submit latency p50/p99/max, submitted jobs/s,
// and (with workers) end-to-end completed jobs/s.
//
//   evo2-load-bench [--clients 16] [--jobs-per-client 50] [--record-bases 200] [--workers 2]
//                   [--appendfsync always|everysec] [--http]
//
// --http submits through the HTTP/JSON API (POST /v1/jobs, one keep-alive connection per
// client) instead of gRPC; the same service code runs behind both.
//
// By default it starts its own redis-server + evo2-api + workers (CPU, golden a_tiny6) on free
// ports, exactly like the integration tests; --server/--api-key/--model target a running
// deployment instead (then no workers are started and only submission is measured unless
// --wait is given).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "job_client.h"
#include "nlohmann/json.hpp"
#include "service_harness.h"

namespace {

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"evo2-load-bench: concurrent small-job submission against the job service"};
  int clients = 16, jobs_per_client = 50, record_bases = 200, workers = 2;
  std::string server, api_key, model = evo2::testing::kModel;
  bool wait = true;
  std::string appendfsync = "always";
  bool http = false;
  app.add_option("--clients", clients, "Concurrent client threads (one channel each)");
  app.add_option("--jobs-per-client", jobs_per_client);
  app.add_option("--record-bases", record_bases, "Bases in the single record of each job");
  app.add_option("--workers", workers, "Workers to start (self-contained mode)");
  app.add_option("--server", server, "Existing API host:port (skips starting a local stack)");
  app.add_option("--api-key", api_key);
  app.add_option("--model", model);
  app.add_flag("!--no-wait", wait, "Do not wait for the jobs to finish");
  app.add_option("--appendfsync", appendfsync,
                 "AOF fsync policy of the local Redis (everysec: what durability costs)")
      ->check(CLI::IsMember({"always", "everysec"}))
      ->capture_default_str();
  app.add_flag("--http", http,
               "Submit over HTTP/JSON (with --server: its HTTP host:port) instead of gRPC");
  CLI11_PARSE(app, argc, argv);

  std::unique_ptr<evo2::testing::ServiceCluster> cluster;
  if (server.empty()) {
    evo2::testing::ClusterOptions co;
    co.append_only = true;
    co.appendfsync = appendfsync;
    co.api_args = {"--tenant-max-active-jobs", "0"};
    co.http = http;
    auto c = evo2::testing::ServiceCluster::Start(co);
    if (!c.ok()) {
      std::cerr << "cannot start the local stack: " << c.status() << "\n";
      return 1;
    }
    cluster = std::move(*c);
    for (int i = 0; i < workers; ++i) {
      auto w = cluster->StartWorker();
      if (!w.ok()) {
        std::cerr << w.status() << "\n";
        return 1;
      }
    }
    server = http ? absl::StrCat("127.0.0.1:", cluster->http_port()) : cluster->api_target();
    api_key = evo2::testing::kKeyAlpha;
  }
  std::string grpc_server = cluster ? cluster->api_target() : server;

  std::mt19937 rng(1234);
  std::string seq(static_cast<size_t>(record_bases), 'A');
  for (auto& ch : seq) ch = "ACGT"[rng() % 4];

  std::mutex mu;
  std::vector<double> latencies_ms;
  std::vector<std::string> ids;
  std::atomic<int> errors{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      // One submit of job j; the job id or an error.
      std::function<absl::StatusOr<std::string>(int)> submit;
      std::unique_ptr<evo2::client::JobClient> grpc_client;
      std::unique_ptr<httplib::Client> http_client;
      if (http) {
        const size_t colon = server.rfind(':');
        http_client = std::make_unique<httplib::Client>(server.substr(0, colon),
                                                        std::stoi(server.substr(colon + 1)));
        http_client->set_keep_alive(true);
        http_client->set_tcp_nodelay(true);
        submit = [&, c](int j) -> absl::StatusOr<std::string> {
          const std::string body =
              nlohmann::json{
                  {"model", model},
                  {"fasta", absl::Base64Escape(absl::StrCat(">c", c, "_j", j, "\n", seq, "\n"))}}
                  .dump();
          auto r = http_client->Post("/v1/jobs", {{"Authorization", "Bearer " + api_key}}, body,
                                     "application/json");
          if (!r) return absl::UnavailableError(httplib::to_string(r.error()));
          if (r->status != 200) return absl::UnknownError(absl::StrCat(r->status, " ", r->body));
          return nlohmann::json::parse(r->body)["job"]["jobId"].get<std::string>();
        };
      } else {
        evo2::client::ClientOptions o;
        o.target = server;
        o.api_key = api_key;
        auto client = evo2::client::JobClient::Connect(o);
        if (!client.ok()) {
          errors += jobs_per_client;
          return;
        }
        grpc_client = std::move(*client);
        submit = [&, c](int j) -> absl::StatusOr<std::string> {
          evo2::v1::SubmitJobRequest req;
          req.set_model(model);
          req.set_fasta(absl::StrCat(">c", c, "_j", j, "\n", seq, "\n"));
          auto r = grpc_client->Submit(req);
          if (!r.ok()) return r.status();
          return r->job().job_id();
        };
      }
      for (int j = 0; j < jobs_per_client; ++j) {
        const auto s = std::chrono::steady_clock::now();
        auto r = submit(j);
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s)
                .count();
        std::lock_guard<std::mutex> lock(mu);
        if (!r.ok()) {
          if (errors++ == 0) std::cerr << "submit failed: " << r.status() << "\n";
          continue;
        }
        latencies_ms.push_back(ms);
        ids.push_back(*r);
      }
    });
  }
  for (auto& t : threads) t.join();
  const double submit_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  double done_s = 0;
  int succeeded = 0;
  if (wait && !ids.empty()) {
    evo2::client::ClientOptions o;
    o.target = grpc_server;
    o.api_key = api_key;
    auto client = std::move(*evo2::client::JobClient::Connect(o));
    for (const auto& id : ids) {
      auto j = evo2::testing::WaitForTerminal(*client, id, std::chrono::minutes(30));
      succeeded += j.ok() && j->state() == evo2::v1::JOB_STATE_SUCCEEDED;
    }
    done_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  const int total = clients * jobs_per_client;
  std::printf("api=%s clients=%d jobs=%d record_bases=%d workers=%d appendfsync=%s errors=%d\n",
              http ? "http" : "grpc", clients, total, record_bases, cluster ? workers : 0,
              cluster ? appendfsync.c_str() : "?", errors.load());
  std::printf("submit latency ms: p50=%.2f p99=%.2f max=%.2f\n", Percentile(latencies_ms, 0.50),
              Percentile(latencies_ms, 0.99), Percentile(latencies_ms, 1.0));
  std::printf("submitted jobs/s: %.1f (%.2f s)\n", static_cast<double>(latencies_ms.size()) / submit_s,
              submit_s);
  if (wait) {
    std::printf("completed: %d/%zu succeeded, end-to-end jobs/s: %.1f (%.2f s)\n", succeeded,
                ids.size(), done_s > 0 ? succeeded / done_s : 0.0, done_s);
  }
  return errors.load() == 0 ? 0 : 1;
}
