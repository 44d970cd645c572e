// A real redis-server for tests: started on a free loopback port in its own temporary
// directory, stopped (and the directory removed) when the object dies.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace evo2::testing {

class RedisServer {
 public:
  struct Options {
    bool append_only = false;             // AOF persistence (restart tests)
    std::string appendfsync = "always";   // with append_only: always | everysec | no
    std::string password;                 // requirepass when non-empty
    std::vector<std::string> extra_args;  // passed through to redis-server
  };

  // Starts redis-server and waits until it answers PING (up to ~10 s).
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start() { return Start(Options{}); }
  ~RedisServer();

  int port() const { return port_; }
  pid_t pid() const { return pid_; }  // -1 while killed
  const std::filesystem::path& dir() const { return dir_; }

  // SIGKILL the server (no save), then start it again on the same port and directory.
  absl::Status KillAndRestart();
  // Sends SIGKILL and waits for the process.
  void Kill();

 private:
  RedisServer() = default;
  absl::Status Spawn();
  absl::Status WaitUntilReady();

  Options options_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::filesystem::path dir_;
};

// True when a redis-server binary was found at configure time.
bool HaveRedisServer();

}  // namespace evo2::testing
