// Conversions between the Redis representation of a job (hash fields, event stream entries)
// and the public evo2.v1 messages.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "evo2/v1/job.pb.h"
#include "evo2/v1/jobs.pb.h"
#include "redis_client.h"

namespace evo2::svc {

using FieldMap = std::map<std::string, std::string>;

// HGETALL reply (flat field/value array) → map.
FieldMap FieldsFromReply(const RedisReply& reply);

// The job hash → Job. Unknown/missing fields keep their defaults.
evo2::v1::Job JobFromFields(const FieldMap& fields);

// Log-probs of a TOKENS_GENERATED event as stored in its stream entry: comma-separated,
// 9 significant digits (round-trips a float), and back.
std::string EncodeLogProbs(const google::protobuf::RepeatedField<float>& values);
void DecodeLogProbs(const std::string& text, google::protobuf::RepeatedField<float>* out);

// One XRANGE/XREAD entry ([id, [field, value, ...]]) → JobEvent.
evo2::v1::JobEvent EventFromEntry(const RedisReply& entry);

// "QUEUED" ↔ JOB_STATE_QUEUED.
std::string StateName(evo2::v1::JobState state);
evo2::v1::JobState StateFromName(const std::string& name);
bool IsTerminal(evo2::v1::JobState state);

// PRIORITY_HIGH → "high" (queue class); UNSPECIFIED → "normal".
std::string PriorityClass(evo2::v1::Priority priority);

int64_t NowMicros();

}  // namespace evo2::svc
