// A TCP proxy on 127.0.0.1 for fault tests: forwards every connection to `target_port` and, like
// a load balancer or NAT with an idle timeout, closes a connection after `idle_cut` without a
// byte in either direction. CutAll() resets every open connection at once (a proxy restart).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace evo2::testing {

class TcpProxy {
 public:
  // idle_cut zero: never cut idle connections.
  static absl::StatusOr<std::unique_ptr<TcpProxy>> Start(int target_port,
                                                         std::chrono::milliseconds idle_cut);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  // Connections closed because they were idle, and by CutAll.
  int idle_cuts() const { return idle_cuts_.load(); }
  void CutAll();

 private:
  TcpProxy() = default;
  void AcceptLoop();
  void Pump(int client_fd, int upstream_fd);

  int listen_fd_ = -1;
  int port_ = 0;
  int target_port_ = 0;
  std::chrono::milliseconds idle_cut_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> cut_generation_{0};
  std::atomic<int> idle_cuts_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> pumps_;
};

}  // namespace evo2::testing
