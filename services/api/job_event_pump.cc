#include "job_event_pump.h"

#include <utility>

namespace evo2::svc {

JobEventPump::JobEventPump(std::unique_ptr<evo2::client::JobClient> client, std::string job_id,
                           std::string after_event_id)
    : client_(std::move(client)),
      job_id_(std::move(job_id)),
      after_event_id_(std::move(after_event_id)),
      ctx_(client_->NewContext()) {}

JobEventPump::~JobEventPump() { Stop(); }

void JobEventPump::Run() {
  evo2::v1::WatchJobRequest req;
  req.set_job_id(job_id_);
  req.set_after_event_id(after_event_id_);
  auto reader = client_->stub().WatchJob(ctx_.get(), req);
  evo2::v1::JobEvent ev;
  while (reader->Read(&ev)) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(ev);
    cv_.notify_one();
  }
  absl::Status end = evo2::client::FromGrpc(reader->Finish());
  std::lock_guard<std::mutex> lock(mu_);
  end_ = std::move(end);
  cv_.notify_one();
}

JobEventPump::Item JobEventPump::Next(absl::Duration wait) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!started_) {
    started_ = true;
    thread_ = std::thread([this] { Run(); });
  }
  cv_.wait_for(lock, absl::ToChronoNanoseconds(wait),
               [&] { return !events_.empty() || end_.has_value(); });
  Item item;
  if (!events_.empty()) {
    item.event = std::move(events_.front());
    events_.pop_front();
  } else if (end_.has_value()) {
    item.end = *end_;
  }
  return item;
}

void JobEventPump::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_) return;
  }
  ctx_->TryCancel();
  if (thread_.joinable()) thread_.join();
}

}  // namespace evo2::svc
