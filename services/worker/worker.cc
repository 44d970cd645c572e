#include "worker.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "evo2/status_macros.h"
#include "job_codec.h"
#include "log_line.h"
#include "record_generator.h"
#include "reference_registry.h"
#include "variant_job.h"

namespace evo2::svc {
namespace {

// Codes for which another attempt cannot succeed: the job fails at once instead of retrying.
bool IsPermanent(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

int64_t ToMs(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

// Results a job produces: one per record, one (the output files) for a variant-scoring job.
int64_t ResultCount(const evo2::v1::JobInput& input) {
  return input.has_variants() ? 1 : input.records_size();
}

// Name of result `index`, for events and errors.
std::string ResultName(const evo2::v1::JobInput& input, int64_t index) {
  if (input.has_variants()) return kVariantResultName;
  return input.records(static_cast<int>(index)).name();
}

}  // namespace

struct Worker::RunningJob {
  std::string job_key, queue, entry;
  int attempt = 0;
  std::atomic<bool> engine_cancel{false};     // handed to the engine
  std::atomic<bool> cancel_requested{false};  // CancelJob reached the job
  std::atomic<bool> lost{false};              // lease taken over: stop without writing
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
};

Worker::Worker(WorkerOptions options, RecordScorer& scorer, WorkerMetrics& metrics)
    : options_(std::move(options)),
      scorer_(scorer),
      metrics_(metrics),
      health_files_(options_.health_dir) {
  if (!options_.results_dir.empty()) {
    results_store_ = std::make_unique<ResultsStore>(options_.results_dir);
  }
  if (!options_.fault_fail_records_regex.empty()) {
    fail_regex_ = std::make_unique<std::regex>(options_.fault_fail_records_regex);
  }
}

void Worker::RequestStop() {
  stop_requests_.fetch_add(1);
  PublishReady();
}

void Worker::PublishReady() {
  const bool ready = redis_reachable_ && stop_requests_ == 0;
  metrics_.ready.Set(ready ? 1 : 0);
  health_files_.SetReady(ready);
}

absl::Status Worker::Run() {
  RETURN_IF_ERROR(health_files_.Init());
  RedisOptions ro = options_.redis;
  ro.command_timeout = options_.block + absl::Seconds(5);
  ASSIGN_OR_RETURN(conn_, RedisConnection::Connect(ro));
  store_ = std::make_unique<JobStore>(*conn_, options_.keys);
  queue_ = std::make_unique<JobQueue>(*conn_, options_.keys, options_.model);
  RETURN_IF_ERROR(queue_->EnsureGroups());
  RETURN_IF_ERROR(RegisterReferences(*conn_));
  RETURN_IF_ERROR(AdvertiseCapacity(*conn_));

  std::atomic<bool> sampler_stop{false};
  std::thread sampler([&] {
    std::unique_ptr<RedisConnection> c;
    while (!sampler_stop) {
      if (c == nullptr) {
        auto r = RedisConnection::Connect(options_.redis);
        if (r.ok()) c = std::move(*r);
      }
      if (c != nullptr) {
        SampleQueue(*c);
        // Again every interval: a Redis that lost its data (no AOF, a failover to an empty
        // replica) learns the references back without a worker restart.
        (void)RegisterReferences(*c);
        if (auto st = AdvertiseCapacity(*c); !st.ok()) {
          LogLine() << "evo2-worker " << options_.worker_id
                    << ": advertising record capacity failed: " << st;
        }
      }
      for (int i = 0; i < ToMs(options_.metrics_interval) / 50 && !sampler_stop; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  });
  RedisHealthOptions health_opts;
  health_opts.redis = options_.redis;
  health_opts.interval = options_.health_interval;
  health_opts.failures_to_down = options_.health_failures;
  health_opts.successes_to_up = options_.health_successes;
  RedisHealthChecker redis_health(health_opts, [this](bool reachable) {
    LogLine() << "evo2-worker " << options_.worker_id << ": redis "
              << (reachable ? "reachable again: ready" : "unreachable: not ready");
    redis_reachable_ = reachable;
    PublishReady();
  });
  PublishReady();
  LogLine() << "evo2-worker " << options_.worker_id << ": pulling jobs for model '"
            << options_.model << "'";
  while (stop_requests_ == 0) {
    health_files_.TouchAlive();
    auto entries = NextEntries();
    if (!entries.ok()) {
      LogLine() << "evo2-worker " << options_.worker_id
                << ": queue read failed: " << entries.status() << "; retrying";
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      (void)queue_->EnsureGroups();  // recreates the group after a Redis wipe
      continue;
    }
    for (const QueueEntry& e : *entries) Process(e);
  }
  redis_health.Stop();
  metrics_.ready.Set(0);
  health_files_.SetReady(false);
  sampler_stop = true;
  sampler.join();
  if (options_.record_capacity.has_value()) {
    // A stopping worker holds no records any more; the API falls back at once, not after the TTL.
    (void)WithdrawRecordCapacity(*conn_, options_.keys, options_.model, options_.worker_id);
  }
  LogLine() << "evo2-worker " << options_.worker_id << ": stopped";
  return absl::OkStatus();
}

absl::StatusOr<std::vector<QueueEntry>> Worker::NextEntries() {
  // 0. Queue jobs whose retry backoff is over (the promote script is atomic: any number of
  // workers may run it at once).
  RETURN_IF_ERROR(queue_->PromoteDueRetries().status());
  // 1. Reclaim entries whose holder stopped heartbeating (every half visibility timeout).
  const absl::Time now = absl::Now();
  if (now - last_reclaim_ >= options_.visibility_timeout / 2) {
    last_reclaim_ = now;
    ASSIGN_OR_RETURN(std::vector<QueueEntry> reclaimed,
                     queue_->Reclaim(options_.worker_id, options_.visibility_timeout));
    if (!reclaimed.empty()) {
      LogLine() << "evo2-worker " << options_.worker_id << ": reclaimed stale entry "
                << reclaimed[0].id << " of " << reclaimed[0].job_key;
      last_reclaim_ = absl::InfinitePast();  // there may be more
      return reclaimed;
    }
  }
  // 2. New entries, highest priority first; 3. or wait for one.
  return queue_->ReadNew(options_.worker_id, options_.block);
}

void Worker::Process(const QueueEntry& e) {
  std::map<std::string, std::string> prov = options_.provenance;
  prov["prov_worker"] = options_.worker_id;
  const int64_t lease = NowMicros() + absl::ToInt64Microseconds(options_.visibility_timeout);
  auto claim = store_->Claim(e.job_key, e.queue, e.id, options_.worker_id, lease, prov);
  if (!claim.ok()) {
    LogLine() << "evo2-worker " << options_.worker_id << ": claim of " << e.job_key
              << " failed: " << claim.status() << " (entry stays pending)";
    return;
  }
  switch (claim->kind) {
    case ClaimOutcome::Kind::kSkip:
      LogLine() << "evo2-worker " << options_.worker_id << ": skipped " << e.job_key << " ("
                << claim->detail << ")";
      return;
    case ClaimOutcome::Kind::kDeadLettered:
      metrics_.JobOutcome("dead_lettered");
      LogLine() << "evo2-worker " << options_.worker_id << ": dead-lettered " << e.job_key
                << " after " << claim->attempt << " attempts";
      return;
    case ClaimOutcome::Kind::kRun:
      RunClaimed(e, claim->attempt);
      return;
  }
}

void Worker::HeartbeatLoop(RunningJob* job) {
  // One heartbeat thread at a time (jobs run one after another): it reuses one connection.
  std::unique_ptr<RedisConnection>& c = heartbeat_conn_;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(job->mu);
      if (job->cv.wait_for(lock,
                           std::chrono::milliseconds(ToMs(options_.heartbeat_interval)),
                           [&] { return job->done; })) {
        return;
      }
    }
    if (stop_requests_ >= 2) job->engine_cancel = true;  // hard stop: abort the record
    if (c == nullptr) {
      auto r = RedisConnection::Connect(options_.redis);
      if (!r.ok()) continue;
      c = std::move(*r);
    }
    JobStore store(*c, options_.keys);
    const int64_t lease = NowMicros() + absl::ToInt64Microseconds(options_.visibility_timeout);
    auto hb = store.Heartbeat(job->job_key, job->queue, job->entry, options_.worker_id,
                              job->attempt, lease);
    if (!hb.ok()) {
      LogLine() << "evo2-worker " << options_.worker_id << ": heartbeat failed: " << hb.status();
      continue;
    }
    if (hb->fenced) {
      LogLine() << "evo2-worker " << options_.worker_id << ": lost " << job->job_key << " ("
                << hb->detail << "); abandoning it";
      job->lost = true;
      job->engine_cancel = true;
    } else if (hb->cancel_requested) {
      job->cancel_requested = true;
      job->engine_cancel = true;
    }
  }
}

absl::Status Worker::ScoreWithFaults(const evo2::v1::JobInput& input, int64_t index,
                                     RunningJob* job, evo2::v1::RecordResult* out) {
  const std::string name = ResultName(input, index);
  if (options_.fault_record_delay > absl::ZeroDuration()) {
    // Said aloud so that fault tests can signal the worker while a record is surely in progress.
    LogLine() << "evo2-worker " << options_.worker_id << ": record #" << index
              << " started, injected delay " << absl::FormatDuration(options_.fault_record_delay);
    const absl::Time until = absl::Now() + options_.fault_record_delay;
    while (absl::Now() < until) {
      if (job->engine_cancel) return absl::CancelledError("cancelled during injected delay");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  if (fail_regex_ != nullptr && std::regex_search(name, *fail_regex_)) {
    return absl::Status(
        options_.fault_fail_code,
        absl::StrCat("injected fault: record '", name, "' always fails (--fault-fail-records)"));
  }
  if (input.has_variants()) {
    // Progress through the VCF goes out as VARIANTS_PROGRESS events by the same fenced write
    // as generated tokens, which also tells of a lost lease or a cancel.
    auto publish = [&](const evo2::v1::VariantProgress& p) -> absl::Status {
      ASSIGN_OR_RETURN(WriteOutcome w, store_->EmitVariantProgress(job->job_key, options_.worker_id,
                                                                   job->attempt, p));
      if (w.fenced) {
        job->lost = true;
        job->engine_cancel = true;
        return absl::CancelledError("lease lost while scoring variants");
      }
      if (w.cancel_requested) {
        job->cancel_requested = true;
        job->engine_cancel = true;
      }
      return absl::OkStatus();
    };
    VariantJobEngine engine;
    engine.model = &scorer_.model();
    engine.vcf_model_name = options_.vcf_model_name;
    engine.vcf_precision_name = options_.vcf_precision_name;
    engine.references = options_.references;
    engine.worker_id = options_.worker_id;
    ASSIGN_OR_RETURN(*out, ScoreVariantJob(engine, input, &job->engine_cancel, publish));
    return absl::OkStatus();
  }
  if (input.has_generation()) {
    // Bases go out as TOKENS_GENERATED events while they are drawn; the same fenced write tells
    // of a lost lease or a cancel, which stop the generation at the next step.
    auto publish = [&](const evo2::v1::GeneratedTokens& t) -> absl::Status {
      ASSIGN_OR_RETURN(WriteOutcome w, store_->EmitTokens(job->job_key, options_.worker_id,
                                                          job->attempt, index, name, t));
      if (w.fenced) {
        job->lost = true;
        job->engine_cancel = true;
        return absl::CancelledError("lease lost while generating");
      }
      if (w.cancel_requested) {
        job->cancel_requested = true;
        job->engine_cancel = true;
      }
      return absl::OkStatus();
    };
    ASSIGN_OR_RETURN(*out,
                     GenerateRecord(scorer_.model(), input, index, &job->engine_cancel, publish));
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(*out, scorer_.Score(input, index, &job->engine_cancel));
  return absl::OkStatus();
}

absl::StatusOr<std::string> Worker::EncodeResult(const std::string& job_key, int64_t index,
                                                 int attempt,
                                                 const evo2::v1::RecordResult& result) {
  std::string blob;
  if (!result.SerializeToString(&blob)) return absl::InternalError("cannot serialize a result");
  if (results_store_ == nullptr ||
      static_cast<int64_t>(blob.size()) <= options_.results_inline_max_bytes) {
    return blob;
  }
  std::string tenant, job_id;
  if (!options_.keys.SplitJob(job_key, &tenant, &job_id)) {
    return absl::InternalError(absl::StrCat("'", job_key, "' is not a job key"));
  }
  // One file per attempt: Redis keeps the first result written (HSETNX), never a file that a
  // later attempt rewrote.
  return results_store_->Put(tenant, job_id, index, absl::StrCat(options_.worker_id, ".", attempt),
                             blob);
}

void Worker::RunClaimed(const QueueEntry& e, int attempt) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string& me = options_.worker_id;
  LogLine() << "evo2-worker " << me << ": running " << e.job_key << " (attempt " << attempt << ")";
  RunningJob rj;
  rj.job_key = e.job_key;
  rj.queue = e.queue;
  rj.entry = e.id;
  rj.attempt = attempt;

  auto fail = [&](const absl::Status& s, int64_t index, const std::string& name) {
    evo2::v1::JobError err;
    err.set_code(static_cast<int32_t>(s.code()));
    err.set_message(std::string(s.message()));
    err.set_record_index(index);
    err.set_record_name(name);
    return err;
  };

  auto job = store_->GetByKey(e.job_key);
  if (job.ok()) {
    if (attempt == 1) {
      metrics_.queue_wait_seconds.Observe(
          static_cast<double>(NowMicros() - job->create_time_us()) / 1e6);
    } else {
      metrics_.redeliveries.Increment();
    }
  }
  evo2::v1::JobInput input;
  auto blob = store_->GetInput(e.job_key);
  if (!blob.ok() || !input.ParseFromString(*blob)) {
    absl::Status s = blob.ok() ? absl::DataLossError("job input is corrupt") : blob.status();
    (void)store_->Finish(e.job_key, me, attempt, evo2::v1::JOB_STATE_FAILED, fail(s, -1, ""),
                         "input unreadable");
    metrics_.JobOutcome("failed");
    return;
  }
  std::set<int64_t> done;
  if (auto stored = store_->StoredRecordIndices(e.job_key); stored.ok()) {
    done.insert(stored->begin(), stored->end());
  }

  metrics_.busy.Set(1);
  std::thread heartbeat([&] { HeartbeatLoop(&rj); });
  std::string outcome;
  absl::StatusOr<WriteOutcome> final_write = WriteOutcome{};
  int64_t i = 0;
  const int64_t n = ResultCount(input);
  for (; i < n && outcome.empty(); ++i) {
    if (done.count(i)) continue;
    if (rj.lost) {
      outcome = "lost";
      break;
    }
    if (rj.cancel_requested) break;
    if (stop_requests_ > 0) {
      final_write = store_->Release(e.job_key, me, attempt);
      outcome = "released";
      break;
    }
    evo2::v1::RecordResult res;
    absl::Status s = ScoreWithFaults(input, i, &rj, &res);
    std::string out_blob;
    if (s.ok()) {
      res.set_worker_id(me);
      // A results store that cannot be written is a retryable failure of the attempt.
      absl::StatusOr<std::string> encoded = EncodeResult(e.job_key, i, attempt, res);
      if (encoded.ok()) {
        out_blob = std::move(*encoded);
      } else {
        s = encoded.status();
      }
    }
    const std::string name = ResultName(input, i);
    if (!s.ok()) {
      if (rj.lost) {
        outcome = "lost";
      } else if (rj.cancel_requested) {
        break;
      } else if (absl::IsCancelled(s) && stop_requests_ > 0) {
        final_write = store_->Release(e.job_key, me, attempt);
        outcome = "released";
      } else if (IsPermanent(s)) {
        final_write = store_->Finish(e.job_key, me, attempt, evo2::v1::JOB_STATE_FAILED,
                                     fail(s, i, name), "failed");
        outcome = "failed";
      } else {
        const absl::Duration delay = options_.retry_backoff.Delay(attempt, rng_);
        final_write = store_->FailAttempt(e.job_key, me, attempt, fail(s, i, name), options_.model,
                                          NowMicros() + absl::ToInt64Microseconds(delay));
        outcome = final_write.ok() && final_write->detail == "dead" ? "dead_lettered" : "retried";
      }
      LogLine() << "evo2-worker " << me << ": record #" << i << " of " << e.job_key << ": " << s
                << " -> " << outcome;
      break;
    }
    const int64_t tokens = res.num_tokens();
    absl::StatusOr<WriteOutcome> w = absl::UnavailableError("not tried");
    // Redis may be restarting: retry the (idempotent) write for a while before giving up; the
    // entry then stays pending and the job is reclaimed after the visibility timeout.
    for (int tries = 0; tries < 40; ++tries) {
      w = store_->PutResult(e.job_key, me, attempt, i, out_blob, tokens, name);
      if (w.ok() || !absl::IsUnavailable(w.status())) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    if (!w.ok() || w->fenced) {
      LogLine() << "evo2-worker " << me << ": storing record #" << i << " of " << e.job_key
                << " failed: " << (w.ok() ? "lease lost" : w.status().ToString());
      outcome = "lost";
      break;
    }
    health_files_.TouchAlive();
    metrics_.records_processed.Increment();
    metrics_.tokens_processed.Increment(static_cast<double>(tokens));
    metrics_.forward_seconds.Observe(res.forward_seconds());
    // RecordScorer::Score is one engine call for this one record.
    metrics_.batch_size_records.Observe(1);
    // The workspace grows with the longest record seen, so sample after each one.
    if (auto bytes = scorer_.device_memory_bytes(); bytes.has_value())
      metrics_.device_memory_bytes.Set(static_cast<double>(*bytes));
    if (res.forward_seconds() > 0) {
      metrics_.tokens_per_second.Set(static_cast<double>(tokens) / res.forward_seconds());
    }
    if (w->cancel_requested) rj.cancel_requested = true;
  }
  if (outcome.empty()) {
    if (rj.cancel_requested && i < n) {
      final_write = store_->Finish(e.job_key, me, attempt, evo2::v1::JOB_STATE_CANCELLED, {},
                                   absl::StrCat("cancelled after ", i, " of ", n, " records"));
      outcome = "cancelled";
    } else {
      // Every record is stored (a cancel that arrived during the last record changes nothing).
      for (int tries = 0; tries < 40; ++tries) {
        final_write = store_->Finish(e.job_key, me, attempt, evo2::v1::JOB_STATE_SUCCEEDED, {},
                                     "succeeded");
        if (final_write.ok() || !absl::IsUnavailable(final_write.status())) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
      outcome = "succeeded";
    }
  }
  if (!final_write.ok() || final_write->fenced) {
    LogLine() << "evo2-worker " << me << ": final write for " << e.job_key << " (" << outcome
              << ") failed: "
              << (final_write.ok() ? "lease lost" : final_write.status().ToString());
    outcome = "lost";
  }
  {
    std::lock_guard<std::mutex> lock(rj.mu);
    rj.done = true;
  }
  rj.cv.notify_all();
  heartbeat.join();
  metrics_.busy.Set(0);
  metrics_.JobOutcome(outcome);
  metrics_.job_duration_seconds.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  LogLine() << "evo2-worker " << me << ": " << e.job_key << " -> " << outcome;
}

absl::Status Worker::RegisterReferences(RedisConnection& c) {
  for (const auto& [name, path] : options_.references) {
    RETURN_IF_ERROR(RegisterReference(
        c, options_.keys, options_.model, name,
        absl::StrCat("worker ", options_.worker_id, ": ", path.filename().string())));
  }
  return absl::OkStatus();
}

absl::Status Worker::AdvertiseCapacity(RedisConnection& c) {
  if (!options_.record_capacity.has_value()) return absl::OkStatus();
  return AdvertiseRecordCapacity(c, options_.keys, options_.model, *options_.record_capacity,
                                 kCapacityTtlIntervals * options_.metrics_interval);
}

void Worker::SampleQueue(RedisConnection& c) {
  const QueueSample sample = JobQueue(c, options_.keys, options_.model).Sample();
  for (const QueueClassDepth& d : sample.classes) {
    metrics_.QueueDepth(d.priority_class, d.lag, d.pending);
  }
  metrics_.oldest_job_age_seconds.Set(sample.oldest_undelivered_s);
}

}  // namespace evo2::svc
