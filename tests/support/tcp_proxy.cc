#include "support/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace evo2::testing {
namespace {

int ConnectLoopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Writes all of buf; false when the peer is gone.
bool WriteAll(int fd, const char* buf, ssize_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    buf += w;
    n -= w;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpProxy>> TcpProxy::Start(int target_port,
                                                          std::chrono::milliseconds idle_cut) {
  std::unique_ptr<TcpProxy> p(new TcpProxy());
  p->target_port_ = target_port;
  p->idle_cut_ = idle_cut;
  p->listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (p->listen_fd_ < 0) return absl::InternalError("proxy: socket() failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = 0;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (::bind(p->listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::listen(p->listen_fd_, 64) != 0 ||
      ::getsockname(p->listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return absl::InternalError(absl::StrCat("proxy: cannot listen: errno ", errno));
  }
  p->port_ = ntohs(a.sin_port);
  p->acceptor_ = std::thread([raw = p.get()] { raw->AcceptLoop(); });
  return p;
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> pumps;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pumps.swap(pumps_);
  }
  for (auto& t : pumps) t.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void TcpProxy::CutAll() { cut_generation_.fetch_add(1); }

void TcpProxy::AcceptLoop() {
  while (!stop_) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 50) <= 0) continue;
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    const int upstream = ConnectLoopback(target_port_);
    if (upstream < 0) {
      ::close(client);
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    pumps_.emplace_back([this, client, upstream] { Pump(client, upstream); });
  }
}

void TcpProxy::Pump(int client_fd, int upstream_fd) {
  const int generation = cut_generation_.load();
  auto last_byte = std::chrono::steady_clock::now();
  char buf[64 * 1024];
  bool open = true;
  while (open && !stop_) {
    pollfd fds[2] = {{client_fd, POLLIN, 0}, {upstream_fd, POLLIN, 0}};
    const int n = ::poll(fds, 2, 20);
    if (cut_generation_.load() != generation) {
      idle_cuts_.fetch_add(1);
      break;
    }
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) {
      if (idle_cut_.count() > 0 && std::chrono::steady_clock::now() - last_byte >= idle_cut_) {
        idle_cuts_.fetch_add(1);
        break;
      }
      continue;
    }
    for (int i = 0; i < 2 && open; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t r = ::recv(fds[i].fd, buf, sizeof(buf), 0);
      if (r <= 0 || !WriteAll(fds[1 - i].fd, buf, r)) {
        open = false;
        break;
      }
      last_byte = std::chrono::steady_clock::now();
    }
  }
  // An abortive close (RST), as a load balancer that drops a connection sends.
  linger hard{1, 0};
  ::setsockopt(client_fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
  ::setsockopt(upstream_fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
  ::close(client_fd);
  ::close(upstream_fd);
}

}  // namespace evo2::testing
