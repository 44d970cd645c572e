#include "redis_durability.h"

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "prometheus/gauge.h"

namespace evo2::svc {
namespace {

// The value of one parameter from CONFIG GET's [name, value] reply.
absl::StatusOr<std::string> ConfigValue(RedisConnection& redis, const std::string& name) {
  auto reply = redis.Command({"CONFIG", "GET", name});
  if (absl::IsUnavailable(reply.status())) return reply.status();
  if (!reply.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot verify Redis persistence: CONFIG GET ", name,
                     " failed: ", reply.status().message()));
  }
  if (!reply->is_array() || reply->elements.size() != 2) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot verify Redis persistence: CONFIG GET ", name, " returned nothing"));
  }
  return reply->elements[1].AsString();
}

}  // namespace

absl::Status CheckRedisDurable(RedisConnection& redis) {
  ASSIGN_OR_RETURN(const std::string appendonly, ConfigValue(redis, "appendonly"));
  ASSIGN_OR_RETURN(const std::string appendfsync, ConfigValue(redis, "appendfsync"));
  if (appendonly == "yes" && appendfsync == "always") return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "Redis runs with appendonly=", appendonly, " appendfsync=", appendfsync,
      "; acknowledged jobs survive a Redis crash only with appendonly=yes appendfsync=always"));
}

void ExportRedisDurable(prometheus::Registry& registry, bool durable) {
  prometheus::BuildGauge()
      .Name("evo2_api_redis_durable")
      .Help("1 when Redis fsyncs every write before acknowledging it (appendfsync always)")
      .Register(registry)
      .Add({})
      .Set(durable ? 1 : 0);
}

}  // namespace evo2::svc
