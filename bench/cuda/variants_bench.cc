// Variant-scoring throughput of the cuda backend (bench/RESULTS.md, docs/variant-scoring.md §5):
// random bf16 weights with the real evo2_7b (or evo2_1b_base) shape on one GPU, a random
// A/C/G/T reference contig and a VCF of SNVs, insertions and deletions, scored end to end by
// the engine's ScoreVariants (htslib reading, window cutting, batching, annotated VCF writing)
// exactly as `evo2 score-variants --device cuda` runs it. Reports variants/s, forward passes/s
// and tokens/s per --batch and path after one warm-up run (cuBLAS/cuDNN plans, workspace
// growth). Paths: `shared` (the default: windows that start alike continue from one prefix
// forward through Decoder::Extend, docs/variant-scoring.md §5) and `full` (--no-shared-prefix:
// a full forward per window).
//
//   evo2_variants_bench [--model 7b|1b] [--window 8192] [--variants 96] [--batches 1,4,8]
//                       [--paths shared,full] [--both-strands]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cuda/cuda_model.h"
#include "cuda/cuda_weights.h"
#include "evo2/config.h"
#include "evo2/variant_scoring.h"

namespace {

// A contig of `bases` random A/C/G/T and `n` variants spread evenly over it: a third SNVs, a
// third 1-4-base insertions, a third 1-4-base deletions (REF taken from the contig).
void WriteInputs(const std::filesystem::path& dir, int64_t bases, int n) {
  std::mt19937 rng(11);
  const char acgt[] = "ACGT";
  std::string seq(static_cast<size_t>(bases), 'A');
  for (char& c : seq) c = acgt[rng() % 4];
  std::ofstream fa(dir / "ref.fa");
  fa << ">chrB\n";
  for (size_t i = 0; i < seq.size(); i += 80) fa << seq.substr(i, 80) << "\n";
  std::ofstream vcf(dir / "in.vcf");
  vcf << "##fileformat=VCFv4.2\n##contig=<ID=chrB,length=" << bases
      << ">\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n";
  const int64_t step = bases / (n + 1);
  for (int i = 0; i < n; ++i) {
    const int64_t p = step * (i + 1);  // 0-based
    const int k = 1 + static_cast<int>(rng() % 4);
    std::string ref(1, seq[p]), alt;
    if (i % 3 == 0) {
      alt = std::string(1, acgt[(std::string(acgt).find(seq[p]) + 1 + rng() % 3) % 4]);
    } else if (i % 3 == 1) {
      alt = ref;
      for (int j = 0; j < k; ++j) alt += acgt[rng() % 4];
    } else {
      ref = seq.substr(p, k + 1);
      alt = ref.substr(0, 1);
    }
    vcf << "chrB\t" << p + 1 << "\tv" << i << "\t" << ref << "\t" << alt << "\t.\tPASS\t.\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_name = "7b";
  int64_t window = 8192;
  int variants = 96;
  std::string batches_arg = "1,4,8";
  std::string paths_arg = "shared,full";
  bool both = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--model" && i + 1 < argc)
      model_name = argv[++i];
    else if (a == "--window" && i + 1 < argc)
      window = std::atoll(argv[++i]);
    else if (a == "--variants" && i + 1 < argc)
      variants = std::atoi(argv[++i]);
    else if (a == "--batches" && i + 1 < argc)
      batches_arg = argv[++i];
    else if (a == "--paths" && i + 1 < argc)
      paths_arg = argv[++i];
    else if (a == "--both-strands")
      both = true;
    else {
      std::fprintf(stderr,
                   "usage: %s [--model 7b|1b] [--window N] [--variants N] "
                   "[--batches 1,4,8] [--paths shared,full] [--both-strands]\n",
                   argv[0]);
      return 2;
    }
  }
  auto config = evo2::ModelConfigPreset(model_name == "1b" ? "evo2_1b_base" : "evo2_7b");
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.status().ToString().c_str());
    return 1;
  }
  auto weights = evo2::cuda::DeviceWeights::Random(*config, evo2::DType::kBFloat16, 1234);
  if (!weights.ok()) {
    std::fprintf(stderr, "weights: %s\n", weights.status().ToString().c_str());
    return 1;
  }
  auto model = evo2::cuda::CudaModel::Create(*config, std::move(*weights));
  if (!model.ok()) {
    std::fprintf(stderr, "model: %s\n", model.status().ToString().c_str());
    return 1;
  }
  const auto dir = std::filesystem::temp_directory_path() / "evo2_variants_bench";
  std::filesystem::create_directories(dir);
  WriteInputs(dir, std::max<int64_t>(4 * window, int64_t{2} * (variants + 1) * 64), variants);
  std::printf("%s (%s), attention: %s; %d variants, window %lld, %s\n", model_name.c_str(),
              config->name.c_str(), (*model)->attention_note().c_str(), variants,
              static_cast<long long>(window), both ? "both strands" : "forward strand");
  std::vector<std::string> paths = absl::StrSplit(paths_arg, ',');
  for (const std::string& path : paths) {
    if (path != "shared" && path != "full") {
      std::fprintf(stderr, "--paths: '%s' is neither shared nor full\n", path.c_str());
      return 2;
    }
  }
  for (absl::string_view b : absl::StrSplit(batches_arg, ','))
    for (const std::string& path : paths) {
      evo2::VariantScoringOptions o;
      o.shared_prefix = path == "shared";
      o.vcf = dir / "in.vcf";
      o.reference = dir / "ref.fa";
      o.output = dir / "out.vcf.gz";
      o.window_bases = window;
      o.both_strands = both;
      o.batch_windows = std::atoi(std::string(b).c_str());
      o.model_name = config->name;
      o.precision_name = "bf16";
      double seconds = 0;
      evo2::VariantScoringSummary s;
      for (int run = 0; run < 2; ++run) {  // run 0 warms up (plans, workspace for this batch)
        const auto t0 = std::chrono::steady_clock::now();
        auto summary = evo2::ScoreVariants(**model, o);
        seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!summary.ok()) {
          std::fprintf(stderr, "batch %d: %s\n", o.batch_windows,
                       summary.status().ToString().c_str());
          return 1;
        }
        s = *summary;
      }
      std::printf(
          "batch %2d %-6s: %lld variants in %.2f s = %.2f variants/s, %.1f windows/s, "
          "%.0f tokens/s (%lld windows, %lld reused, %lld from a shared prefix)\n",
          o.batch_windows, path.c_str(), static_cast<long long>(s.records), seconds,
          s.records / seconds, s.windows_scored / seconds, s.tokens_scored / seconds,
          static_cast<long long>(s.windows_scored), static_cast<long long>(s.windows_reused),
          static_cast<long long>(s.windows_from_shared_prefix));
      std::fflush(stdout);
    }
  std::filesystem::remove_all(dir);
  return 0;
}
