// Whether the Redis the API queues into keeps what it acknowledged. SubmitJob answers OK only
// after Redis has run the submit script, so "OK" is only as durable as Redis' AOF: with
// `appendfsync everysec` a SIGKILLed or crashed Redis can lose the last second of acknowledged
// jobs (Redis may even postpone the write() itself while a slow fsync runs). Only
// `appendonly yes` + `appendfsync always` makes every reply follow an fsync.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "prometheus/registry.h"
#include "redis_client.h"

namespace evo2::svc {

// OK when CONFIG GET reports appendonly=yes and appendfsync=always. FAILED_PRECONDITION naming
// the settings found (or that CONFIG is refused, e.g. renamed on a managed Redis) otherwise;
// UNAVAILABLE when Redis cannot be reached.
absl::Status CheckRedisDurable(RedisConnection& redis);

// Gauge evo2_api_redis_durable: 1 when the start-up check passed, 0 when the API was told to run
// anyway (--allow-non-durable-redis), so an alert can catch a development setting in production.
void ExportRedisDurable(prometheus::Registry& registry, bool durable);

}  // namespace evo2::svc
