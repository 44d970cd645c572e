// `evo2 predict` on bad input: a non-zero exit, exactly one line on stderr that names the
// problem, and no output file that could pass for a result.
#include <fstream>

#include "gtest/gtest.h"
#include "run_evo2.h"
#include "support/golden_paths.h"

namespace evo2 {
namespace {

using testing::ReadFileBytes;
using testing::RunEvo2;
using testing::TempDir;

class PredictErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::GoldenCaseDir("a_tiny6");
    if (!dir) GTEST_SKIP() << "golden case a_tiny6 not available";
    case_ = *dir;
    good_fasta_ = scratch_.Write("good.fa", ">r1\nACGTACGTAC\n>r2\nGGCCTTAA\n");
  }

  // The required flags with `args` replacing or extending them.
  std::vector<std::string> Args(const std::vector<std::string>& args) {
    std::vector<std::pair<std::string, std::string>> base = {
        {"--fasta", good_fasta_.string()},
        {"--ckpt-dir", (case_ / "model.pt").string()},
        {"--output-dir", out_.string()}};
    std::vector<std::string> extra;
    for (size_t i = 0; i < args.size(); ++i) {
      bool replaced = false;
      for (auto& [flag, value] : base) {
        if (args[i] == flag && i + 1 < args.size()) {
          value = args[++i];
          replaced = true;
        }
      }
      if (!replaced) extra.push_back(args[i]);
    }
    std::vector<std::string> full = {"predict"};
    for (auto& [flag, value] : base) {
      full.push_back(flag);
      full.push_back(value);
    }
    full.insert(full.end(), extra.begin(), extra.end());
    return full;
  }

  void ExpectFailure(const std::vector<std::string>& args, const std::string& message_part) {
    const std::vector<std::string> full = Args(args);
    auto r = RunEvo2(full);
    EXPECT_NE(r.exit_code, 0) << r.err;
    EXPECT_NE(r.exit_code, -1) << "crashed: " << r.err;
    ASSERT_FALSE(r.err.empty());
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
    EXPECT_EQ(r.err.rfind("evo2 predict: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(message_part), std::string::npos)
        << "expected \"" << message_part << "\" in: " << r.err;
    // Nothing that looks like output: the directory is absent or empty.
    std::error_code ec;
    if (std::filesystem::is_directory(out_, ec)) {
      EXPECT_TRUE(std::filesystem::is_empty(out_)) << "files left in " << out_;
    }
    EXPECT_TRUE(r.out.empty()) << r.out;
  }

  TempDir scratch_{"errors"};
  std::filesystem::path case_;
  std::filesystem::path good_fasta_;
  std::filesystem::path out_ = scratch_.path() / "out";
};

TEST_F(PredictErrors, MissingCheckpoint) {
  ExpectFailure({"--ckpt-dir", (scratch_.path() / "no_such_ckpt").string()}, "no_such_ckpt");
}

TEST_F(PredictErrors, CorruptCheckpoint) {
  scratch_.Write("bad/model.pt", std::string(4096, 'x'));
  scratch_.Write("bad/config.yml", ReadFileBytes(case_ / "config.yml"));
  ExpectFailure({"--ckpt-dir", (scratch_.path() / "bad" / "model.pt").string()}, "model.pt");
}

TEST_F(PredictErrors, TruncatedCheckpoint) {
  const std::string bytes = ReadFileBytes(case_ / "model.pt");
  scratch_.Write("cut/model.pt", bytes.substr(0, bytes.size() / 2));
  scratch_.Write("cut/config.yml", ReadFileBytes(case_ / "config.yml"));
  ExpectFailure({"--ckpt-dir", (scratch_.path() / "cut" / "model.pt").string()}, "model.pt");
}

TEST_F(PredictErrors, ConfigTensorMismatch) {
  std::string yaml = ReadFileBytes(case_ / "config.yml");
  const std::string key = "hidden_size: 128";
  ASSERT_NE(yaml.find(key), std::string::npos);
  yaml.replace(yaml.find(key), key.size(), "hidden_size: 256");
  std::filesystem::create_directories(scratch_.path() / "mismatch");
  std::filesystem::copy_file(case_ / "model.pt", scratch_.path() / "mismatch" / "model.pt");
  scratch_.Write("mismatch/config.yml", yaml);
  ExpectFailure({"--ckpt-dir", (scratch_.path() / "mismatch" / "model.pt").string()}, "tensor");
}

TEST_F(PredictErrors, EmptyFasta) {
  ExpectFailure({"--fasta", scratch_.Write("empty.fa", "").string()}, "empty FASTA");
}

TEST_F(PredictErrors, RecordWithoutSequence) {
  ExpectFailure({"--fasta", scratch_.Write("noseq.fa", ">a\nACGT\n>b desc\n>c\nGG\n").string()},
                "noseq.fa:3: record \"b\" has no sequence");
}

TEST_F(PredictErrors, NonFastaFile) {
  ExpectFailure({"--fasta", (case_ / "len00017.tokens.npy").string()}, "not a FASTA");
  ExpectFailure({"--fasta", scratch_.Write("text.txt", "hello world\n").string()},
                "before the first '>'");
}

TEST_F(PredictErrors, MissingFasta) {
  ExpectFailure({"--fasta", (scratch_.path() / "absent.fa").string()}, "absent.fa");
}

TEST_F(PredictErrors, DuplicateRecordNames) {
  ExpectFailure({"--fasta", scratch_.Write("dup.fa", ">a x\nAC\n>a y\nGG\n").string()},
                "duplicate record \"a\"");
}

TEST_F(PredictErrors, StaleFaiIsAnErrorAndWriteFaiRebuildsIt) {
  // good.fa is ">r1\nACGTACGTAC\n>r2\nGGCCTTAA\n"; this index has r1 one base short.
  scratch_.Write("good.fa.fai", "r1\t9\t4\t10\t11\nr2\t8\t19\t8\t9\n");
  ExpectFailure({}, "stale index");
  auto fixed = RunEvo2(Args({"--write-fai", "--output-log-prob-seqs", "--quiet"}));
  ASSERT_EQ(fixed.exit_code, 0) << fixed.err;
  EXPECT_EQ(ReadFileBytes(scratch_.path() / "good.fa.fai"),
            "r1\t10\t4\t10\t11\nr2\t8\t19\t8\t9\n");
}

TEST_F(PredictErrors, UnwritableOutputDir) {
  scratch_.Write("blocker", "a file where a directory should be");
  out_ = scratch_.path() / "blocker" / "out";
  ExpectFailure({"--output-dir", out_.string()}, out_.string());
}

TEST_F(PredictErrors, DeviceNotAvailable) {
  if (std::filesystem::exists("/dev/nvidia0")) GTEST_SKIP() << "a GPU is present";
  ExpectFailure({"--device", "cuda"}, "cuda");
}

TEST_F(PredictErrors, UnsupportedReferenceFlags) {
  ExpectFailure({"--fp8-recipe", "delayed"}, "--fp8-recipe delayed");
  ExpectFailure({"--num-nodes", "2"}, "one evo2 process drives the devices of one node");
  ExpectFailure({"--num-layers", "4"}, "--num-layers 4");
  ExpectFailure({"--embedding-layers", "blocks.17"}, "blocks.17");
}

TEST_F(PredictErrors, LoraAdapterThatIsNotThere) {
  ExpectFailure({"--lora-checkpoint-path", (scratch_.path() / "no_adapter").string()}, "no_adapter does not exist");
  // A FASTA file is neither a NeMo2 adapter nor safetensors.
  ExpectFailure({"--lora-checkpoint-path", good_fasta_.parent_path().string()}, "neither a NeMo2 checkpoint");
}

// Engine-group shapes the model or the devices cannot take (docs/parallelism.md §5).
TEST_F(PredictErrors, ImpossibleEngineGroups) {
  ExpectFailure({"--tensor-parallel-size", "3"},
                "tensor-parallel size 3 does not divide the 128 hidden channels");
  ExpectFailure({"--tensor-parallel-size", "2", "--devices", "3"},
                "devices = 3 is not a multiple of TP x CP = 2");
  ExpectFailure({"--context-parallel-size", "65"}, "at most 64");
}

TEST_F(PredictErrors, BadFlagValuesAreUsageErrors) {
  for (const auto& bad :
       std::vector<std::vector<std::string>>{{"--log-prob-collapse-option", "median"},
                                             {"--pipeline-model-parallel-size", "2"},
                                             {"--output-format", "csv"},
                                             {"--micro-batch-size", "0"},
                                             {"--device", "gpu"}}) {
    const std::vector<std::string> full = Args(bad);
    auto r = RunEvo2(full);
    EXPECT_NE(r.exit_code, 0) << bad[0];
    EXPECT_NE(r.exit_code, -1) << bad[0];
    EXPECT_FALSE(std::filesystem::exists(out_)) << bad[0];
  }
  auto missing = RunEvo2({"predict", "--ckpt-dir", (case_ / "model.pt").string()});
  EXPECT_NE(missing.exit_code, 0);
}

}  // namespace
}  // namespace evo2
