#include "submit_validation.h"

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "error_details.h"
#include "evo2/fasta.h"
#include "evo2/layer_name.h"
#include "evo2/status_macros.h"
#include "evo2/tokenizer.h"
#include "generation_validation.h"
#include "variant_validation.h"

namespace evo2::svc {
namespace {

using evo2::v1::SequenceRecord;

// A record plus where it came from, for error messages.
struct Located {
  SequenceRecord record;
  int64_t header_line = 0;  // 0 when the input was a record list
};

std::string Where(const Located& r, int64_t index) {
  std::string name = r.record.name().substr(0, 64);
  if (r.header_line > 0) {
    return absl::StrCat("record '", name, "' (#", index + 1, ", line ", r.header_line, ")");
  }
  return absl::StrCat("record '", name, "' (#", index + 1, ")");
}

// Request path of a record's field for error details: FASTA records all live in `fasta`.
std::string FieldOf(const Located& r, size_t index, const char* field) {
  if (r.header_line > 0) return "fasta";
  return absl::StrCat("records.records[", index, "].", field);
}

std::string Printable(unsigned char c) {
  if (c >= 0x20 && c < 0x7f) return absl::StrFormat("'%c' (0x%02x)", c, c);
  return absl::StrFormat("byte 0x%02x", c);
}

// Header bytes of a record: what is stored and returned as its name and description.
int64_t HeaderBytes(const SequenceRecord& r) {
  return static_cast<int64_t>(r.name().size()) +
         (r.description().empty() ? 0 : 1 + static_cast<int64_t>(r.description().size()));
}

// `at` names the place ("record #3" or "fasta:12"), `field` the request path. Headers are
// stored and echoed in results, so only printable ASCII (and tab) is accepted, within the
// header limit.
absl::Status CheckHeader(const SequenceRecord& r, const std::string& at, const std::string& field,
                         int64_t max_bytes) {
  if (HeaderBytes(r) > max_bytes) {
    return InvalidField(
        field, absl::StrCat(at, ": header is ", HeaderBytes(r), " bytes (limit ", max_bytes, ")"));
  }
  for (const std::string* text : {&r.name(), &r.description()}) {
    for (unsigned char c : *text) {
      if ((c < 0x20 && c != '\t') || c >= 0x7f) {
        return InvalidField(field, absl::StrCat(at, ": header contains ", Printable(c),
                                                " (only printable ASCII is accepted)"));
      }
    }
  }
  if (r.name().empty()) return InvalidField(field, absl::StrCat(at, ": empty record name"));
  return absl::OkStatus();
}

// FASTA text → records, by the engine's own reader (evo2/fasta.h), which also refuses what is
// not FASTA, duplicate names, empty records and letters outside the alphabet, naming the record,
// line and column. Messages start with "fasta:LINE:", the request field and its line.
absl::StatusOr<std::vector<Located>> ParseFasta(const std::string& text,
                                                const SubmitLimits& limits) {
  FastaOptions options;
  options.alphabet = limits.alphabet;
  // The header limit is checked on the stored header below; the reader's own (1 MiB) only
  // bounds what it buffers.
  std::unique_ptr<FastaReader> reader =
      FastaReader::FromStream(std::make_unique<std::istringstream>(text), "fasta", options);
  std::vector<Located> out;
  while (true) {
    absl::StatusOr<std::optional<FastaRecord>> next = reader->Next();
    if (!next.ok()) return WithFieldViolation(next.status(), "fasta");
    std::optional<FastaRecord>& record = *next;
    if (!record) return out;
    const std::string at = absl::StrCat("fasta:", record->header_line);
    if (static_cast<int64_t>(out.size()) >= limits.max_records) {
      return SizeLimitError(
          "TOO_MANY_RECORDS", "fasta",
          absl::StrCat(at, ": more than ", limits.max_records, " records (limit per job)"),
          static_cast<int64_t>(out.size()) + 1, limits.max_records);
    }
    Located r;
    r.header_line = record->header_line;
    r.record.set_name(std::move(record->name));
    r.record.set_description(std::move(record->description));
    r.record.set_sequence(std::move(record->sequence));
    RETURN_IF_ERROR(CheckHeader(r.record, at, "fasta", limits.max_header_bytes));
    out.push_back(std::move(r));
  }
}

int64_t DtypeBytes(evo2::v1::DType d) { return d == evo2::v1::DTYPE_BFLOAT16 ? 2 : 4; }

}  // namespace

absl::Status ValidateMetadata(const evo2::v1::SubmitJobRequest& req) {
  const std::string& key = req.idempotency_key();
  if (key.size() > 128) {
    return InvalidField("idempotency_key",
                        absl::StrCat("idempotency_key is ", key.size(), " bytes (limit 128)"));
  }
  for (unsigned char c : key) {
    if (c <= 0x20 || c >= 0x7f) {
      return InvalidField("idempotency_key", absl::StrCat("idempotency_key contains ", Printable(c),
                                                          " (printable ASCII only)"));
    }
  }
  if (req.labels_size() > 32) {
    return InvalidField("labels", absl::StrCat(req.labels_size(), " labels (limit 32)"));
  }
  static const std::regex kLabelKey(R"([a-z0-9_.\-/]{1,63})");
  for (const auto& [k, v] : req.labels()) {
    if (!std::regex_match(k, kLabelKey)) {
      return InvalidField(absl::StrCat("labels[", k.substr(0, 80), "]"),
                          absl::StrCat("label key '", k.substr(0, 80),
                                       "': must be 1..63 characters of [a-z0-9_.-/]"));
    }
    if (v.size() > 256) {
      return InvalidField(
          absl::StrCat("labels[", k, "]"),
          absl::StrCat("label '", k, "': value is ", v.size(), " bytes (limit 256)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ValidatedSubmit> ValidateSubmit(const evo2::v1::SubmitJobRequest& req,
                                               const ModelLimits& model,
                                               const SubmitLimits& limits) {
  if (req.input_case() == evo2::v1::SubmitJobRequest::kVariants) {
    ValidatedSubmit v;
    RETURN_IF_ERROR(ValidateVariantSubmit(req, model, limits, v));
    return v;
  }
  std::vector<Located> records;
  if (req.input_case() == evo2::v1::SubmitJobRequest::kFasta) {
    ASSIGN_OR_RETURN(records, ParseFasta(req.fasta(), limits));
  } else if (req.input_case() == evo2::v1::SubmitJobRequest::kRecords) {
    if (req.records().records_size() > limits.max_records) {
      return SizeLimitError("TOO_MANY_RECORDS", "records.records",
                            absl::StrCat(req.records().records_size(), " records (limit ",
                                         limits.max_records, " per job)"),
                            req.records().records_size(), limits.max_records);
    }
    for (int i = 0; i < req.records().records_size(); ++i) {
      const SequenceRecord& in = req.records().records(i);
      if (in.name().empty() || in.name().find_first_of(" \t") != std::string::npos) {
        return InvalidField(
            absl::StrCat("records.records[", i, "].name"),
            absl::StrCat("record #", i + 1, ": name must be non-empty and contain no whitespace"));
      }
      // The description of a record list is free text: only the name is a header here.
      SequenceRecord name_only;
      name_only.set_name(in.name());
      RETURN_IF_ERROR(CheckHeader(name_only, absl::StrCat("record #", i + 1),
                                  absl::StrCat("records.records[", i, "].name"),
                                  limits.max_header_bytes));
      Located r;
      r.record = in;
      records.push_back(std::move(r));
    }
  } else {
    return InvalidField("input", "no input: set `fasta`, `records` or `variants`");
  }
  if (records.empty()) {
    return InvalidField(
        req.input_case() == evo2::v1::SubmitJobRequest::kFasta ? "fasta" : "records.records",
        "the input has no records");
  }

  std::array<bool, 256> allowed{};
  for (unsigned char c : limits.alphabet) {
    allowed[absl::ascii_toupper(c)] = true;
    allowed[absl::ascii_tolower(c)] = true;
  }
  const bool bos = req.options().prepend_bos();
  const auto& out = req.outputs();
  const int64_t dtype_bytes = DtypeBytes(out.tensor_dtype());
  const int64_t out_limit = out.allow_large_outputs() ? limits.hard_max_output_bytes_per_record
                                                      : limits.max_output_bytes_per_record;

  // Output options that do not depend on the record.
  if (out.embeddings_size() > limits.max_embedding_layers) {
    return InvalidField("outputs.embeddings",
                        absl::StrCat(out.embeddings_size(), " embedding layers requested (limit ",
                                     limits.max_embedding_layers, ")"));
  }
  bool any_unpooled = false;
  // Layer names by the engine's grammar (evo2/layer_name.h); the model's block count is checked
  // here when the catalog knows it, the block kinds only by the worker's engine.
  std::vector<std::pair<LayerName, std::string>> layers;
  for (int i = 0; i < out.embeddings_size(); ++i) {
    const std::string& name = out.embeddings(i).layer();
    const std::string field = absl::StrCat("outputs.embeddings[", i, "].layer");
    // Long names are cut in messages; no layer name is near 80 bytes.
    absl::StatusOr<LayerName> parsed =
        name.size() <= 80 ? ParseLayerNameSyntax(name)
                          : absl::StatusOr<LayerName>(UnknownLayerError(
                                absl::StrCat(name.substr(0, 80), "..."), "name too long"));
    if (!parsed.ok()) {
      return InvalidField(
          field, absl::StrCat("embedding layer #", i + 1, ": ", parsed.status().message()));
    }
    if (model.num_layers > 0 && parsed->block >= model.num_layers) {
      return InvalidField(field, absl::StrCat("embedding layer '", name, "': model '", model.name,
                                              "' has layers 0..", model.num_layers - 1));
    }
    // The engine refuses a layer named twice; two spellings of one layer are one request too.
    for (const auto& [other, other_name] : layers) {
      if (other.SameTap(*parsed)) {
        return InvalidField(field, absl::StrCat("embedding layer '", name,
                                                "' requested twice (also as '", other_name, "')"));
      }
    }
    layers.emplace_back(*parsed, name);
    any_unpooled |= out.embeddings(i).pooling() == evo2::v1::POOLING_NONE;
  }

  bool per_token = false;
  for (int r : out.log_probs()) per_token |= r == evo2::v1::LOG_PROB_REDUCTION_PER_TOKEN;
  int64_t pooled_layers = 0;
  for (const auto& e : out.embeddings()) pooled_layers += e.pooling() != evo2::v1::POOLING_NONE;
  const int64_t hidden = model.hidden_size > 0 ? model.hidden_size : 8192;

  ValidatedSubmit v;
  int64_t job_out_bytes = 0;
  std::map<std::string, int64_t> seen;
  for (size_t i = 0; i < records.size(); ++i) {
    Located& r = records[i];
    const std::string& seq = r.record.sequence();
    const std::string where = Where(r, static_cast<int64_t>(i));
    if (auto [it, inserted] = seen.emplace(r.record.name(), static_cast<int64_t>(i)); !inserted) {
      return InvalidField(
          FieldOf(r, i, "name"),
          absl::StrCat(where, ": duplicate record name (also #", it->second + 1, ")"));
    }
    if (seq.empty()) {
      return InvalidField(FieldOf(r, i, "sequence"), absl::StrCat(where, ": empty sequence"));
    }
    // FASTA input was checked by the reader, with line and column.
    for (size_t j = 0; j < seq.size() && r.header_line == 0; ++j) {
      const unsigned char c = static_cast<unsigned char>(seq[j]);
      if (!allowed[c]) {
        return InvalidField(FieldOf(r, i, "sequence"),
                            absl::StrCat(where, ", position ", j + 1, ": ", Printable(c),
                                         " is not in the alphabet ", limits.alphabet));
      }
    }
    const int64_t tokens = static_cast<int64_t>(seq.size()) + (bos ? 1 : 0);
    if (tokens > model.max_record_tokens) {
      return SizeLimitError(
          "RECORD_TOO_LONG", FieldOf(r, i, "sequence"),
          absl::StrCat(where, ": ", tokens, " tokens exceeds the limit of ",
                       model.max_record_tokens, " per record for model '", model.name, "'"),
          tokens, model.max_record_tokens);
    }
    if (model.advertised_record_tokens > 0 && tokens > model.advertised_record_tokens) {
      // INVALID_ARGUMENT, not RESOURCE_EXHAUSTED: no worker alive now has the memory for it
      // (docs/service.md "Limits"); the operator may add larger workers, the client may split.
      return InvalidField(
          FieldOf(r, i, "sequence"),
          absl::StrCat(where, ": ", tokens, " tokens exceeds the limit of ",
                       model.advertised_record_tokens, out.logits() ? " (with logits)" : "",
                       " per record that the live workers of model '", model.name,
                       "' can hold in memory (advertised by ", model.advertised_by, ")"));
    }
    // Tensor bytes of this record's result: [S, 512] logits, [S, H] per un-pooled layer,
    // [S-1] per-token log-probs, [H] per pooled layer (results.proto).
    int64_t out_bytes = 0;
    if (out.logits()) out_bytes += tokens * evo2::kVocabSize * dtype_bytes;
    if (any_unpooled) out_bytes += tokens * hidden * dtype_bytes;
    const int64_t large_bytes = out_bytes;  // what the per-record limits have always counted
    if (per_token) out_bytes += (tokens - 1) * dtype_bytes;
    out_bytes += pooled_layers * hidden * dtype_bytes;
    if (large_bytes > out_limit) {
      return SizeLimitError(
          out.allow_large_outputs() ? "OUTPUT_TOO_LARGE" : "OUTPUT_ABOVE_DEFAULT_LIMIT",
          FieldOf(r, i, "sequence"),
          absl::StrCat(where, ": requested outputs are ", large_bytes,
                       " bytes for this record (limit ", out_limit,
                       out.allow_large_outputs() ? ", the server's hard maximum"
                                                 : "; set allow_large_outputs to raise it",
                       ")"),
          large_bytes, out_limit);
    }
    job_out_bytes += out_bytes;
    if (job_out_bytes > limits.max_output_bytes_per_job) {
      return SizeLimitError(
          "JOB_OUTPUT_TOO_LARGE", FieldOf(r, i, "sequence"),
          absl::StrCat(where, ": requested outputs of the job reach ", job_out_bytes,
                       " bytes with this record, above the limit of ",
                       limits.max_output_bytes_per_job,
                       " bytes per job (--max-output-bytes-per-job); ask for fewer outputs or "
                       "split the input"),
          job_out_bytes, limits.max_output_bytes_per_job);
    }
    v.bases += static_cast<int64_t>(seq.size());
    v.tokens_total += tokens;
    if (v.bases > limits.max_total_bases) {
      return SizeLimitError("TOO_MANY_BASES", FieldOf(r, i, "sequence"),
                            absl::StrCat(where, ": total bases ", v.bases, " exceed the limit of ",
                                         limits.max_total_bases, " per job"),
                            v.bases, limits.max_total_bases);
    }
    *v.input.add_records() = std::move(r.record);
  }
  v.records_total = static_cast<int64_t>(records.size());
  v.input.set_model(req.model());
  *v.input.mutable_outputs() = out;
  if (v.input.outputs().log_probs_size() == 0) {
    v.input.mutable_outputs()->add_log_probs(evo2::v1::LOG_PROB_REDUCTION_SUM);
    v.input.mutable_outputs()->add_log_probs(evo2::v1::LOG_PROB_REDUCTION_MEAN);
  }
  *v.input.mutable_options() = req.options();
  if (req.has_generation()) RETURN_IF_ERROR(ValidateGeneration(req, model, v));
  return v;
}

}  // namespace evo2::svc
