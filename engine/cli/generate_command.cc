// `evo2 generate`: prompted DNA generation with cached-state decoding (evo2/generate.h), FASTA
// out. Order of checks: flags, prompts (fully read and validated), output paths, then the
// (slow) model load, so that bad input fails in milliseconds.
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "default_model.h"
#include "engine_commands.h"
#include "evo2/checkpoint.h"
#include "evo2/config.h"
#include "evo2/device.h"
#include "evo2/fasta.h"
#include "evo2/generate.h"
#include "evo2/model.h"
#include "evo2/status_macros.h"
#include "evo2/tokenizer.h"

namespace evo2::cli {
namespace {

constexpr size_t kFastaLineWidth = 80;

struct GenerateArgs {
  std::filesystem::path ckpt_dir;
  std::string model_size;
  std::string prompt;
  std::filesystem::path prompt_fasta;
  std::filesystem::path output;     // empty: stdout
  std::filesystem::path log_probs;  // empty: not written
  bool keep_case = false;
  Device device = Device::kCpu;
  Precision precision = Precision::kDefault;
  int threads = 0;
  GenerateOptions gen;
};

struct Prompt {
  std::string name;
  std::vector<int32_t> tokens;
};

// The prompts, validated by the engine's FASTA reader (one parser for sequences, whether they
// come from --prompt or --prompt-fasta).
absl::StatusOr<std::vector<Prompt>> ReadPrompts(const GenerateArgs& a) {
  std::unique_ptr<FastaReader> reader;
  if (!a.prompt.empty()) {
    reader = FastaReader::FromStream(
        std::make_unique<std::istringstream>(">prompt\n" + a.prompt + "\n"), "--prompt");
  } else {
    ASSIGN_OR_RETURN(reader, FastaReader::Open(a.prompt_fasta));
  }
  TokenizerOptions tok;
  tok.keep_case = a.keep_case;
  std::vector<Prompt> prompts;
  while (true) {
    ASSIGN_OR_RETURN(auto rec, reader->Next());
    if (!rec) break;
    prompts.push_back({rec->name, Tokenize(rec->sequence, tok)});
  }
  return prompts;
}

std::string OutputName(const Prompt& p, const GeneratedSequence& g, int num_samples) {
  return num_samples == 1 ? p.name : absl::StrCat(p.name, "_sample", g.sample);
}

absl::Status WriteText(const std::filesystem::path& path, const std::string& text,
                       const char* what) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", what, " ", path.string()));
  return absl::OkStatus();
}

absl::Status CheckWritable(const std::filesystem::path& path, const char* flag) {
  if (path.empty()) return absl::OkStatus();
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  if (!std::filesystem::is_directory(dir)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": directory ", dir.string(), " does not exist"));
  }
  return absl::OkStatus();
}

absl::Status RunGenerate(const GenerateArgs& a) {
  if (a.prompt.empty() == a.prompt_fasta.empty()) {
    return absl::InvalidArgumentError("give exactly one of --prompt and --prompt-fasta");
  }
  RETURN_IF_ERROR(ValidateSamplingOptions(a.gen.sampling));
  ASSIGN_OR_RETURN(const std::vector<Prompt> prompts, ReadPrompts(a));
  RETURN_IF_ERROR(CheckWritable(a.output, "--output"));
  RETURN_IF_ERROR(CheckWritable(a.log_probs, "--log-probs"));

  std::filesystem::path ckpt_dir = a.ckpt_dir;
  if (ckpt_dir.empty()) {
    ASSIGN_OR_RETURN(ckpt_dir, DefaultModelDir());
    std::cerr << "evo2 generate: no --ckpt-dir; using the demo model " << ckpt_dir.string()
              << " (docs/demo-model.md)\n";
  }
  ASSIGN_OR_RETURN(const CheckpointDescription ckpt, DescribeCheckpoint(ckpt_dir));
  LoadOptions lo;
  lo.checkpoint = ckpt_dir;
  if (!a.model_size.empty()) lo.model_size = a.model_size;
  lo.device = a.device;
  lo.precision = a.precision;
  lo.threads = a.threads;
  ASSIGN_OR_RETURN(auto model, LoadModel(lo));

  std::vector<std::vector<int32_t>> tokens;
  for (const Prompt& p : prompts) tokens.push_back(p.tokens);
  ASSIGN_OR_RETURN(const auto generated, Generate(*model, tokens, a.gen));

  std::string fasta, lp = "name\tindex\ttoken\tlog_prob\n";
  for (const GeneratedSequence& g : generated) {
    const Prompt& p = prompts[g.prompt_index];
    const std::string name = OutputName(p, g, a.gen.num_samples);
    absl::StrAppend(&fasta, ">", name, " prompt_length=", p.tokens.size(),
                    " new_tokens=", g.tokens.size(), " seed=", a.gen.sampling.seed, "\n");
    std::string seq(g.tokens.begin(), g.tokens.end());  // alphabet ids are their bytes
    for (size_t i = 0; i < seq.size(); i += kFastaLineWidth) {
      absl::StrAppend(&fasta, seq.substr(i, kFastaLineWidth), "\n");
    }
    for (size_t i = 0; i < g.tokens.size(); ++i) {
      absl::StrAppend(&lp, name, "\t", i, "\t", std::string(1, static_cast<char>(g.tokens[i])),
                      "\t", g.log_probs[i], "\n");
    }
  }
  if (!a.log_probs.empty()) RETURN_IF_ERROR(WriteText(a.log_probs, lp, "--log-probs"));
  if (a.output.empty()) {
    std::cout << fasta << std::flush;
    if (!std::cout) return absl::UnavailableError("cannot write the FASTA to stdout");
    return absl::OkStatus();
  }
  return WriteText(a.output, fasta, "--output");
}

}  // namespace

void AddGenerateCommand(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  GenerateArgs& a = *args;
  CLI::App* cmd = app.add_subcommand(
      "generate",
      "Generate DNA continuing a prompt (cached-state decoding); writes FASTA, one record per "
      "prompt and sample, holding the new bases only.");
  cmd->add_option("--ckpt-dir", a.ckpt_dir,
                  "Checkpoint (as for predict). Default: the demo model shipped with evo2 "
                  "(models/evo2-demo; override with $EVO2_DEFAULT_MODEL)");
  cmd->add_option("--model-size", a.model_size,
                  "Architecture preset, for checkpoints that carry no config");
  auto* prompt = cmd->add_option("--prompt", a.prompt, "Prompt bases, e.g. ACGTACGT");
  auto* fasta =
      cmd->add_option("--prompt-fasta", a.prompt_fasta, "FASTA file: one prompt per record");
  prompt->excludes(fasta);
  cmd->add_option("--max-new-tokens", a.gen.max_new_tokens, "Bases to generate per sequence")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--temperature", a.gen.sampling.temperature,
                  "Sampling temperature (0 = greedy: always the most likely base)")
      ->capture_default_str();
  cmd->add_option("--top-k", a.gen.sampling.top_k, "Sample among the k most likely (0 = all)")
      ->capture_default_str();
  cmd->add_option("--top-p", a.gen.sampling.top_p,
                  "Nucleus sampling: the smallest set reaching this probability (1 = all)")
      ->capture_default_str();
  cmd->add_option("--seed", a.gen.sampling.seed,
                  "Random seed; the same seed, model, device and --batch give the same output")
      ->capture_default_str();
  cmd->add_option("--num-samples", a.gen.num_samples, "Sequences generated per prompt")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch", a.gen.batch_size, "Sequences decoded together in one step")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--alphabet", a.gen.sampling.alphabet,
                  "Bases that may be generated (the model's other tokens are never drawn)")
      ->capture_default_str();
  cmd->add_flag("--keep-case", a.keep_case,
                "Tokenize the prompt as given instead of upper-casing it like predict");
  cmd->add_option("--output", a.output, "FASTA output file (default: stdout)");
  cmd->add_option("--log-probs", a.log_probs,
                  "Also write each generated base's log-probability under the model (natural "
                  "log, temperature 1) as TSV: name, index, token, log_prob");
  cmd->add_option_function<std::string>(
         "--device",
         [&a](const std::string& text) {
           auto d = ParseDevice(text);
           if (d.ok()) a.device = *d;
         },
         "cpu (fp32) or cuda (bf16 by default); every model family on both")
      ->check(CLI::Validator(
          [](std::string& text) {
            auto d = ParseDevice(text);
            return d.ok() ? std::string() : std::string(d.status().message());
          },
          ""));
  cmd->add_option_function<std::string>(
         "--precision",
         [&a](const std::string& text) {
           auto p = ParsePrecision(text);
           if (p.ok()) a.precision = *p;
         },
         "Compute precision: the device's default (fp32 cpu, bf16 cuda), or fp32 on cuda for "
         "checking against the CPU")
      ->check(CLI::Validator(
          [](std::string& text) {
            auto p = ParsePrecision(text);
            return p.ok() ? std::string() : std::string(p.status().message());
          },
          ""));
  cmd->add_option("--threads", a.threads, "CPU threads (0 = all cores)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->callback([args]() {
    const absl::Status status = RunGenerate(*args);
    if (!status.ok()) {
      std::cerr << "evo2 generate: error: " << status.message() << std::endl;
      throw CLI::RuntimeError(status.code() == absl::StatusCode::kCancelled ? 130 : 1);
    }
  });
}

}  // namespace evo2::cli
