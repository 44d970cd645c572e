#include "job_queue.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "job_codec.h"
#include "job_scripts.h"

namespace evo2::svc {
namespace {

// Appends the [id, [field, value, ...]] entries of `list`; a deleted entry (nil) is skipped.
void AppendEntries(const std::string& queue, const RedisReply& list, std::vector<QueueEntry>* out) {
  for (const auto& e : list.elements) {
    if (e.elements.size() != 2) continue;
    FieldMap f = FieldsFromReply(e.elements[1]);
    out->push_back(QueueEntry{queue, e.elements[0].AsString(), f["job"]});
  }
}

std::string Ms(absl::Duration d) { return absl::StrCat(absl::ToInt64Milliseconds(d)); }

}  // namespace

absl::Status JobQueue::EnsureGroups() {
  for (const char* cls : kPriorityClasses) {
    auto r = redis_.Command(
        {"XGROUP", "CREATE", keys_.Queue(model_, cls), kWorkerGroup, "0", "MKSTREAM"});
    if (!r.ok() && !absl::StrContains(r.status().message(), "BUSYGROUP")) return r.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<QueueEntry>> JobQueue::Reclaim(const std::string& consumer,
                                                          absl::Duration idle) {
  std::vector<QueueEntry> out;
  for (const char* cls : kPriorityClasses) {
    const std::string q = keys_.Queue(model_, cls);
    ASSIGN_OR_RETURN(RedisReply r, redis_.Command({"XAUTOCLAIM", q, kWorkerGroup, consumer,
                                                   Ms(idle), "0-0", "COUNT", "1"}));
    if (r.elements.size() >= 2) AppendEntries(q, r.elements[1], &out);
    if (!out.empty()) return out;
  }
  return out;
}

absl::StatusOr<std::vector<QueueEntry>> JobQueue::ReadNew(const std::string& consumer,
                                                          absl::Duration block) {
  std::vector<QueueEntry> out;
  for (const char* cls : kPriorityClasses) {
    const std::string q = keys_.Queue(model_, cls);
    ASSIGN_OR_RETURN(RedisReply r, redis_.Command({"XREADGROUP", "GROUP", kWorkerGroup, consumer,
                                                   "COUNT", "1", "STREAMS", q, ">"}));
    if (r.is_array() && !r.elements.empty()) {
      AppendEntries(q, r.elements[0].elements[1], &out);
      if (!out.empty()) return out;
    }
  }
  std::vector<std::string> cmd = {"XREADGROUP", "GROUP", kWorkerGroup, consumer, "COUNT",
                                  "1",          "BLOCK", Ms(block),    "STREAMS"};
  for (const char* cls : kPriorityClasses) cmd.push_back(keys_.Queue(model_, cls));
  cmd.insert(cmd.end(), std::size(kPriorityClasses), ">");
  ASSIGN_OR_RETURN(RedisReply r, redis_.Command(cmd));
  if (r.is_array()) {
    for (const auto& stream : r.elements) {
      if (stream.elements.size() == 2) {
        AppendEntries(stream.elements[0].AsString(), stream.elements[1], &out);
      }
    }
  }
  return out;
}

absl::StatusOr<int64_t> JobQueue::PromoteDueRetries() {
  ASSIGN_OR_RETURN(RedisReply r, redis_.Eval(scripts::PromoteRetries(), {keys_.RetryQueue(model_)},
                                             {absl::StrCat(NowMicros()), "100"}));
  return r.AsInteger();
}

QueueSample JobQueue::Sample() {
  QueueSample s;
  const int64_t now_ms = NowMicros() / 1000;
  for (const char* cls : kPriorityClasses) {
    const std::string q = keys_.Queue(model_, cls);
    auto groups = redis_.Command({"XINFO", "GROUPS", q});
    if (!groups.ok()) continue;
    for (const auto& g : groups->elements) {
      FieldMap f = FieldsFromReply(g);
      if (f["name"] != kWorkerGroup) continue;
      QueueClassDepth d;
      d.priority_class = cls;
      absl::SimpleAtod(f["lag"], &d.lag);
      absl::SimpleAtod(f["pending"], &d.pending);
      s.classes.push_back(d);
      // The entry after the group's last delivered one is the oldest nobody has taken.
      auto next = redis_.Command({"XRANGE", q, "(" + f["last-delivered-id"], "+", "COUNT", "1"});
      if (next.ok() && !next->elements.empty()) {
        int64_t ms = 0;
        const std::string id = next->elements[0].elements[0].AsString();
        if (absl::SimpleAtoi(id.substr(0, id.find('-')), &ms)) {
          s.oldest_undelivered_s =
              std::max(s.oldest_undelivered_s, static_cast<double>(now_ms - ms) / 1e3);
        }
      }
    }
  }
  return s;
}

}  // namespace evo2::svc
