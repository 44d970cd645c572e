#include "job_store.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "error_details.h"
#include "evo2/status_macros.h"
#include "job_codec.h"
#include "job_queue.h"
#include "job_scripts.h"
#include "nlohmann/json.hpp"

namespace evo2::svc {
namespace {

std::string Tag(const RedisReply& r, size_t i) {
  return r.is_array() && r.elements.size() > i ? r.elements[i].AsString() : std::string();
}

}  // namespace

absl::Status JobStore::EnsureQueues(const std::string& model) {
  return JobQueue(redis_, keys_, model).EnsureGroups();
}

absl::StatusOr<SubmitOutcome> JobStore::Submit(const NewJob& job) {
  const std::string h = keys_.Job(job.tenant, job.job_id);
  const bool has_idem = !job.idempotency_key.empty();
  nlohmann::json labels = nlohmann::json::object();
  for (const auto& [k, v] : job.labels) labels[k] = v;
  std::vector<std::string> keys = {
      h, keys_.TenantJobs(job.tenant), keys_.TenantQuota(job.tenant),
      has_idem ? keys_.Idempotency(job.tenant, job.idempotency_key) : h,
      keys_.Queue(job.model, PriorityClass(job.priority)), keys_.ActiveWork(job.model)};
  std::vector<std::string> args = {absl::StrCat(NowMicros()),
                                   job.job_id,
                                   job.request_digest,
                                   has_idem ? "1" : "0",
                                   absl::StrCat(job.idempotency_ttl_s),
                                   absl::StrCat(job.max_active_jobs),
                                   absl::StrCat(job.max_active_bases),
                                   absl::StrCat(job.bases),
                                   job.input_blob,
                                   absl::StrCat(job.ttl_s),
                                   "tenant", job.tenant,
                                   "model", job.model,
                                   "priority", absl::StrCat(static_cast<int>(job.priority)),
                                   "labels", labels.dump(),
                                   "records_total", absl::StrCat(job.records_total),
                                   "tokens_total", absl::StrCat(job.tokens_total),
                                   "max_attempts", absl::StrCat(job.max_attempts),
                                   "idem_key", job.idempotency_key};
  ASSIGN_OR_RETURN(auto r, redis_.Eval(scripts::Submit(), keys, args));
  const std::string tag = Tag(r, 0);
  if (tag == "ok") {
    // Reply: ok, entry id, the job hash as stored (HGETALL inside the script).
    SubmitOutcome out{job.job_id, false, {}};
    if (r.is_array() && r.elements.size() > 2) {
      out.job = JobFromFields(FieldsFromReply(r.elements[2]));
    }
    return out;
  }
  if (tag == "replay") return SubmitOutcome{Tag(r, 1), true, {}};
  if (tag == "conflict") {
    return absl::AlreadyExistsError(absl::StrCat("idempotency key '", job.idempotency_key,
                                                 "' was already used for job ", Tag(r, 1),
                                                 " with a different request"));
  }
  int64_t active = 0;
  absl::SimpleAtoi(Tag(r, 1), &active);
  if (tag == "quota_jobs") {
    return TenantQuotaError(
        "TENANT_ACTIVE_JOBS", job.tenant,
        absl::StrCat("tenant quota: ", active, " jobs already queued or running (limit ",
                     job.max_active_jobs, ")"),
        active + 1, job.max_active_jobs, job.quota_retry_delay);
  }
  if (tag == "quota_bases") {
    return TenantQuotaError(
        "TENANT_ACTIVE_BASES", job.tenant,
        absl::StrCat("tenant quota: ", active, " bases already queued or running + ", job.bases,
                     " in this job exceeds the limit of ", job.max_active_bases),
        active + job.bases, job.max_active_bases, job.quota_retry_delay);
  }
  return absl::InternalError(absl::StrCat("submit script: unexpected reply '", tag, "'"));
}

absl::StatusOr<evo2::v1::Job> JobStore::GetByKey(const std::string& job_key) {
  ASSIGN_OR_RETURN(auto r, redis_.Command({"HGETALL", job_key}));
  FieldMap f = FieldsFromReply(r);
  if (f.empty()) return absl::NotFoundError("job not found");
  return JobFromFields(f);
}

absl::StatusOr<evo2::v1::Job> JobStore::Get(const std::string& tenant, const std::string& id) {
  auto job = GetByKey(keys_.Job(tenant, id));
  if (absl::IsNotFound(job.status())) {
    return absl::NotFoundError(absl::StrCat("job '", id, "' not found"));
  }
  return job;
}

absl::StatusOr<evo2::v1::Job> JobStore::Cancel(const std::string& tenant, const std::string& id) {
  ASSIGN_OR_RETURN(
      auto r, redis_.Eval(scripts::Cancel(), {keys_.Job(tenant, id)}, {absl::StrCat(NowMicros())}));
  const std::string tag = Tag(r, 0);
  if (tag == "notfound") return absl::NotFoundError(absl::StrCat("job '", id, "' not found"));
  if (tag == "terminal" && Tag(r, 1) != "CANCELLED") {
    return absl::FailedPreconditionError(
        absl::StrCat("job '", id, "' already ", Tag(r, 1), "; nothing to cancel"));
  }
  return Get(tenant, id);
}

absl::StatusOr<std::vector<evo2::v1::JobEvent>> JobStore::ReadEvents(const std::string& tenant,
                                                                     const std::string& id,
                                                                     const std::string& after_id,
                                                                     int64_t block_ms,
                                                                     int count) {
  const std::string key = keys_.Events(tenant, id);
  std::vector<evo2::v1::JobEvent> out;
  auto r = redis_.Command({"XRANGE", key, after_id.empty() ? "-" : "(" + after_id, "+", "COUNT",
                           absl::StrCat(count)});
  if (!r.ok()) {
    if (absl::StrContains(r.status().message(), "Invalid stream ID")) {
      return absl::InvalidArgumentError(absl::StrCat("after_event_id '", after_id,
                                                     "' is not an event id"));
    }
    return r.status();
  }
  for (const auto& e : r->elements) out.push_back(EventFromEntry(e));
  if (!out.empty() || block_ms <= 0) return out;
  ASSIGN_OR_RETURN(auto b, redis_.Command({"XREAD", "COUNT", absl::StrCat(count), "BLOCK",
                                           absl::StrCat(block_ms), "STREAMS", key,
                                           after_id.empty() ? "0-0" : after_id}));
  // Reply: [[key, [entries...]]] or nil on timeout.
  if (b.is_array() && !b.elements.empty() && b.elements[0].elements.size() == 2) {
    for (const auto& e : b.elements[0].elements[1].elements) out.push_back(EventFromEntry(e));
  }
  return out;
}

absl::StatusOr<std::optional<std::string>> JobStore::GetResult(const std::string& tenant,
                                                               const std::string& id,
                                                               int64_t index) {
  ASSIGN_OR_RETURN(auto r,
                   redis_.Command({"HGET", keys_.Results(tenant, id), absl::StrCat(index)}));
  if (r.is_nil()) return std::optional<std::string>();
  return std::optional<std::string>(std::move(r.str));
}

absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> JobStore::ListIds(
    const std::string& tenant, int64_t before_us, int count) {
  ASSIGN_OR_RETURN(auto r,
                   redis_.Command({"ZREVRANGEBYSCORE", keys_.TenantJobs(tenant),
                                   before_us > 0 ? absl::StrCat("(", before_us) : "+inf", "-inf",
                                   "WITHSCORES", "LIMIT", "0", absl::StrCat(count)}));
  std::vector<std::pair<std::string, int64_t>> out;
  for (size_t i = 0; i + 1 < r.elements.size(); i += 2) {
    double score = 0;
    absl::SimpleAtod(r.elements[i + 1].AsString(), &score);
    out.emplace_back(r.elements[i].AsString(), static_cast<int64_t>(score));
  }
  return out;
}

absl::Status JobStore::ForgetId(const std::string& tenant, const std::string& id) {
  return redis_.Command({"ZREM", keys_.TenantJobs(tenant), id}).status();
}

absl::StatusOr<ClaimOutcome> JobStore::Claim(const std::string& job_key, const std::string& queue,
                                             const std::string& entry_id,
                                             const std::string& worker, int64_t lease_until_us,
                                             const std::map<std::string, std::string>& prov) {
  std::vector<std::string> args = {absl::StrCat(NowMicros()), worker, entry_id,
                                   absl::StrCat(lease_until_us)};
  for (const auto& [k, v] : prov) {
    args.push_back(k);
    args.push_back(v);
  }
  ASSIGN_OR_RETURN(auto r,
                   redis_.Eval(scripts::Claim(), {job_key, queue, keys_.DeadLetter()}, args));
  ClaimOutcome out;
  const std::string tag = Tag(r, 0);
  int attempt = 0;
  absl::SimpleAtoi(Tag(r, 1), &attempt);
  if (tag == "run") {
    out.kind = ClaimOutcome::Kind::kRun;
    out.attempt = attempt;
  } else if (tag == "dead") {
    out.kind = ClaimOutcome::Kind::kDeadLettered;
    out.attempt = attempt;
  } else {
    out.kind = ClaimOutcome::Kind::kSkip;
    out.detail = Tag(r, 1);
  }
  return out;
}

absl::StatusOr<WriteOutcome> JobStore::ParseWrite(absl::StatusOr<RedisReply> reply) {
  ASSIGN_OR_RETURN(const RedisReply r, std::move(reply));
  WriteOutcome out;
  const std::string tag = Tag(r, 0);
  if (tag == "fenced") {
    out.fenced = true;
    out.detail = Tag(r, 1);
    return out;
  }
  out.detail = tag;
  if (tag == "ok") {
    out.cancel_requested = Tag(r, 1) == "1";
    out.added = Tag(r, 2) == "1";
  }
  return out;
}

absl::StatusOr<WriteOutcome> JobStore::Heartbeat(const std::string& job_key,
                                                 const std::string& queue,
                                                 const std::string& entry_id,
                                                 const std::string& worker, int attempt,
                                                 int64_t lease_until_us) {
  return ParseWrite(redis_.Eval(scripts::Heartbeat(), {job_key, queue},
                                {absl::StrCat(NowMicros()), worker, absl::StrCat(attempt),
                                 entry_id, absl::StrCat(lease_until_us)}));
}

absl::StatusOr<WriteOutcome> JobStore::PutResult(const std::string& job_key,
                                                 const std::string& worker, int attempt,
                                                 int64_t record_index, const std::string& blob,
                                                 int64_t tokens, const std::string& record_name) {
  return ParseWrite(redis_.Eval(
      scripts::PutResult(), {job_key},
      {absl::StrCat(NowMicros()), worker, absl::StrCat(attempt), absl::StrCat(record_index), blob,
       absl::StrCat(tokens), record_name}));
}

absl::StatusOr<WriteOutcome> JobStore::EmitTokens(const std::string& job_key,
                                                  const std::string& worker, int attempt,
                                                  int64_t record_index,
                                                  const std::string& record_name,
                                                  const evo2::v1::GeneratedTokens& tokens) {
  return ParseWrite(redis_.Eval(
      scripts::EmitTokens(), {job_key},
      {absl::StrCat(NowMicros()), worker, absl::StrCat(attempt), absl::StrCat(record_index),
       record_name, absl::StrCat(tokens.sample()), absl::StrCat(tokens.first_index()),
       tokens.bases(), EncodeLogProbs(tokens.log_probs())}));
}

absl::StatusOr<WriteOutcome> JobStore::EmitVariantProgress(
    const std::string& job_key, const std::string& worker, int attempt,
    const evo2::v1::VariantProgress& progress) {
  return ParseWrite(redis_.Eval(
      scripts::EmitVariantProgress(), {job_key},
      {absl::StrCat(NowMicros()), worker, absl::StrCat(attempt),
       absl::StrCat(progress.records_done()), absl::StrCat(progress.records_total()),
       absl::StrCat(progress.windows_scored()), absl::StrCat(progress.tokens_scored())}));
}

absl::StatusOr<WriteOutcome> JobStore::Finish(const std::string& job_key,
                                              const std::string& worker, int attempt,
                                              evo2::v1::JobState state,
                                              const evo2::v1::JobError& error,
                                              const std::string& message) {
  return ParseWrite(redis_.Eval(
      scripts::Finish(), {job_key},
      {absl::StrCat(NowMicros()), worker, absl::StrCat(attempt), StateName(state),
       absl::StrCat(error.code()), error.message(), absl::StrCat(error.record_index()),
       error.record_name(), message}));
}

absl::StatusOr<WriteOutcome> JobStore::FailAttempt(const std::string& job_key,
                                                   const std::string& worker, int attempt,
                                                   const evo2::v1::JobError& error,
                                                   const std::string& model, int64_t retry_at_us) {
  return ParseWrite(
      redis_.Eval(scripts::FailAttempt(), {job_key, keys_.DeadLetter(), keys_.RetryQueue(model)},
                  {absl::StrCat(NowMicros()), worker, absl::StrCat(attempt),
                   absl::StrCat(error.code()), error.message(), absl::StrCat(error.record_index()),
                   error.record_name(), absl::StrCat(retry_at_us)}));
}

absl::StatusOr<WriteOutcome> JobStore::Release(const std::string& job_key,
                                               const std::string& worker, int attempt) {
  return ParseWrite(redis_.Eval(scripts::Release(), {job_key},
                                {absl::StrCat(NowMicros()), worker, absl::StrCat(attempt)}));
}

absl::StatusOr<std::string> JobStore::GetInput(const std::string& job_key) {
  ASSIGN_OR_RETURN(auto r, redis_.Command({"GET", job_key + ":input"}));
  if (r.is_nil()) return absl::NotFoundError(absl::StrCat("input of ", job_key, " is missing"));
  return std::move(r.str);
}

absl::StatusOr<std::vector<int64_t>> JobStore::StoredRecordIndices(const std::string& job_key) {
  ASSIGN_OR_RETURN(auto r, redis_.Command({"HKEYS", job_key + ":results"}));
  std::vector<int64_t> out;
  for (const auto& e : r.elements) {
    int64_t i = 0;
    if (absl::SimpleAtoi(e.AsString(), &i)) out.push_back(i);
  }
  return out;
}

}  // namespace evo2::svc
