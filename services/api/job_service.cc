#include "job_service.h"

#include <chrono>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "enum_fields.h"
#include "error_details.h"
#include "evo2/status_macros.h"
#include "hashing.h"
#include "job_codec.h"
#include "job_store.h"
#include "reference_registry.h"
#include "utf8_fields.h"
#include "variant_validation.h"

namespace evo2::svc {
namespace {

constexpr int64_t kDefaultChunkBytes = 1 << 20;
// 3 MiB of tensor bytes + a small header stays under gRPC's default 4 MiB receive limit.
constexpr int64_t kMaxChunkBytes = 3 << 20;
constexpr int64_t kMinChunkBytes = 4 << 10;

bool ValidJobId(const std::string& id) {
  return id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

absl::Status CheckJobId(const std::string& id) {
  if (ValidJobId(id)) return absl::OkStatus();
  // Same code as an unknown id: a malformed id cannot exist.
  return absl::NotFoundError(
      absl::StrCat("job '", id.substr(0, 64), "' not found (job ids are 32 hex digits)"));
}

}  // namespace

JobServiceImpl::JobServiceImpl(ApiConfig config, ModelCatalog models, ApiKeyRegistry keys,
                               RedisPool& redis, const RecordCapacityCache& capacities,
                               prometheus::Registry& metrics)
    : config_(std::move(config)),
      models_(std::move(models)),
      api_keys_(std::move(keys)),
      redis_(redis),
      capacities_(capacities),
      results_store_(config_.results_dir),
      requests_(prometheus::BuildCounter()
                    .Name("evo2_api_requests_total")
                    .Help("gRPC requests by method and status code")
                    .Register(metrics)),
      latency_(prometheus::BuildHistogram()
                   .Name("evo2_api_request_duration_seconds")
                   .Help("Time to the end of a unary call (or of a stream), by method")
                   .Register(metrics)),
      submitted_jobs_(prometheus::BuildCounter()
                          .Name("evo2_api_jobs_submitted_total")
                          .Help("Jobs accepted and queued, by model")
                          .Register(metrics)),
      submitted_bases_(prometheus::BuildCounter()
                           .Name("evo2_api_submitted_bases_total")
                           .Help("Nucleotides in accepted jobs, by model")
                           .Register(metrics)) {
  // SubmitJob takes the request as bytes: a `string` field with invalid UTF-8 makes protobuf's
  // parser refuse the whole request before any handler runs. A streamed-unary handler keeps the
  // call unary on the wire and runs on the same synchronous thread pool as the other methods.
  const int submit = evo2::v1::SubmitJobRequest::descriptor()
                         ->file()
                         ->FindServiceByName("JobService")
                         ->FindMethodByName("SubmitJob")
                         ->index();
  MarkMethodStreamed(
      submit, new grpc::internal::StreamedUnaryHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
                  [this](grpc::ServerContext* ctx,
                         grpc::ServerUnaryStreamer<grpc::ByteBuffer, grpc::ByteBuffer>* stream) {
                    return SubmitJobRaw(ctx, stream);
                  }));
}

template <typename Fn>
grpc::Status JobServiceImpl::Instrument(const char* method, Fn&& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  absl::Status s = fn();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  requests_.Add({{"method", method}, {"code", std::string(absl::StatusCodeToString(s.code()))}})
      .Increment();
  latency_.Add({{"method", method}}, prometheus::Histogram::BucketBoundaries{
                                         0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25, 0.5, 1, 5, 30, 300})
      .Observe(secs);
  return ToGrpc(s);
}

absl::StatusOr<std::string> JobServiceImpl::Authenticate(grpc::ServerContext* ctx) const {
  const auto& md = ctx->client_metadata();
  std::string key;
  if (auto it = md.find("authorization"); it != md.end()) {
    std::string v(it->second.data(), it->second.size());
    if (!absl::StartsWithIgnoreCase(v, "bearer ")) {
      return absl::UnauthenticatedError("authorization header must be 'Bearer <key>'");
    }
    key = v.substr(7);
  } else if (auto it2 = md.find("x-api-key"); it2 != md.end()) {
    key.assign(it2->second.data(), it2->second.size());
  }
  return api_keys_.Authenticate(key);
}

grpc::Status JobServiceImpl::SubmitJobRaw(
    grpc::ServerContext* ctx,
    grpc::ServerUnaryStreamer<grpc::ByteBuffer, grpc::ByteBuffer>* stream) {
  grpc::ByteBuffer request_bytes;
  if (!stream->Read(&request_bytes)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "SubmitJob: no request message");
  }
  evo2::v1::SubmitJobResponse resp;
  grpc::Status status = Instrument("SubmitJob", [&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto tenant, Authenticate(ctx));
    if (draining_) return absl::UnavailableError("server is shutting down; retry");
    std::vector<grpc::Slice> slices;
    if (!request_bytes.Dump(&slices).ok()) return absl::InternalError("cannot read the request");
    std::string wire;
    for (const auto& slice : slices) {
      wire.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
    RETURN_IF_ERROR(CheckUtf8Fields(*evo2::v1::SubmitJobRequest::descriptor(), wire));
    evo2::v1::SubmitJobRequest req;
    if (!req.ParseFromString(wire)) {
      return absl::InvalidArgumentError("the request is not a valid evo2.v1.SubmitJobRequest");
    }
    return DoSubmit(tenant, req, &resp);
  });
  if (!status.ok()) return status;
  grpc::ByteBuffer response_bytes;
  bool own_buffer = false;
  grpc::Status encoded = grpc::SerializationTraits<evo2::v1::SubmitJobResponse>::Serialize(
      resp, &response_bytes, &own_buffer);
  if (!encoded.ok()) return encoded;
  if (!stream->Write(response_bytes)) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  }
  return grpc::Status::OK;
}

absl::Status JobServiceImpl::DoSubmit(const std::string& tenant,
                                      const evo2::v1::SubmitJobRequest& req,
                                      evo2::v1::SubmitJobResponse* resp) {
  RETURN_IF_ERROR(ValidateMetadata(req));
  RETURN_IF_ERROR(CheckEnumFields(req));
  auto model = models_.Find(req.model());
  if (!model.ok()) return WithFieldViolation(model.status(), "model");
  // From memory, not Redis: the submit below must stay one script round trip
  // (record_capacity_cache.h).
  *model =
      WithAdvertisedLimit(*std::move(model), capacities_.Live(req.model()), req.outputs().logits());
  ASSIGN_OR_RETURN(auto valid, ValidateSubmit(req, *model, config_.limits));

  NewJob job;
  job.tenant = tenant;
  job.job_id = RandomHex(16);
  job.model = req.model();
  job.priority = req.priority() == evo2::v1::PRIORITY_UNSPECIFIED ? evo2::v1::PRIORITY_NORMAL
                                                                   : req.priority();
  job.idempotency_key = req.idempotency_key();
  if (!valid.input.SerializeToString(&job.input_blob)) {
    return absl::InternalError("cannot serialize the job input");
  }
  // Digest of what the job computes + how it is queued/labelled: an identical resubmit with the
  // same key replays, anything else with that key is ALREADY_EXISTS. (JobInput has no map
  // fields, so its serialization is deterministic; labels are added in sorted order.)
  std::string canonical = job.input_blob;
  absl::StrAppend(&canonical, "|p=", static_cast<int>(job.priority));
  for (const auto& [k, v] : std::map<std::string, std::string>(req.labels().begin(),
                                                               req.labels().end())) {
    absl::StrAppend(&canonical, "|", k, "=", v);
    job.labels[k] = v;
  }
  job.request_digest = Sha256Hex(canonical);
  job.bases = valid.bases;
  job.records_total = valid.records_total;
  job.tokens_total = valid.tokens_total;
  job.max_attempts = config_.max_attempts;
  job.ttl_s = config_.job_ttl_s;
  job.idempotency_ttl_s = config_.job_ttl_s;
  job.max_active_jobs = config_.max_active_jobs_per_tenant;
  job.max_active_bases = config_.max_active_bases_per_tenant;
  job.quota_retry_delay = absl::Seconds(config_.quota_retry_delay_s);

  ASSIGN_OR_RETURN(auto conn, redis_.Acquire());
  if (valid.input.has_variants()) {
    RETURN_IF_ERROR(CheckReferenceRegistered(*conn, config_.keys, valid.input));
  }
  JobStore store(*conn, config_.keys);
  ASSIGN_OR_RETURN(auto outcome, store.Submit(job));
  if (outcome.replay) {
    // The earlier job may be further along by now; that is what a replay returns.
    ASSIGN_OR_RETURN(*resp->mutable_job(), store.Get(tenant, outcome.job_id));
  } else {
    // The job as the submit stored it (QUEUED): a worker may claim it before this reply is sent.
    *resp->mutable_job() = std::move(outcome.job);
  }
  resp->set_idempotent_replay(outcome.replay);
  if (!outcome.replay) {
    submitted_jobs_.Add({{"model", job.model}}).Increment();
    submitted_bases_.Add({{"model", job.model}}).Increment(static_cast<double>(job.bases));
  }
  return absl::OkStatus();
}

grpc::Status JobServiceImpl::GetJob(grpc::ServerContext* ctx, const evo2::v1::GetJobRequest* req,
                                    evo2::v1::Job* resp) {
  return Instrument("GetJob", [&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto tenant, Authenticate(ctx));
    RETURN_IF_ERROR(CheckJobId(req->job_id()));
    ASSIGN_OR_RETURN(auto conn, redis_.Acquire());
    ASSIGN_OR_RETURN(auto job, JobStore(*conn, config_.keys).Get(tenant, req->job_id()));
    *resp = std::move(job);
    return absl::OkStatus();
  });
}

grpc::Status JobServiceImpl::CancelJob(grpc::ServerContext* ctx,
                                       const evo2::v1::CancelJobRequest* req,
                                       evo2::v1::Job* resp) {
  return Instrument("CancelJob", [&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto tenant, Authenticate(ctx));
    RETURN_IF_ERROR(CheckJobId(req->job_id()));
    ASSIGN_OR_RETURN(auto conn, redis_.Acquire());
    ASSIGN_OR_RETURN(auto job, JobStore(*conn, config_.keys).Cancel(tenant, req->job_id()));
    *resp = std::move(job);
    return absl::OkStatus();
  });
}

grpc::Status JobServiceImpl::WatchJob(grpc::ServerContext* ctx,
                                      const evo2::v1::WatchJobRequest* req,
                                      grpc::ServerWriter<evo2::v1::JobEvent>* writer) {
  return Instrument("WatchJob", [&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto tenant, Authenticate(ctx));
    RETURN_IF_ERROR(CheckJobId(req->job_id()));
    ASSIGN_OR_RETURN(auto conn, redis_.Acquire());
    // The socket must outlive one XREAD BLOCK round.
    RETURN_IF_ERROR(
        conn->SetCommandTimeout(absl::Milliseconds(config_.watch_block_ms) + absl::Seconds(5)));
    JobStore store(*conn, config_.keys);
    ASSIGN_OR_RETURN(auto job, store.Get(tenant, req->job_id()));
    const int64_t records_total = job.progress().records_total();
    const int64_t tokens_total = job.progress().tokens_total();
    std::string after = req->after_event_id();
    // Idle streams carry a KEEPALIVE now and then, so no proxy cuts them; each XREAD round
    // blocks at most that long.
    const int64_t keepalive_ms = config_.watch_keepalive_ms;
    const int64_t block_ms =
        keepalive_ms > 0 ? std::min(config_.watch_block_ms, keepalive_ms) : config_.watch_block_ms;
    auto last_write = std::chrono::steady_clock::now();
    while (true) {
      if (ctx->IsCancelled()) return absl::CancelledError("client went away");
      if (draining_) return absl::UnavailableError("server is shutting down; resume the watch");
      ASSIGN_OR_RETURN(auto events, store.ReadEvents(tenant, req->job_id(), after, block_ms, 100));
      if (!events.empty()) last_write = std::chrono::steady_clock::now();
      for (auto& ev : events) {
        after = ev.event_id();
        ev.mutable_progress()->set_records_total(records_total);
        ev.mutable_progress()->set_tokens_total(tokens_total);
        const bool last =
            ev.type() == evo2::v1::JOB_EVENT_TYPE_STATE_CHANGED && IsTerminal(ev.state());
        if (!writer->Write(ev)) return absl::CancelledError("client went away");
        if (last) return absl::OkStatus();
      }
      if (events.empty()) {
        // Nothing new: the job may already be terminal (resumed after the last event) or gone.
        ASSIGN_OR_RETURN(auto now, store.Get(tenant, req->job_id()));
        if (IsTerminal(now.state())) return absl::OkStatus();
        if (keepalive_ms > 0 && std::chrono::steady_clock::now() - last_write >=
                                    std::chrono::milliseconds(keepalive_ms)) {
          evo2::v1::JobEvent ka;
          ka.set_event_id(after);
          ka.set_type(evo2::v1::JOB_EVENT_TYPE_KEEPALIVE);
          ka.set_time_us(NowMicros());
          ka.set_state(now.state());
          *ka.mutable_progress() = now.progress();
          ka.set_attempt(now.attempt());
          ka.set_record_index(-1);
          if (!writer->Write(ka)) return absl::CancelledError("client went away");
          last_write = std::chrono::steady_clock::now();
        }
      }
    }
  });
}

grpc::Status JobServiceImpl::GetJobResults(grpc::ServerContext* ctx,
                                           const evo2::v1::GetJobResultsRequest* req,
                                           grpc::ServerWriter<evo2::v1::ResultChunk>* writer) {
  return Instrument("GetJobResults", [&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto tenant, Authenticate(ctx));
    RETURN_IF_ERROR(CheckJobId(req->job_id()));
    if (req->start_record() < 0) return absl::InvalidArgumentError("start_record must be >= 0");
    int64_t chunk = req->max_chunk_bytes() == 0 ? kDefaultChunkBytes : req->max_chunk_bytes();
    chunk = std::clamp(chunk, kMinChunkBytes, kMaxChunkBytes);
    ASSIGN_OR_RETURN(auto conn, redis_.Acquire());
    RETURN_IF_ERROR(
        conn->SetCommandTimeout(absl::Milliseconds(config_.watch_block_ms) + absl::Seconds(5)));
    JobStore store(*conn, config_.keys);
    ASSIGN_OR_RETURN(auto job, store.Get(tenant, req->job_id()));
    const int64_t total = job.progress().records_total();
    int64_t next = req->start_record();
    int64_t sent = 0;
    std::string after_event;
    while (next < total) {
      if (ctx->IsCancelled()) return absl::CancelledError("client went away");
      if (draining_) return absl::UnavailableError("server is shutting down; resume from record");
      ASSIGN_OR_RETURN(auto blob, store.GetResult(tenant, req->job_id(), next));
      if (blob.has_value() && ResultsStore::IsReference(*blob)) {
        // A large result lives in the results store; Redis holds where.
        if (config_.results_dir.empty()) {
          return absl::FailedPreconditionError(
              absl::StrCat("record ", next,
                           " is in the results store, which this API has no --results-dir "
                           "for"));
        }
        ASSIGN_OR_RETURN(*blob, results_store_.Get(tenant, req->job_id(), *blob));
      }
      if (blob.has_value()) {
        evo2::v1::RecordResult rec;
        if (!rec.ParseFromString(*blob)) {
          return absl::InternalError(absl::StrCat("stored result of record ", next, " is corrupt"));
        }
        evo2::v1::ResultChunk head;
        head.set_record_index(next);
        auto tensors = std::move(*rec.mutable_tensors());
        rec.clear_tensors();
        auto files = std::move(*rec.mutable_files());
        rec.clear_files();
        *head.mutable_record() = std::move(rec);
        if (!writer->Write(head)) return absl::CancelledError("client went away");
        for (const auto& t : tensors) {
          const int64_t n = static_cast<int64_t>(t.data().size());
          int64_t off = 0;
          do {
            evo2::v1::ResultChunk c;
            c.set_record_index(next);
            auto* tc = c.mutable_tensor();
            tc->set_name(t.name());
            tc->set_dtype(t.dtype());
            *tc->mutable_shape() = t.shape();
            tc->set_total_bytes(n);
            tc->set_offset_bytes(off);
            const int64_t len = std::min(chunk, n - off);
            tc->set_data(t.data().substr(static_cast<size_t>(off), static_cast<size_t>(len)));
            off += len;
            if (!writer->Write(c)) return absl::CancelledError("client went away");
          } while (off < n);
        }
        for (const auto& f : files) {
          const int64_t n = static_cast<int64_t>(f.data().size());
          int64_t off = 0;
          do {
            evo2::v1::ResultChunk c;
            c.set_record_index(next);
            auto* fc = c.mutable_file();
            fc->set_name(f.name());
            fc->set_media_type(f.media_type());
            fc->set_total_bytes(n);
            fc->set_offset_bytes(off);
            const int64_t len = std::min(chunk, n - off);
            fc->set_data(f.data().substr(static_cast<size_t>(off), static_cast<size_t>(len)));
            off += len;
            if (!writer->Write(c)) return absl::CancelledError("client went away");
          } while (off < n);
        }
        ++next;
        ++sent;
        continue;
      }
      // Record `next` is not there yet: finished jobs will not produce it.
      ASSIGN_OR_RETURN(auto now, store.Get(tenant, req->job_id()));
      if (IsTerminal(now.state())) {
        auto again = store.GetResult(tenant, req->job_id(), next);  // stored just before the end
        if (again.ok() && again->has_value()) continue;
        break;
      }
      if (!req->follow()) break;
      ASSIGN_OR_RETURN(auto events, store.ReadEvents(tenant, req->job_id(), after_event,
                                                     config_.watch_block_ms, 1000));
      if (!events.empty()) after_event = events.back().event_id();
    }
    evo2::v1::ResultChunk end;
    end.set_record_index(-1);
    ASSIGN_OR_RETURN(auto final_job, store.Get(tenant, req->job_id()));
    *end.mutable_end()->mutable_job() = std::move(final_job);
    end.mutable_end()->set_records_sent(sent);
    end.mutable_end()->set_complete(next >= total);
    if (!writer->Write(end)) return absl::CancelledError("client went away");
    return absl::OkStatus();
  });
}

grpc::Status JobServiceImpl::ListJobs(grpc::ServerContext* ctx,
                                      const evo2::v1::ListJobsRequest* req,
                                      evo2::v1::ListJobsResponse* resp) {
  return Instrument("ListJobs", [&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto tenant, Authenticate(ctx));
    if (req->page_size() < 0 || req->page_size() > 1000) {
      return absl::InvalidArgumentError(
          absl::StrCat("page_size ", req->page_size(), " is outside 0..1000"));
    }
    const int page = req->page_size() == 0 ? 50 : req->page_size();
    // Page token: create time (µs) of the last job of the previous page; the next page lists
    // strictly older jobs.
    int64_t before = 0;
    if (!req->page_token().empty() &&
        (!absl::SimpleAtoi(req->page_token(), &before) || before <= 0)) {
      return absl::InvalidArgumentError("page_token is not one this server returned");
    }
    ASSIGN_OR_RETURN(auto conn, redis_.Acquire());
    JobStore store(*conn, config_.keys);
    // Filtering happens after the index read, so scan a bounded number of batches per call.
    for (int round = 0; round < 20 && resp->jobs_size() < page; ++round) {
      ASSIGN_OR_RETURN(auto ids, store.ListIds(tenant, before, page));
      if (ids.empty()) {
        before = 0;
        break;
      }
      for (const auto& [id, created] : ids) {
        before = created;
        auto job = store.Get(tenant, id);
        if (absl::IsNotFound(job.status())) {
          (void)store.ForgetId(tenant, id);  // expired: drop it from the index
          continue;
        }
        RETURN_IF_ERROR(job.status());
        if (req->state() != evo2::v1::JOB_STATE_UNSPECIFIED && job->state() != req->state()) {
          continue;
        }
        if (!req->model().empty() && job->model() != req->model()) continue;
        *resp->add_jobs() = std::move(*job);
        if (resp->jobs_size() == page) break;
      }
      if (static_cast<int>(ids.size()) < page && resp->jobs_size() < page) {
        before = 0;  // index exhausted
        break;
      }
    }
    if (before > 0) resp->set_next_page_token(absl::StrCat(before));
    return absl::OkStatus();
  });
}

grpc::Status JobServiceImpl::ListModels(grpc::ServerContext* ctx,
                                        const evo2::v1::ListModelsRequest* /*req*/,
                                        evo2::v1::ListModelsResponse* resp) {
  return Instrument("ListModels", [&]() -> absl::Status {
    RETURN_IF_ERROR(Authenticate(ctx).status());
    ASSIGN_OR_RETURN(auto conn, redis_.Acquire());
    for (const auto& [name, limits] : models_.models()) {  // a std::map: sorted by name
      evo2::v1::ModelInfo* m = resp->add_models();
      m->set_name(name);
      m->set_max_record_tokens(limits.max_record_tokens);
      // The view SubmitJob checks against (record_capacity_cache.h), so what a portal shows is
      // what a submit applies.
      const ModelLimits advertised =
          WithAdvertisedLimit(limits, capacities_.Live(name), /*logits=*/false);
      m->set_advertised_max_record_tokens(advertised.advertised_record_tokens);
      // The registry SubmitJob checks names against (reference_registry.h), so a listed name
      // is one a submit accepts; descriptions name worker paths and stay private.
      ASSIGN_OR_RETURN(auto registered, RegisteredReferences(*conn, config_.keys, name));
      for (const auto& [reference, description] : registered) m->add_references(reference);
    }
    *resp->mutable_variant_defaults() = VariantDefaults();
    return absl::OkStatus();
  });
}

}  // namespace evo2::svc
