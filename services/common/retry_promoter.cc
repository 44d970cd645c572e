#include "retry_promoter.h"

#include "job_queue.h"

namespace evo2::svc {

RetryPromoter::RetryPromoter(RedisOptions redis, JobKeys keys, std::vector<std::string> models,
                             absl::Duration interval)
    : redis_(std::move(redis)),
      keys_(std::move(keys)),
      models_(std::move(models)),
      interval_(interval) {
  thread_ = std::thread([this] { Loop(); });
}

RetryPromoter::~RetryPromoter() { Stop(); }

void RetryPromoter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RetryPromoter::Loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, absl::ToChronoMilliseconds(interval_), [&] { return stop_; })) return;
    }
    if (conn_ == nullptr) {
      auto c = RedisConnection::Connect(redis_);
      if (!c.ok()) continue;  // Redis down: health reports it; try again next round
      conn_ = std::move(*c);
    }
    for (const std::string& model : models_) {
      // Errors are left for the next round: promotion is idempotent and workers do it too.
      (void)JobQueue(*conn_, keys_, model).PromoteDueRetries();
    }
  }
}

}  // namespace evo2::svc
