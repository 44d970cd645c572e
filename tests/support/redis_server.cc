#include "support/redis_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "support/free_port.h"

namespace evo2::testing {
namespace {

// Sends an inline PING and checks for "+PONG" (or "-NOAUTH" when a password is set).
bool Pings(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const char ping[] = "PING\r\n";
    if (::write(fd, ping, sizeof(ping) - 1) == static_cast<ssize_t>(sizeof(ping) - 1)) {
      char buf[64] = {};
      ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
      ok = n > 0 && (std::strncmp(buf, "+PONG", 5) == 0 || std::strncmp(buf, "-NOAUTH", 7) == 0);
    }
  }
  ::close(fd);
  return ok;
}

}  // namespace

bool HaveRedisServer() { return std::string(EVO2_REDIS_SERVER).size() > 0 && std::filesystem::exists(EVO2_REDIS_SERVER); }

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(Options options) {
  if (!HaveRedisServer()) return absl::FailedPreconditionError("redis-server not installed");
  std::unique_ptr<RedisServer> server(new RedisServer());
  server->options_ = std::move(options);
  auto port = PickFreePort();
  if (!port.ok()) return port.status();
  server->port_ = *port;
  char tmpl[] = "/tmp/evo2-redis-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  server->dir_ = tmpl;
  if (auto s = server->Spawn(); !s.ok()) return s;
  return server;
}

absl::Status RedisServer::Spawn() {
  std::vector<std::string> args = {EVO2_REDIS_SERVER, "--port", std::to_string(port_), "--bind",
                                   "127.0.0.1", "--dir", dir_.string(), "--save", "",
                                   "--daemonize", "no", "--logfile", (dir_ / "redis.log").string()};
  if (options_.append_only) {
    args.insert(args.end(), {"--appendonly", "yes", "--appendfsync", options_.appendfsync});
  }
  if (!options_.password.empty()) args.insert(args.end(), {"--requirepass", options_.password});
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());

  pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    std::_Exit(127);
  }
  pid_ = pid;
  return WaitUntilReady();
}

absl::Status RedisServer::WaitUntilReady() {
  for (int i = 0; i < 200; ++i) {
    if (Pings(port_)) return absl::OkStatus();
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(absl::StrCat("redis-server exited early; see ", (dir_ / "redis.log").string()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(absl::StrCat("redis-server on port ", port_, " did not answer PING"));
}

void RedisServer::Kill() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

absl::Status RedisServer::KillAndRestart() {
  Kill();
  return Spawn();
}

RedisServer::~RedisServer() {
  Kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace evo2::testing
