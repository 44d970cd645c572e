#include "client_commands.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "evo2/safe_file_name.h"
#include "evo2/tokenizer.h"
#include "generate_output.h"
#include "google/protobuf/util/json_util.h"
#include "idempotency_key.h"
#include "job_client.h"
#include "npy_out.h"
#include "variant_submit.h"

namespace evo2::client {
namespace {

struct Common {
  ClientOptions options;
  bool json = false;
  int retry_attempts = 8;
  double retry_max_seconds = 120;
  int retry_initial_ms = 250;
  int retry_max_backoff_ms = 5000;
  double attempt_timeout_seconds = 60;
};

void AddCommon(CLI::App* cmd, Common* c) {
  cmd->add_option("--server", c->options.target, "API address host:port [EVO2_SERVER]")
      ->envname("EVO2_SERVER");
  cmd->add_option("--api-key", c->options.api_key, "API key [EVO2_API_KEY]")
      ->envname("EVO2_API_KEY");
  cmd->add_flag("--tls", c->options.tls, "Use TLS");
  cmd->add_option("--tls-ca", c->options.tls_ca_file, "PEM CA bundle for TLS");
  cmd->add_option("--tls-server-name", c->options.tls_server_name,
                  "Certificate name to expect when it differs from the host");
  // An API restart (rolling update, crash) shows up as UNAVAILABLE for a few seconds; the client
  // rides it out instead of failing the user's script.
  cmd->add_option("--retry-attempts", c->retry_attempts,
                  "Tries of a call that fails with UNAVAILABLE (submit: or DEADLINE_EXCEEDED); "
                  "1 = no retry")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--retry-max-seconds", c->retry_max_seconds,
                  "Start no retry after this many seconds")
      ->capture_default_str();
  cmd->add_option("--retry-initial-ms", c->retry_initial_ms,
                  "First backoff; doubles per retry, with random jitter")
      ->capture_default_str();
  cmd->add_option("--retry-max-backoff-ms", c->retry_max_backoff_ms, "Largest backoff")
      ->capture_default_str();
  cmd->add_option("--attempt-timeout-seconds", c->attempt_timeout_seconds,
                  "Deadline of each try of submit/status/cancel/list (0 = none)")
      ->capture_default_str();
}

[[noreturn]] void Fail(const absl::Status& s) {
  std::cerr << "evo2: " << absl::StatusCodeToString(s.code()) << ": " << s.message() << "\n";
  // Exit codes: 2 bad request, 3 not found, 4 auth, 1 anything else.
  int code = 1;
  if (absl::IsInvalidArgument(s) || absl::IsResourceExhausted(s) || absl::IsAlreadyExists(s) ||
      absl::IsFailedPrecondition(s)) {
    code = 2;
  } else if (absl::IsNotFound(s)) {
    code = 3;
  } else if (absl::IsUnauthenticated(s) || absl::IsPermissionDenied(s)) {
    code = 4;
  }
  throw CLI::RuntimeError(code);
}

std::unique_ptr<JobClient> Open(const Common& c) {
  ClientOptions options = c.options;
  RetryPolicy& r = options.retry;
  r.max_attempts = c.retry_attempts;
  r.max_total = absl::Seconds(c.retry_max_seconds);
  r.initial_backoff = absl::Milliseconds(c.retry_initial_ms);
  r.max_backoff = absl::Milliseconds(c.retry_max_backoff_ms);
  r.attempt_timeout = absl::Seconds(c.attempt_timeout_seconds);
  r.on_retry = [max = c.retry_attempts](const absl::Status& s, int next, absl::Duration wait) {
    std::cerr << "evo2: " << absl::StatusCodeToString(s.code()) << ": " << s.message()
              << "; retrying in " << absl::FormatDuration(absl::Trunc(wait, absl::Milliseconds(1)))
              << " (try " << next << "/" << max << ")\n";
  };
  auto client = JobClient::Connect(options);
  if (!client.ok()) Fail(client.status());
  return std::move(*client);
}

std::string Json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

std::string StateShort(evo2::v1::JobState s) {
  std::string n = evo2::v1::JobState_Name(s);
  return n.substr(n.rfind('_') + 1);
}

std::string ReadInput(const std::string& path) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) Fail(absl::NotFoundError(absl::StrCat("cannot read '", path, "'")));
    ss << in.rdbuf();
  }
  return ss.str();
}

void PrintEvent(const evo2::v1::JobEvent& ev, bool tty) {
  if (ev.type() == evo2::v1::JOB_EVENT_TYPE_TOKENS_GENERATED) {
    std::cout << (tty ? "\r\033[K" : "") << TokensEventLine(ev) << "\n" << std::flush;
    return;
  }
  if (ev.type() == evo2::v1::JOB_EVENT_TYPE_VARIANTS_PROGRESS) {
    std::cout << (tty ? "\r\033[K" : "") << VariantProgressLine(ev) << "\n" << std::flush;
    return;
  }
  const auto& p = ev.progress();
  std::string bar;
  if (p.tokens_total() > 0) {
    const int width = 30;
    const int filled = static_cast<int>(width * p.tokens_done() / p.tokens_total());
    bar = absl::StrCat("[", std::string(filled, '#'), std::string(width - filled, '.'), "] ");
  }
  std::string line = absl::StrFormat(
      "%s %-9s %s%lld/%lld records, %lld/%lld tokens  %s",
      absl::FormatTime("%H:%M:%S", absl::FromUnixMicros(ev.time_us()), absl::LocalTimeZone()),
      StateShort(ev.state()), bar, static_cast<long long>(p.records_done()),
      static_cast<long long>(p.records_total()), static_cast<long long>(p.tokens_done()),
      static_cast<long long>(p.tokens_total()), ev.message());
  if (ev.has_error() && ev.error().code() != 0) {
    absl::StrAppend(&line, " [", absl::StatusCodeToString(
                                     static_cast<absl::StatusCode>(ev.error().code())),
                    ": ", ev.error().message(), "]");
  }
  // On a terminal, record-finished events overwrite one progress line; state changes stay.
  if (tty && ev.type() == evo2::v1::JOB_EVENT_TYPE_RECORD_FINISHED) {
    std::cout << "\r\033[K" << line << std::flush;
  } else {
    std::cout << (tty ? "\r\033[K" : "") << line << "\n" << std::flush;
  }
}

// Follows a job until it ends; returns the final job.
evo2::v1::Job WatchToEnd(JobClient& client, const std::string& id, bool quiet) {
  const bool tty = isatty(STDOUT_FILENO) != 0;
  absl::Status s = client.Watch(id, "", [&](const evo2::v1::JobEvent& ev) {
    if (!quiet) PrintEvent(ev, tty);
    return true;
  });
  if (!s.ok()) Fail(s);
  auto job = client.Get(id);
  if (!job.ok()) Fail(job.status());
  return *job;
}

void PrintResults(JobClient& client, const std::string& id, bool follow, const std::string& out_dir,
                  bool json) {
  evo2::v1::GetJobResultsRequest req;
  req.set_job_id(id);
  req.set_follow(follow);
  bool header_printed = false;
  auto end = client.Results(req, [&](evo2::v1::RecordResult&& r) {
    if (!json && r.generated_size() > 0) {  // a generate job: its sequences as FASTA
      std::cout << GeneratedFasta(r);
      return;
    }
    if (!json && r.files_size() > 0) {  // a variant job: its files, or the TSV on stdout
      absl::Status s = absl::OkStatus();
      if (!out_dir.empty()) {
        s = WriteResultFiles(r, out_dir);
      } else {
        for (const auto& f : r.files()) {
          if (f.media_type() == "text/tab-separated-values") std::cout << f.data();
        }
      }
      if (!s.ok()) Fail(s);
      return;
    }
    if (!json && !header_printed) {
      std::cout << "index\tname\tnum_tokens\tlog_prob_sum\tlog_prob_mean\n";
      header_printed = true;
    }
    if (json) {
      evo2::v1::RecordResult head = r;
      for (auto& t : *head.mutable_tensors()) t.clear_data();
      for (auto& f : *head.mutable_files()) f.clear_data();
      std::cout << Json(head) << "\n";
    } else {
      std::cout << absl::StrFormat("%d\t%s\t%d\t%.6f\t%.6f\n", r.record_index(), r.record_name(),
                                   r.num_tokens(), r.log_prob_sum(), r.log_prob_mean());
    }
    if (!out_dir.empty()) {
      for (const auto& t : r.tensors()) {
        const std::string& name = t.name();
        // Record names are free text ("chr1/part", "../x"): the engine's mapping keeps every
        // file inside out_dir, and the index prefix keeps names that map alike apart.
        auto path = std::filesystem::path(out_dir) / absl::StrCat(r.record_index(), "_",
                                                                  SafeFileStem(r.record_name()),
                                                                  ".", SafeFileStem(name), ".npy");
        if (auto s = WriteNpy(path, t); !s.ok()) Fail(s);
      }
    }
  });
  if (!end.ok()) Fail(end.status());
  if (!end->complete()) {
    std::cerr << "evo2: job " << id << " is " << StateShort(end->job().state()) << "; "
              << end->records_sent() << " records sent, results incomplete\n";
  }
}

}  // namespace

void AddClientCommands(CLI::App& app) {
  // --- submit ---
  {
    auto c = std::make_shared<Common>();
    auto req = std::make_shared<evo2::v1::SubmitJobRequest>();
    auto fasta = std::make_shared<std::string>();
    auto model = std::make_shared<std::string>();
    auto flags = std::make_shared<std::vector<std::string>>();
    auto embeddings = std::make_shared<std::vector<std::string>>();
    auto labels = std::make_shared<std::vector<std::string>>();
    auto opts = std::make_shared<std::map<std::string, std::string>>();
    auto wait = std::make_shared<bool>(false);
    auto per_token = std::make_shared<bool>(false);
    auto logits = std::make_shared<bool>(false);
    auto bos = std::make_shared<bool>(false);
    auto keep_case = std::make_shared<bool>(false);
    auto bf16 = std::make_shared<bool>(false);
    auto priority = std::make_shared<std::string>("normal");
    auto idem = std::make_shared<std::string>();
    auto out_dir = std::make_shared<std::string>();
    auto gen = std::make_shared<GenerateFlags>();
    auto variants = std::make_shared<VariantFlags>();
    auto* cmd = app.add_subcommand(
        "submit", "Submit a FASTA file as a scoring (or --generate) job, or --score-variants");
    AddCommon(cmd, c.get());
    cmd->add_option("fasta", *fasta, "FASTA file ('-' = stdin); not with --score-variants");
    cmd->add_option("--model", *model, "Model name [EVO2_MODEL]")->envname("EVO2_MODEL")->required();
    cmd->add_flag("--per-token", *per_token, "Also return per-token log-probs");
    cmd->add_flag("--logits", *logits,
                  absl::StrCat("Return full logits [S, ", evo2::kVocabSize, "]"));
    cmd->add_option("--embedding", *embeddings,
                    "LAYER[:none|mean|max|last] hidden states to return (repeatable)");
    cmd->add_flag("--prepend-bos", *bos, "Prepend BOS (not scored)");
    cmd->add_flag("--keep-case", *keep_case, "Do not upper-case the sequence");
    cmd->add_flag("--bf16", *bf16, "Return tensors as bfloat16");
    cmd->add_option("--priority", *priority, "low | normal | high")
        ->check(CLI::IsMember({"low", "normal", "high"}))
        ->capture_default_str();
    cmd->add_option("--idempotency-key", *idem,
                    "Same key + same request = same job (default: a new random key, reused by "
                    "retries)");
    cmd->add_option("--label", *labels, "key=value (repeatable)");
    cmd->add_flag("--wait", *wait, "Watch the job and print its results");
    cmd->add_option("--out", *out_dir,
                    "With --wait: write tensors as .npy files (variant jobs: the VCF and TSV) "
                    "here");
    cmd->add_flag("--json", c->json, "Print the job as JSON");
    AddGenerateFlags(cmd, gen.get());
    AddVariantFlags(cmd, variants.get());
    cmd->callback([=] {
      evo2::v1::SubmitJobRequest r;
      r.set_model(*model);
      if (variants->score_variants) {
        // A variant job carries no FASTA and no record options (inputs.proto).
        if (!fasta->empty()) {
          Fail(absl::InvalidArgumentError(
              "--score-variants takes its input from --vcf; give no FASTA file"));
        }
        if (absl::Status s = ApplyVariantFlags(*variants, r); !s.ok()) Fail(s);
      } else {
        if (fasta->empty()) {
          Fail(absl::InvalidArgumentError("a FASTA file is required (or --score-variants)"));
        }
        r.set_fasta(ReadInput(*fasta));
        auto* o = r.mutable_outputs();
        o->add_log_probs(evo2::v1::LOG_PROB_REDUCTION_SUM);
        o->add_log_probs(evo2::v1::LOG_PROB_REDUCTION_MEAN);
        if (*per_token) o->add_log_probs(evo2::v1::LOG_PROB_REDUCTION_PER_TOKEN);
        o->set_logits(*logits);
        if (*bf16) o->set_tensor_dtype(evo2::v1::DTYPE_BFLOAT16);
        for (const auto& e : *embeddings) {
          auto* er = o->add_embeddings();
          auto colon = e.rfind(':');
          er->set_layer(e.substr(0, colon));
          er->set_pooling(evo2::v1::POOLING_MEAN);
          if (colon != std::string::npos) {
            const std::string p = e.substr(colon + 1);
            evo2::v1::Pooling pool;
            std::string upper = "POOLING_";
            for (char ch : p)
              upper += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            if (!evo2::v1::Pooling_Parse(upper, &pool)) {
              Fail(
                  absl::InvalidArgumentError(absl::StrCat("--embedding ", e, ": unknown pooling")));
            }
            er->set_pooling(pool);
          }
        }
        ApplyGenerateFlags(*gen, r);
        r.mutable_options()->set_prepend_bos(*bos);
        r.mutable_options()->set_keep_case(*keep_case);
      }
      if (*priority == "high") {
        r.set_priority(evo2::v1::PRIORITY_HIGH);
      } else if (*priority == "low") {
        r.set_priority(evo2::v1::PRIORITY_LOW);
      } else {
        r.set_priority(evo2::v1::PRIORITY_NORMAL);  // the only value left after the check
      }
      // Always keyed: a retry after a lost answer then finds the job instead of making another.
      r.set_idempotency_key(idem->empty() ? NewIdempotencyKey() : *idem);
      for (const auto& l : *labels) {
        auto eq = l.find('=');
        if (eq == std::string::npos) Fail(absl::InvalidArgumentError("--label wants key=value"));
        (*r.mutable_labels())[l.substr(0, eq)] = l.substr(eq + 1);
      }
      auto client = Open(*c);
      auto resp = client->Submit(r);
      if (!resp.ok()) Fail(resp.status());
      const std::string id = resp->job().job_id();
      if (c->json) {
        std::cout << Json(*resp) << "\n";
      } else {
        std::cout << id << "\n" << std::flush;
      }
      if (*wait) {
        auto job = WatchToEnd(*client, id, c->json);
        PrintResults(*client, id, false, *out_dir, c->json);
        if (job.state() != evo2::v1::JOB_STATE_SUCCEEDED) throw CLI::RuntimeError(1);
      }
    });
  }
  // --- status ---
  {
    auto c = std::make_shared<Common>();
    auto id = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("status", "Show a job (JSON)");
    AddCommon(cmd, c.get());
    cmd->add_option("job_id", *id)->required();
    cmd->callback([=] {
      auto job = Open(*c)->Get(*id);
      if (!job.ok()) Fail(job.status());
      std::cout << Json(*job) << "\n";
    });
  }
  // --- watch ---
  {
    auto c = std::make_shared<Common>();
    auto id = std::make_shared<std::string>();
    auto after = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("watch", "Follow a job's events with a progress display");
    AddCommon(cmd, c.get());
    cmd->add_option("job_id", *id)->required();
    cmd->add_option("--after", *after, "Resume after this event id");
    cmd->add_flag("--json", c->json, "One JSON event per line");
    cmd->callback([=] {
      auto client = Open(*c);
      const bool tty = isatty(STDOUT_FILENO) != 0;
      absl::Status s = client->Watch(*id, *after, [&](const evo2::v1::JobEvent& ev) {
        if (c->json) {
          std::string out;
          google::protobuf::util::JsonPrintOptions o;
          o.preserve_proto_field_names = true;
          (void)google::protobuf::util::MessageToJsonString(ev, &out, o);
          std::cout << out << "\n" << std::flush;
        } else {
          PrintEvent(ev, tty);
        }
        return true;
      });
      if (!s.ok()) Fail(s);
      auto job = client->Get(*id);
      if (!job.ok()) Fail(job.status());
      if (job->state() != evo2::v1::JOB_STATE_SUCCEEDED) throw CLI::RuntimeError(1);
    });
  }
  // --- results ---
  {
    auto c = std::make_shared<Common>();
    auto id = std::make_shared<std::string>();
    auto out_dir = std::make_shared<std::string>();
    auto no_follow = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand("results", "Print per-record scores (and write tensors)");
    AddCommon(cmd, c.get());
    cmd->add_option("job_id", *id)->required();
    cmd->add_option("--out", *out_dir, "Write tensors as .npy files into this directory");
    cmd->add_flag("--no-follow", *no_follow, "Only the records finished so far");
    cmd->add_flag("--json", c->json, "One JSON record per line (tensor data omitted)");
    cmd->callback([=] {
      if (!out_dir->empty()) std::filesystem::create_directories(*out_dir);
      auto client = Open(*c);
      PrintResults(*client, *id, !*no_follow, *out_dir, c->json);
    });
  }
  // --- cancel ---
  {
    auto c = std::make_shared<Common>();
    auto id = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("cancel", "Cancel a job");
    AddCommon(cmd, c.get());
    cmd->add_option("job_id", *id)->required();
    cmd->callback([=] {
      auto job = Open(*c)->Cancel(*id);
      if (!job.ok()) Fail(job.status());
      std::cout << *id << " " << StateShort(job->state())
                << (job->cancel_requested() ? " (cancel requested)" : "") << "\n";
    });
  }
  // --- list ---
  {
    auto c = std::make_shared<Common>();
    auto state = std::make_shared<std::string>();
    auto list_model = std::make_shared<std::string>();
    auto size = std::make_shared<int>(20);
    auto token = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("list", "List your jobs, newest first");
    AddCommon(cmd, c.get());
    cmd->add_option("--state", *state, "queued|running|succeeded|failed|cancelled");
    cmd->add_option("--model", *list_model, "Only jobs of this model");
    cmd->add_option("--page-size", *size);
    cmd->add_option("--page-token", *token);
    cmd->add_flag("--json", c->json, "JSON output");
    cmd->callback([=] {
      evo2::v1::ListJobsRequest r;
      r.set_page_size(*size);
      r.set_page_token(*token);
      r.set_model(*list_model);
      if (!state->empty()) {
        std::string upper = "JOB_STATE_";
        for (char ch : *state) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        evo2::v1::JobState st;
        if (!evo2::v1::JobState_Parse(upper, &st)) {
          Fail(absl::InvalidArgumentError(absl::StrCat("--state ", *state, ": unknown state")));
        }
        r.set_state(st);
      }
      auto resp = Open(*c)->List(r);
      if (!resp.ok()) Fail(resp.status());
      if (c->json) {
        std::cout << Json(*resp) << "\n";
        return;
      }
      for (const auto& j : resp->jobs()) {
        std::cout << absl::StrFormat(
            "%s  %-9s  %-12s  %lld/%lld records  %s\n", j.job_id(), StateShort(j.state()),
            j.model(), static_cast<long long>(j.progress().records_done()),
            static_cast<long long>(j.progress().records_total()),
            absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMicros(j.create_time_us()),
                             absl::LocalTimeZone()));
      }
      if (!resp->next_page_token().empty()) {
        std::cout << "next page: --page-token " << resp->next_page_token() << "\n";
      }
    });
  }
}

}  // namespace evo2::client
