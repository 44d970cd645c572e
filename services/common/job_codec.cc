#include "job_codec.h"

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace evo2::svc {
namespace {

int64_t Int(const FieldMap& f, const char* key, int64_t def = 0) {
  auto it = f.find(key);
  int64_t v = def;
  if (it == f.end() || !absl::SimpleAtoi(it->second, &v)) return def;
  return v;
}

std::string Str(const FieldMap& f, const char* key) {
  auto it = f.find(key);
  return it == f.end() ? std::string() : it->second;
}

}  // namespace

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

FieldMap FieldsFromReply(const RedisReply& reply) {
  FieldMap out;
  for (size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    out[reply.elements[i].AsString()] = reply.elements[i + 1].AsString();
  }
  return out;
}

std::string StateName(evo2::v1::JobState state) {
  std::string n = evo2::v1::JobState_Name(state);
  constexpr char kPrefix[] = "JOB_STATE_";
  return n.rfind(kPrefix, 0) == 0 ? n.substr(sizeof(kPrefix) - 1) : n;
}

evo2::v1::JobState StateFromName(const std::string& name) {
  evo2::v1::JobState s = evo2::v1::JOB_STATE_UNSPECIFIED;
  if (!evo2::v1::JobState_Parse(absl::StrCat("JOB_STATE_", name), &s)) {
    return evo2::v1::JOB_STATE_UNSPECIFIED;
  }
  return s;
}

bool IsTerminal(evo2::v1::JobState state) {
  return state == evo2::v1::JOB_STATE_SUCCEEDED || state == evo2::v1::JOB_STATE_FAILED ||
         state == evo2::v1::JOB_STATE_CANCELLED;
}

std::string PriorityClass(evo2::v1::Priority priority) {
  switch (priority) {
    case evo2::v1::PRIORITY_HIGH:
      return "high";
    case evo2::v1::PRIORITY_LOW:
      return "low";
    default:
      return "normal";
  }
}

evo2::v1::Job JobFromFields(const FieldMap& f) {
  evo2::v1::Job job;
  job.set_job_id(Str(f, "id"));
  job.set_state(StateFromName(Str(f, "state")));
  job.set_model(Str(f, "model"));
  job.set_priority(static_cast<evo2::v1::Priority>(Int(f, "priority", 2)));
  if (auto labels = Str(f, "labels"); !labels.empty()) {
    auto j = nlohmann::json::parse(labels, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) {
      for (auto& [k, v] : j.items()) {
        if (v.is_string()) (*job.mutable_labels())[k] = v.get<std::string>();
      }
    }
  }
  auto* p = job.mutable_progress();
  p->set_records_done(Int(f, "records_done"));
  p->set_records_total(Int(f, "records_total"));
  p->set_tokens_done(Int(f, "tokens_done"));
  p->set_tokens_total(Int(f, "tokens_total"));
  job.set_create_time_us(Int(f, "created_us"));
  job.set_start_time_us(Int(f, "started_us"));
  job.set_end_time_us(Int(f, "ended_us"));
  job.set_update_time_us(Int(f, "updated_us"));
  job.set_expire_time_us(Int(f, "expire_us"));
  if (f.count("err_code") && !Str(f, "err_code").empty()) {
    auto* e = job.mutable_error();
    e->set_code(static_cast<int32_t>(Int(f, "err_code")));
    e->set_message(Str(f, "err_msg"));
    e->set_record_index(Int(f, "err_record", -1));
    e->set_record_name(Str(f, "err_record_name"));
  }
  job.set_attempt(static_cast<int32_t>(Int(f, "attempt")));
  job.set_max_attempts(static_cast<int32_t>(Int(f, "max_attempts")));
  job.set_cancel_requested(Str(f, "cancel_requested") == "1");
  if (f.count("prov_precision")) {
    auto* pv = job.mutable_provenance();
    pv->set_model(Str(f, "model"));
    pv->set_checkpoint_digest(Str(f, "prov_checkpoint"));
    pv->set_precision(Str(f, "prov_precision"));
    pv->set_engine_version(Str(f, "prov_engine"));
    pv->set_parallel_layout(Str(f, "prov_layout"));
    pv->set_worker_id(Str(f, "prov_worker"));
  }
  job.set_idempotency_key(Str(f, "idem_key"));
  return job;
}

std::string EncodeLogProbs(const google::protobuf::RepeatedField<float>& values) {
  std::string out;
  for (int i = 0; i < values.size(); ++i) {
    absl::StrAppend(&out, i ? "," : "", absl::StrFormat("%.9g", values[i]));
  }
  return out;
}

void DecodeLogProbs(const std::string& text, google::protobuf::RepeatedField<float>* out) {
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    float v = 0;
    if (absl::SimpleAtof(part, &v)) out->Add(v);
  }
}

evo2::v1::JobEvent EventFromEntry(const RedisReply& entry) {
  evo2::v1::JobEvent ev;
  if (entry.elements.size() < 2) return ev;
  ev.set_event_id(entry.elements[0].AsString());
  FieldMap f = FieldsFromReply(entry.elements[1]);
  evo2::v1::JobEventType type = evo2::v1::JOB_EVENT_TYPE_UNSPECIFIED;
  evo2::v1::JobEventType_Parse(absl::StrCat("JOB_EVENT_TYPE_", Str(f, "type")), &type);
  ev.set_type(type);
  ev.set_time_us(Int(f, "time_us"));
  ev.set_state(StateFromName(Str(f, "state")));
  ev.mutable_progress()->set_records_done(Int(f, "rd"));
  ev.mutable_progress()->set_tokens_done(Int(f, "td"));
  ev.set_attempt(static_cast<int32_t>(Int(f, "attempt")));
  ev.set_record_index(Int(f, "record_index", -1));
  ev.set_record_name(Str(f, "record_name"));
  if (!Str(f, "err_code").empty()) {
    ev.mutable_error()->set_code(static_cast<int32_t>(Int(f, "err_code")));
    ev.mutable_error()->set_message(Str(f, "err_msg"));
    ev.mutable_error()->set_record_index(Int(f, "err_record", -1));
    ev.mutable_error()->set_record_name(Str(f, "err_record_name"));
  }
  ev.set_worker_id(Str(f, "worker"));
  ev.set_message(Str(f, "msg"));
  if (type == evo2::v1::JOB_EVENT_TYPE_TOKENS_GENERATED) {
    evo2::v1::GeneratedTokens* t = ev.mutable_tokens();
    t->set_sample(static_cast<int32_t>(Int(f, "sample")));
    t->set_first_index(Int(f, "first"));
    t->set_bases(Str(f, "bases"));
    DecodeLogProbs(Str(f, "lps"), t->mutable_log_probs());
  }
  if (type == evo2::v1::JOB_EVENT_TYPE_VARIANTS_PROGRESS) {
    evo2::v1::VariantProgress* v = ev.mutable_variants();
    v->set_records_done(Int(f, "v_done"));
    v->set_records_total(Int(f, "v_total"));
    v->set_windows_scored(Int(f, "v_windows"));
    v->set_tokens_scored(Int(f, "v_tokens"));
  }
  return ev;
}

}  // namespace evo2::svc
