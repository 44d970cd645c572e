#include "record_capacity_registry.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "evo2/status_macros.h"

namespace evo2::svc {
namespace {

// Drops a worker from the index only if its advertisement is still gone: a worker that renewed
// (SADD + SET) between the reader's MGET and this call stays listed. KEYS[1] = index,
// KEYS[2] = the worker's key, ARGV[1] = worker id.
const LuaScript& PruneExpired() {
  // Leaked, as job_scripts.cc's are: it lives as long as the process.
  static const LuaScript& s = *new LuaScript(R"lua(
if redis.call('EXISTS', KEYS[2]) == 0 then
  return redis.call('SREM', KEYS[1], ARGV[1])
end
return 0
)lua",
                                             LuaScript::Idempotent::kYes);
  return s;
}

}  // namespace

absl::Status AdvertiseRecordCapacity(RedisConnection& redis, const JobKeys& keys,
                                     const std::string& model, const RecordCapacity& capacity,
                                     absl::Duration ttl) {
  const int64_t ttl_ms = std::max<int64_t>(absl::ToInt64Milliseconds(ttl), 1);
  ASSIGN_OR_RETURN(
      std::vector<RedisReply> replies,
      redis.Pipeline({{"SADD", keys.RecordCapacities(model), capacity.worker_id},
                      {"SET", keys.RecordCapacity(model, capacity.worker_id),
                       absl::StrCat(capacity.log_probs_tokens, " ", capacity.logits_tokens), "PX",
                       absl::StrCat(ttl_ms)}}));
  for (const RedisReply& r : replies) {
    if (r.type == RedisReply::Type::kError) {
      return absl::InternalError(absl::StrCat("advertising record capacity: ", r.str));
    }
  }
  return absl::OkStatus();
}

absl::Status WithdrawRecordCapacity(RedisConnection& redis, const JobKeys& keys,
                                    const std::string& model, const std::string& worker_id) {
  return redis
      .Pipeline({{"SREM", keys.RecordCapacities(model), worker_id},
                 {"DEL", keys.RecordCapacity(model, worker_id)}})
      .status();
}

absl::StatusOr<std::vector<RecordCapacity>> LiveRecordCapacities(RedisConnection& redis,
                                                                 const JobKeys& keys,
                                                                 const std::string& model) {
  ASSIGN_OR_RETURN(RedisReply ids, redis.Command({"SMEMBERS", keys.RecordCapacities(model)}));
  std::vector<std::string> workers;
  for (const RedisReply& e : ids.elements) workers.push_back(e.AsString());
  std::sort(workers.begin(), workers.end());
  std::vector<RecordCapacity> live;
  if (workers.empty()) return live;
  std::vector<std::string> mget = {"MGET"};
  for (const std::string& w : workers) mget.push_back(keys.RecordCapacity(model, w));
  ASSIGN_OR_RETURN(RedisReply values, redis.Command(mget));
  for (size_t i = 0; i < workers.size() && i < values.elements.size(); ++i) {
    if (values.elements[i].is_nil()) {
      // Expired: the worker stopped renewing. Dropping it from the index keeps the set small;
      // a worker that comes back adds itself again. Best effort: the next reader retries.
      (void)redis.Eval(PruneExpired(),
                       {keys.RecordCapacities(model), keys.RecordCapacity(model, workers[i])},
                       {workers[i]});
      continue;
    }
    const std::string value = values.elements[i].AsString();
    std::vector<std::string> parts = absl::StrSplit(value, ' ');
    RecordCapacity c;
    c.worker_id = workers[i];
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &c.log_probs_tokens) ||
        !absl::SimpleAtoi(parts[1], &c.logits_tokens)) {
      return absl::InternalError(absl::StrCat("record capacity of worker '", workers[i],
                                              "' of model '", model, "' is malformed: '",
                                              value.substr(0, 80), "'"));
    }
    live.push_back(std::move(c));
  }
  return live;
}

}  // namespace evo2::svc
