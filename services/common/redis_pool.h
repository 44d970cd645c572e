// A pool of Redis connections for multi-threaded servers: each RPC handler borrows one for its
// duration (blocking reads such as WatchJob's XREAD hold theirs while they wait).
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"
#include "evo2/status_macros.h"
#include "redis_client.h"

namespace evo2::svc {

class RedisPool {
 public:
  // Returns the connection to the pool when destroyed.
  class Lease {
   public:
    Lease(RedisPool* pool, std::unique_ptr<RedisConnection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = default;
    ~Lease() {
      if (pool_ != nullptr && conn_ != nullptr) pool_->Return(std::move(conn_));
    }
    RedisConnection& operator*() { return *conn_; }
    RedisConnection* operator->() { return conn_.get(); }

   private:
    RedisPool* pool_;
    std::unique_ptr<RedisConnection> conn_;
  };

  explicit RedisPool(RedisOptions options, size_t max_idle = 16)
      : options_(std::move(options)), max_idle_(max_idle) {}

  // A pooled connection, or a new one (UNAVAILABLE when Redis cannot be reached).
  absl::StatusOr<Lease> Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        return Lease(this, std::move(c));
      }
    }
    ASSIGN_OR_RETURN(auto c, RedisConnection::Connect(options_));
    return Lease(this, std::move(c));
  }

  const RedisOptions& options() const { return options_; }

 private:
  void Return(std::unique_ptr<RedisConnection> conn) {
    // Restore the default timeout in case the borrower changed it for a blocking read.
    if (!conn->SetCommandTimeout(options_.command_timeout).ok()) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.size() < max_idle_) idle_.push_back(std::move(conn));
  }

  RedisOptions options_;
  size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<RedisConnection>> idle_;
};

}  // namespace evo2::svc
