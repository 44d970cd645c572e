#include "retry_promoter.h"

#include "job_queue.h"

namespace evo2::svc {

RetryPromoter::RetryPromoter(RedisOptions redis, JobKeys keys, std::vector<std::string> models,
                             absl::Duration interval)
    : redis_(std::move(redis)),
      keys_(std::move(keys)),
      models_(std::move(models)) {
  thread_.Start(interval, [this] { Tick(); });
}

RetryPromoter::~RetryPromoter() { Stop(); }

void RetryPromoter::Stop() { thread_.Stop(); }

void RetryPromoter::Tick() {
  if (conn_ == nullptr) {
    auto c = RedisConnection::Connect(redis_);
    if (!c.ok()) return;  // Redis down: health reports it; try again next round
    conn_ = std::move(*c);
  }
  for (const std::string& model : models_) {
    // Errors are left for the next round: promotion is idempotent and workers do it too.
    (void)JobQueue(*conn_, keys_, model).PromoteDueRetries();
  }
}

}  // namespace evo2::svc
