#include "submit_validation.h"

#include <array>
#include <map>
#include <optional>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

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

std::string Printable(unsigned char c) {
  if (c >= 0x20 && c < 0x7f) return absl::StrFormat("'%c' (0x%02x)", c, c);
  return absl::StrFormat("byte 0x%02x", c);
}

// Header id: up to the first whitespace; description: the rest.
// `line` 0: the record came as a SequenceRecord (messages then name no line).
absl::Status SplitHeader(std::string_view header, int64_t line, int64_t max_bytes,
                         SequenceRecord* rec) {
  const std::string at = line > 0 ? absl::StrCat("line ", line) : std::string("record name");
  if (static_cast<int64_t>(header.size()) > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(at, ": header is ", header.size(),
                                                   " bytes (limit ", max_bytes, ")"));
  }
  for (size_t i = 0; i < header.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(header[i]);
    if ((c < 0x20 && c != '\t') || c >= 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(
          at, ", column ", i + (line > 0 ? 2 : 1), ": header contains ", Printable(c),
          " (only printable ASCII is accepted)"));
    }
  }
  size_t ws = header.find_first_of(" \t");
  rec->set_name(std::string(header.substr(0, ws)));
  if (ws != std::string_view::npos) {
    rec->set_description(std::string(absl::StripAsciiWhitespace(
        absl::string_view(header.data() + ws, header.size() - ws))));
  }
  if (rec->name().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(at, ": empty record name"));
  }
  return absl::OkStatus();
}

// FASTA text → records. Blank lines are allowed anywhere; '\r' line endings are accepted;
// sequence bytes are checked later, against the alphabet, with their line and column.
absl::StatusOr<std::vector<Located>> ParseFasta(const std::string& text,
                                                const SubmitLimits& limits,
                                                std::vector<std::vector<int64_t>>* line_starts) {
  std::vector<Located> out;
  int64_t line = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    ++line;
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view l(text.data() + pos, end - pos);
    pos = end + 1;
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (l.empty()) continue;
    if (l[0] == '>') {
      if (static_cast<int64_t>(out.size()) >= limits.max_records) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "line ", line, ": more than ", limits.max_records, " records (limit per job)"));
      }
      Located r;
      r.header_line = line;
      absl::Status st = SplitHeader(l.substr(1), line, limits.max_header_bytes, &r.record);
      if (!st.ok()) return st;
      out.push_back(std::move(r));
      line_starts->emplace_back();
      continue;
    }
    if (out.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", line, ": sequence data before the first '>' header (not FASTA)"));
    }
    // Remember where each line starts inside the joined sequence, for column numbers.
    line_starts->back().push_back(static_cast<int64_t>(out.back().record.sequence().size()));
    line_starts->back().push_back(line);
    out.back().record.mutable_sequence()->append(l.data(), l.size());
  }
  return out;
}

// Maps a position in a record's joined sequence back to (line, column).
std::pair<int64_t, int64_t> LineOf(const std::vector<int64_t>& starts, int64_t offset) {
  int64_t line = 0, col = offset + 1;
  for (size_t i = 0; i + 1 < starts.size(); i += 2) {
    if (starts[i] > offset) break;
    line = starts[i + 1];
    col = offset - starts[i] + 1;
  }
  return {line, col};
}

int64_t DtypeBytes(evo2::v1::DType d) { return d == evo2::v1::DTYPE_BFLOAT16 ? 2 : 4; }

std::optional<int> LayerIndex(const std::string& name) {
  static const std::regex kVortex(R"(blocks\.(\d+)(\.mlp\.l3)?)");
  static const std::regex kNemo(R"(decoder\.layers\.(\d+))");
  std::smatch m;
  if (std::regex_match(name, m, kVortex) || std::regex_match(name, m, kNemo)) {
    int v = 0;
    if (m[1].str().size() <= 6 && absl::SimpleAtoi(m[1].str(), &v)) return v;
  }
  return std::nullopt;
}

}  // namespace

absl::Status ValidateMetadata(const evo2::v1::SubmitJobRequest& req) {
  const std::string& key = req.idempotency_key();
  if (key.size() > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat("idempotency_key is ", key.size(), " bytes (limit 128)"));
  }
  for (unsigned char c : key) {
    if (c <= 0x20 || c >= 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat("idempotency_key contains ", Printable(c), " (printable ASCII only)"));
    }
  }
  if (req.labels_size() > 32) {
    return absl::InvalidArgumentError(absl::StrCat(req.labels_size(), " labels (limit 32)"));
  }
  static const std::regex kLabelKey(R"([a-z0-9_.\-/]{1,63})");
  for (const auto& [k, v] : req.labels()) {
    if (!std::regex_match(k, kLabelKey)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "label key '", k.substr(0, 80), "': must be 1..63 characters of [a-z0-9_.-/]"));
    }
    if (v.size() > 256) {
      return absl::InvalidArgumentError(
          absl::StrCat("label '", k, "': value is ", v.size(), " bytes (limit 256)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ValidatedSubmit> ValidateSubmit(const evo2::v1::SubmitJobRequest& req,
                                               const ModelLimits& model,
                                               const SubmitLimits& limits) {
  std::vector<Located> records;
  std::vector<std::vector<int64_t>> line_starts;
  if (req.input_case() == evo2::v1::SubmitJobRequest::kFasta) {
    auto parsed = ParseFasta(req.fasta(), limits, &line_starts);
    if (!parsed.ok()) return parsed.status();
    records = std::move(*parsed);
  } else if (req.input_case() == evo2::v1::SubmitJobRequest::kRecords) {
    if (req.records().records_size() > limits.max_records) {
      return absl::ResourceExhaustedError(absl::StrCat(req.records().records_size(),
                                                       " records (limit ", limits.max_records,
                                                       " per job)"));
    }
    for (int i = 0; i < req.records().records_size(); ++i) {
      const SequenceRecord& in = req.records().records(i);
      Located r;
      std::string header = in.name();
      if (header.empty() || header.find_first_of(" \t") != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat(
            "record #", i + 1, ": name must be non-empty and contain no whitespace"));
      }
      absl::Status st = SplitHeader(header, 0, limits.max_header_bytes, &r.record);
      if (!st.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("record #", i + 1, ": ", st.message()));
      }
      r.record.set_sequence(in.sequence());
      r.record.set_description(in.description());
      records.push_back(std::move(r));
      line_starts.emplace_back();
    }
  } else {
    return absl::InvalidArgumentError("no input: set `fasta` or `records`");
  }
  if (records.empty()) return absl::InvalidArgumentError("the input has no records");

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
    return absl::InvalidArgumentError(absl::StrCat(out.embeddings_size(),
                                                   " embedding layers requested (limit ",
                                                   limits.max_embedding_layers, ")"));
  }
  bool any_unpooled = false;
  for (const auto& e : out.embeddings()) {
    auto idx = LayerIndex(e.layer());
    if (!idx) {
      return absl::InvalidArgumentError(absl::StrCat(
          "embedding layer '", e.layer().substr(0, 80),
          "': expected 'blocks.<N>', 'blocks.<N>.mlp.l3' or 'decoder.layers.<N>'"));
    }
    if (model.num_layers > 0 && *idx >= model.num_layers) {
      return absl::InvalidArgumentError(absl::StrCat("embedding layer '", e.layer(), "': model '",
                                                     model.name, "' has layers 0..",
                                                     model.num_layers - 1));
    }
    any_unpooled |= e.pooling() == evo2::v1::POOLING_NONE;
  }

  ValidatedSubmit v;
  std::map<std::string, int64_t> seen;
  for (size_t i = 0; i < records.size(); ++i) {
    Located& r = records[i];
    const std::string& seq = r.record.sequence();
    const std::string where = Where(r, static_cast<int64_t>(i));
    if (auto [it, inserted] = seen.emplace(r.record.name(), static_cast<int64_t>(i)); !inserted) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": duplicate record name (also #",
                                                     it->second + 1, ")"));
    }
    if (seq.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": empty sequence"));
    for (size_t j = 0; j < seq.size(); ++j) {
      const unsigned char c = static_cast<unsigned char>(seq[j]);
      if (!allowed[c]) {
        std::string at = absl::StrCat("position ", j + 1);
        if (r.header_line > 0) {
          auto [line, col] = LineOf(line_starts[i], static_cast<int64_t>(j));
          at = absl::StrCat("line ", line, ", column ", col);
        }
        return absl::InvalidArgumentError(absl::StrCat(where, ", ", at, ": ", Printable(c),
                                                       " is not in the alphabet ",
                                                       limits.alphabet));
      }
    }
    const int64_t tokens = static_cast<int64_t>(seq.size()) + (bos ? 1 : 0);
    if (tokens > model.max_record_tokens) {
      return absl::ResourceExhaustedError(
          absl::StrCat(where, ": ", tokens, " tokens exceeds the limit of ",
                       model.max_record_tokens, " per record for model '", model.name, "'"));
    }
    int64_t out_bytes = 0;
    if (out.logits()) out_bytes += tokens * 512 * dtype_bytes;
    if (any_unpooled) out_bytes += tokens * (model.hidden_size > 0 ? model.hidden_size : 8192) *
                                   dtype_bytes;
    if (out_bytes > out_limit) {
      return absl::ResourceExhaustedError(absl::StrCat(
          where, ": requested outputs are ", out_bytes, " bytes for this record (limit ",
          out_limit, out.allow_large_outputs() ? ", the server's hard maximum"
                                               : "; set allow_large_outputs to raise it",
          ")"));
    }
    v.bases += static_cast<int64_t>(seq.size());
    v.tokens_total += tokens;
    if (v.bases > limits.max_total_bases) {
      return absl::ResourceExhaustedError(absl::StrCat(where, ": total bases ", v.bases,
                                                       " exceed the limit of ",
                                                       limits.max_total_bases, " per job"));
    }
    *v.input.add_records() = std::move(r.record);
  }
  v.input.set_model(req.model());
  *v.input.mutable_outputs() = out;
  if (v.input.outputs().log_probs_size() == 0) {
    v.input.mutable_outputs()->add_log_probs(evo2::v1::LOG_PROB_REDUCTION_SUM);
    v.input.mutable_outputs()->add_log_probs(evo2::v1::LOG_PROB_REDUCTION_MEAN);
  }
  *v.input.mutable_options() = req.options();
  return v;
}

}  // namespace evo2::svc
