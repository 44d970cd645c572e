#include "record_capacity_cache.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "log_line.h"

namespace evo2::svc {

RecordCapacityCache::RecordCapacityCache(RedisOptions redis, JobKeys keys,
                                         std::vector<std::string> models,
                                         RecordCapacityCacheOptions options)
    : keys_(std::move(keys)),
      models_(std::move(models)),
      options_(options),
      redis_(std::move(redis)) {
  // A refresh waits at most this long on a Redis that does not answer (paused, partitioned),
  // so that Stop() at shutdown is not held up by the default 10 s command timeout.
  redis_.command_timeout = std::min(redis_.command_timeout, absl::Seconds(2));
  Refresh();
  thread_.Start(options_.refresh_interval, [this] { Refresh(); });
}

RecordCapacityCache::~RecordCapacityCache() { Stop(); }

void RecordCapacityCache::Stop() { thread_.Stop(); }

std::vector<RecordCapacity> RecordCapacityCache::Live(const std::string& model) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!has_view_) return {};
  if (refresh_failing_ &&
      Clock::now() - refreshed_at_ > absl::ToChronoMilliseconds(options_.max_stale)) {
    return {};
  }
  auto it = view_.find(model);
  return it == view_.end() ? std::vector<RecordCapacity>{} : it->second;
}

void RecordCapacityCache::Refresh() {
  absl::Status status = absl::OkStatus();
  std::map<std::string, std::vector<RecordCapacity>> fresh;
  if (conn_ == nullptr) {
    auto c = RedisConnection::Connect(redis_);
    if (c.ok()) {
      conn_ = std::move(*c);
    } else {
      status = c.status();
    }
  }
  for (const std::string& model : models_) {
    if (!status.ok()) break;
    auto live = LiveRecordCapacities(*conn_, keys_, model);
    if (live.ok()) {
      fresh[model] = *std::move(live);
    } else {
      status = live.status();
    }
  }
  bool was_failing = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    was_failing = refresh_failing_;
    // On failure the last view stays; Live() drops it once it is max_stale old.
    refresh_failing_ = !status.ok();
    if (status.ok()) {
      view_ = std::move(fresh);
      refreshed_at_ = Clock::now();
      has_view_ = true;
    }
  }
  // One line per outage and one at its end, not one per refresh.
  if (!status.ok() && !was_failing) {
    LogLine() << "evo2-api: reading the workers' record capacities failed: " << status
              << "; keeping the last view for up to " << options_.max_stale
              << ", then only the configured limits apply";
  }
  if (status.ok() && was_failing) {
    LogLine() << "evo2-api: reading the workers' record capacities works again";
  }
}

}  // namespace evo2::svc
