// NeMo2 checkpoints of the golden models (docs/spec/golden.md §3): every tensor, mapped to vortex
// names, is bit-identical to the model.pt beside it; damaged checkpoints give errors naming
// the tensor and the file.
#include <gtest/gtest.h>

#include <cstring>

#include "evo2/checkpoint.h"
#include "io/dcp_metadata.h"
#include "io/mapped_file.h"
#include "support/golden_paths.h"
#include "support/temp_dir.h"

namespace evo2 {
namespace {

namespace fs = std::filesystem;

struct Case {
  const char* golden;
  const char* dir;
};

class Nemo2Golden : public ::testing::TestWithParam<Case> {};

TEST_P(Nemo2Golden, BitIdenticalToModelPt) {
  const Case c = GetParam();
  if (std::string(c.golden) != "a_tiny6" && !evo2::testing::HaveSharedGolden()) {
    GTEST_SKIP() << c.golden << " needs the shared golden set (../shared/golden)";
  }
  auto golden = evo2::testing::GoldenCaseDir(c.golden);
  if (!golden || !fs::exists(*golden / c.dir / "weights" / ".metadata") || !fs::exists(*golden / "model.pt")) {
    GTEST_SKIP() << c.golden << "/" << c.dir << " or model.pt not present";
  }
  auto nemo = LoadCheckpoint(*golden / c.dir);
  ASSERT_TRUE(nemo.ok()) << nemo.status();
  EXPECT_EQ(nemo->format, CheckpointFormat::kNemo2);
  ASSERT_TRUE(nemo->nemo_model_yaml.has_value());
  EXPECT_TRUE(fs::exists(*nemo->nemo_model_yaml));
  auto pt = LoadCheckpoint(*golden / "model.pt");
  ASSERT_TRUE(pt.ok()) << pt.status();

  ASSERT_EQ(nemo->tensors.size(), pt->tensors.size());
  for (const auto& [name, want] : pt->tensors) {
    auto it = nemo->tensors.find(name);
    ASSERT_NE(it, nemo->tensors.end()) << "missing " << name;
    const Tensor& got = it->second;
    EXPECT_EQ(got.shape(), want.shape()) << name;
    // The hcm taps are fp32(h * decay) computed from fp32 NeMo parameters, so they come out fp32;
    // model.pt stores the same values in bf16. Everything else keeps its dtype.
    if (name.ends_with("filter.h") && got.dtype() == DType::kFloat32 && want.dtype() == DType::kBFloat16) {
      EXPECT_EQ(want.shape().back(), 128) << name << ": only hcm taps change dtype";
    } else {
      EXPECT_EQ(got.dtype(), want.dtype()) << name;
    }
    // Bit-identical values (compared as fp32 bit patterns, which is exact for bf16 -> fp32).
    const std::vector<float> a = got.ToFloat32().value(), b = want.ToFloat32().value();
    ASSERT_EQ(a.size(), b.size()) << name;
    size_t differ = 0;
    for (size_t i = 0; i < a.size(); ++i) differ += std::memcmp(&a[i], &b[i], 4) != 0;
    EXPECT_EQ(differ, 0u) << name << ": " << differ << " of " << a.size() << " values differ";
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, Nemo2Golden,
                         ::testing::Values(Case{"a_tiny6", "nemo2_tp1"}, Case{"a_tiny6", "nemo2_tp2"},
                                           Case{"b_small10", "nemo2_tp1"}),
                         [](const ::testing::TestParamInfo<Case>& param_info) {
                           return std::string(param_info.param.golden) + "_" + param_info.param.dir;
                         });

// A writable copy of a golden NeMo2 directory.
class Nemo2Corrupt : public ::testing::Test {
 protected:
  void SetUp() override {
    // The TP=2 checkpoint (chunks from four files) when present, else the TP=1 one that the
    // in-repo subset carries.
    auto golden = evo2::testing::GoldenCaseDir("a_tiny6");
    if (!golden) GTEST_SKIP() << "golden case a_tiny6 not present";
    src_ = *golden / "nemo2_tp2";
    if (!fs::exists(src_ / "weights" / ".metadata")) src_ = *golden / "nemo2_tp1";
    if (!fs::exists(src_ / "weights" / ".metadata")) GTEST_SKIP() << "a_tiny6/nemo2_tp{1,2} not present";
    fs::copy(src_, tmp_.path() / "ckpt", fs::copy_options::recursive);
    for (const auto& e : fs::recursive_directory_iterator(tmp_.path())) {
      fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
    }
    dir_ = tmp_.path() / "ckpt";
    weights_ = dir_ / "weights";
    auto file = io::MappedFile::Open(weights_ / ".metadata");
    ASSERT_TRUE(file.ok());
    auto md = io::ParseDcpMetadata((*file)->bytes(), ".metadata");
    ASSERT_TRUE(md.ok()) << md.status();
    metadata_ = *std::move(md);
  }

  // The location of the largest tensor item (its fqn and where it is).
  std::pair<std::string, io::DcpItemLocation> LargestItem() const {
    std::pair<std::string, io::DcpItemLocation> best;
    for (const auto& [key, loc] : metadata_.locations) {
      if (!key.second.empty() && loc.length > best.second.length) best = {key.first, loc};
    }
    return best;
  }

  absl::Status Load() { return LoadCheckpoint(dir_).status(); }

  evo2::testing::TempDir tmp_{"nemo2"};
  fs::path src_, dir_, weights_;
  io::DcpMetadata metadata_;
};

void ExpectNames(const absl::Status& s, const std::vector<std::string>& parts) {
  EXPECT_FALSE(s.ok());
  for (const auto& p : parts) EXPECT_NE(s.message().find(p), std::string::npos) << "'" << p << "' not in: " << s;
}

TEST_F(Nemo2Corrupt, IntactCopyLoads) { EXPECT_TRUE(Load().ok()) << Load(); }

TEST_F(Nemo2Corrupt, MissingDistcp) {
  fs::remove(weights_ / "__0_1.distcp");
  ExpectNames(Load(), {"__0_1.distcp", "tensor 'module."});
}

TEST_F(Nemo2Corrupt, TruncatedChunk) {
  const auto [fqn, loc] = LargestItem();
  ASSERT_FALSE(fqn.empty());
  fs::resize_file(weights_ / loc.relative_path, loc.offset + loc.length / 2);
  ExpectNames(Load(), {loc.relative_path, "tensor '"});
}

TEST_F(Nemo2Corrupt, WrongItemOffsetInMetadata) {
  // Rewrite one tensor item's offset (pickled as BININT 'J' + int32 LE, so >= 65536) to point
  // 64 bytes further into its file.
  std::string md = evo2::testing::ReadFileBytes(weights_ / ".metadata");
  auto needle_for = [](uint64_t v) {
    std::string n = "J";
    for (int i = 0; i < 4; ++i) n.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    return n;
  };
  for (const auto& [key, loc] : metadata_.locations) {
    if (key.second.empty() || loc.offset < 65536 || loc.offset >= (1u << 31) - 64) continue;
    const std::string needle = needle_for(loc.offset);
    const size_t at = md.find(needle);
    if (at == std::string::npos || md.find(needle, at + 1) != std::string::npos) continue;
    md.replace(at, 5, needle_for(loc.offset + 64));
    evo2::testing::WriteFileBytes(weights_ / ".metadata", md);
    ExpectNames(Load(), {key.first, loc.relative_path});
    return;
  }
  FAIL() << "no tensor item with a uniquely encoded offset >= 65536 in the metadata";
}

TEST_F(Nemo2Corrupt, GarbageMetadata) {
  evo2::testing::WriteFileBytes(weights_ / ".metadata", std::string(1000, '\x42'));
  ExpectNames(Load(), {".metadata"});
  const std::string md = evo2::testing::ReadFileBytes(src_ / "weights" / ".metadata");
  evo2::testing::WriteFileBytes(weights_ / ".metadata", md.substr(0, md.size() / 2));
  ExpectNames(Load(), {".metadata"});
}

TEST_F(Nemo2Corrupt, DamagedChunkZip) {
  // Overwrite the end-of-central-directory record of one item.
  const auto [fqn, loc] = LargestItem();
  std::string f = evo2::testing::ReadFileBytes(weights_ / loc.relative_path);
  for (size_t i = 0; i < 22; ++i) f[loc.offset + loc.length - 1 - i] = 'Z';
  evo2::testing::WriteFileBytes(weights_ / loc.relative_path, f);
  ExpectNames(Load(), {fqn, loc.relative_path});
}

}  // namespace
}  // namespace evo2
