#include "job_client.h"

#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "idempotency_key.h"

namespace evo2::client {

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  google::rpc::Status details;
  if (!s.error_details().empty() && details.ParseFromString(s.error_details())) {
    for (const auto& any : details.details()) {
      out.SetPayload(any.type_url(), absl::Cord(any.value()));
    }
  }
  return out;
}

std::unique_ptr<JobClient> JobClient::OverChannel(std::shared_ptr<grpc::Channel> channel,
                                                  const ClientOptions& options) {
  auto c = std::make_unique<JobClient>();
  c->options_ = options;
  c->channel_ = std::move(channel);
  c->stub_ = evo2::v1::JobService::NewStub(c->channel_);
  return c;
}

absl::StatusOr<std::unique_ptr<JobClient>> JobClient::Connect(const ClientOptions& options) {
  auto c = std::make_unique<JobClient>();
  c->options_ = options;
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_ca_file.empty()) {
      std::ifstream in(options.tls_ca_file);
      if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", options.tls_ca_file));
      std::stringstream ss;
      ss << in.rdbuf();
      ssl.pem_root_certs = ss.str();
    }
    creds = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 << 20);
  if (options.tls && !options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  if (options.retry.max_attempts > 1) {
    // gRPC's own reconnect backoff (1 s growing to 120 s) would fail our retries fast while the
    // channel waits; keep it within the retry policy's backoff so a restarted API is found.
    const int initial_ms =
        static_cast<int>(absl::ToInt64Milliseconds(options.retry.initial_backoff));
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, initial_ms);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, initial_ms);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                static_cast<int>(absl::ToInt64Milliseconds(options.retry.max_backoff)));
  }
  // HTTP/2 PINGs during calls (a long WatchJob), so idle-connection timeouts of proxies and NAT
  // do not cut them; evo2-api accepts pings 10 s apart.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  c->channel_ = grpc::CreateCustomChannel(options.target, creds, args);
  c->stub_ = evo2::v1::JobService::NewStub(c->channel_);
  return c;
}

std::unique_ptr<grpc::ClientContext> JobClient::NewContext() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!options_.api_key.empty()) ctx->AddMetadata("authorization", "Bearer " + options_.api_key);
  for (const auto& [key, value] : options_.metadata) ctx->AddMetadata(key, value);
  return ctx;
}

absl::Status JobClient::CallUnary(bool retry_deadline_exceeded,
                                  const std::function<grpc::Status(grpc::ClientContext*)>& rpc) {
  return RunWithRetry(options_.retry, retry_deadline_exceeded, [&] {
    auto ctx = NewContext();
    if (options_.retry.attempt_timeout > absl::ZeroDuration()) {
      ctx->set_deadline(absl::ToChronoTime(absl::Now() + options_.retry.attempt_timeout));
    }
    return FromGrpc(rpc(ctx.get()));
  });
}

absl::StatusOr<evo2::v1::SubmitJobResponse> JobClient::Submit(
    const evo2::v1::SubmitJobRequest& req) {
  evo2::v1::SubmitJobResponse resp;
  if (options_.retry.max_attempts > 1 && req.idempotency_key().empty()) {
    evo2::v1::SubmitJobRequest keyed = req;
    keyed.set_idempotency_key(NewIdempotencyKey());
    RETURN_IF_ERROR(CallUnary(
        true, [&](grpc::ClientContext* ctx) { return stub_->SubmitJob(ctx, keyed, &resp); }));
    return resp;
  }
  // Without a key a submit that timed out may have stored a job: only UNAVAILABLE (the request
  // never reached a server, or the server died) is retried, and only when the key is the user's.
  const bool keyed = !req.idempotency_key().empty();
  RETURN_IF_ERROR(CallUnary(
      keyed, [&](grpc::ClientContext* ctx) { return stub_->SubmitJob(ctx, req, &resp); }));
  return resp;
}

absl::StatusOr<evo2::v1::Job> JobClient::Get(const std::string& job_id) {
  evo2::v1::GetJobRequest req;
  req.set_job_id(job_id);
  evo2::v1::Job job;
  RETURN_IF_ERROR(
      CallUnary(true, [&](grpc::ClientContext* ctx) { return stub_->GetJob(ctx, req, &job); }));
  return job;
}

absl::StatusOr<evo2::v1::Job> JobClient::Cancel(const std::string& job_id) {
  evo2::v1::CancelJobRequest req;
  req.set_job_id(job_id);
  evo2::v1::Job job;
  // Cancelling twice is a no-op (CANCELLED stays CANCELLED), so a timed-out cancel may repeat.
  RETURN_IF_ERROR(
      CallUnary(true, [&](grpc::ClientContext* ctx) { return stub_->CancelJob(ctx, req, &job); }));
  return job;
}

absl::StatusOr<evo2::v1::ListJobsResponse> JobClient::List(const evo2::v1::ListJobsRequest& req) {
  evo2::v1::ListJobsResponse resp;
  RETURN_IF_ERROR(
      CallUnary(true, [&](grpc::ClientContext* ctx) { return stub_->ListJobs(ctx, req, &resp); }));
  return resp;
}

absl::StatusOr<evo2::v1::ListModelsResponse> JobClient::ListModels() {
  evo2::v1::ListModelsResponse resp;
  RETURN_IF_ERROR(CallUnary(true, [&](grpc::ClientContext* ctx) {
    return stub_->ListModels(ctx, evo2::v1::ListModelsRequest(), &resp);
  }));
  return resp;
}

absl::Status JobClient::WatchOnce(const std::string& job_id, std::string* after,
                                  const std::function<bool(const evo2::v1::JobEvent&)>& on_event,
                                  bool* progressed, bool* stopped) {
  auto ctx = NewContext();
  evo2::v1::WatchJobRequest req;
  req.set_job_id(job_id);
  req.set_after_event_id(*after);
  auto reader = stub_->WatchJob(ctx.get(), req);
  evo2::v1::JobEvent ev;
  while (reader->Read(&ev)) {
    *progressed = true;
    if (ev.type() == evo2::v1::JOB_EVENT_TYPE_KEEPALIVE) continue;
    *after = ev.event_id();
    if (!on_event(ev)) {
      *stopped = true;
      ctx->TryCancel();
      break;
    }
  }
  grpc::Status s = reader->Finish();
  if (*stopped && s.error_code() == grpc::StatusCode::CANCELLED) return absl::OkStatus();
  return FromGrpc(s);
}

absl::Status JobClient::Watch(const std::string& job_id, const std::string& after,
                              const std::function<bool(const evo2::v1::JobEvent&)>& on_event) {
  // A broken stream (a proxy that cut it, an API replica that drained) is resumed after the
  // last event seen, so the caller sees every event once. Failures in a row are bounded by the
  // retry policy; any message received (a KEEPALIVE too) starts the count afresh.
  std::string resume = after;
  std::mt19937_64 rng{std::random_device{}()};
  int failures = 0;
  absl::Time give_up = absl::Now() + options_.retry.max_total;
  while (true) {
    bool progressed = false, stopped = false;
    absl::Status s = WatchOnce(job_id, &resume, on_event, &progressed, &stopped);
    if (s.ok() || stopped) return s;
    if (progressed) {
      failures = 0;
      give_up = absl::Now() + options_.retry.max_total;
    }
    ++failures;
    // A stream cut mid-way reads as UNAVAILABLE (connection reset) or, through some proxies,
    // INTERNAL (RST_STREAM); both are safe to resume, since a watch only reads.
    const bool retryable = absl::IsUnavailable(s) || (progressed && absl::IsInternal(s));
    if (!retryable || failures >= options_.retry.max_attempts) return s;
    const absl::Duration wait = BackoffBeforeAttempt(options_.retry, failures + 1, rng);
    if (absl::Now() + wait > give_up) return s;
    if (options_.retry.on_retry) options_.retry.on_retry(s, failures + 1, wait);
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(wait));
  }
}

absl::StatusOr<evo2::v1::ResultsEnd> JobClient::Results(
    const evo2::v1::GetJobResultsRequest& req,
    const std::function<void(evo2::v1::RecordResult&&)>& on_record) {
  return ResultsWhile(req, [&](evo2::v1::RecordResult&& r) {
    on_record(std::move(r));
    return true;
  });
}

absl::StatusOr<evo2::v1::ResultsEnd> JobClient::ResultsWhile(
    const evo2::v1::GetJobResultsRequest& req,
    const std::function<bool(evo2::v1::RecordResult&&)>& on_record) {
  auto ctx = NewContext();
  auto reader = stub_->GetJobResults(ctx.get(), req);
  evo2::v1::ResultChunk chunk;
  evo2::v1::RecordResult current;
  bool have = false;
  evo2::v1::ResultsEnd end;
  bool stopped = false;
  auto flush = [&] {
    if (have && !stopped) stopped = !on_record(std::move(current));
    current = evo2::v1::RecordResult();
    have = false;
  };
  while (!stopped && reader->Read(&chunk)) {
    switch (chunk.payload_case()) {
      case evo2::v1::ResultChunk::kRecord:
        flush();
        current = std::move(*chunk.mutable_record());
        have = true;
        break;
      case evo2::v1::ResultChunk::kTensor: {
        const auto& t = chunk.tensor();
        evo2::v1::Tensor* dst = nullptr;
        if (current.tensors_size() > 0 && current.tensors(current.tensors_size() - 1).name() ==
                                              t.name() &&
            static_cast<int64_t>(current.tensors(current.tensors_size() - 1).data().size()) ==
                t.offset_bytes() && t.offset_bytes() > 0) {
          dst = current.mutable_tensors(current.tensors_size() - 1);
        } else {
          dst = current.add_tensors();
          dst->set_name(t.name());
          dst->set_dtype(t.dtype());
          *dst->mutable_shape() = t.shape();
        }
        dst->mutable_data()->append(t.data());
        break;
      }
      case evo2::v1::ResultChunk::kFile: {
        const auto& f = chunk.file();
        evo2::v1::ResultFile* dst = nullptr;
        if (current.files_size() > 0 &&
            current.files(current.files_size() - 1).name() == f.name() &&
            static_cast<int64_t>(current.files(current.files_size() - 1).data().size()) ==
                f.offset_bytes() &&
            f.offset_bytes() > 0) {
          dst = current.mutable_files(current.files_size() - 1);
        } else {
          dst = current.add_files();
          dst->set_name(f.name());
          dst->set_media_type(f.media_type());
        }
        dst->mutable_data()->append(f.data());
        break;
      }
      case evo2::v1::ResultChunk::kEnd:
        flush();
        end = chunk.end();
        break;
      default:
        break;
    }
  }
  flush();
  if (stopped) {
    ctx->TryCancel();
    (void)reader->Finish();  // CANCELLED, as asked
    return evo2::v1::ResultsEnd();
  }
  RETURN_IF_ERROR(FromGrpc(reader->Finish()));
  return end;
}

}  // namespace evo2::client
