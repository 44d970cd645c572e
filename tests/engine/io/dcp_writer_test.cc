// The torch.distributed.checkpoint writer: what it writes reads back bit-identically through the
// engine's own DCP reader, whole or split across saving ranks, and a golden NeMo2 checkpoint
// rewritten by it loads to the same engine tensors as the original.
#include <gtest/gtest.h>

#include <random>

#include "absl/strings/match.h"
#include "evo2/checkpoint.h"
#include "io/dcp_metadata.h"
#include "io/dcp_reader.h"
#include "io/dcp_writer.h"
#include "io/mapped_file.h"
#include "support/golden_paths.h"
#include "support/temp_dir.h"

namespace evo2 {
namespace {

namespace fs = std::filesystem;

NamedTensors ReadBack(const fs::path& weights) {
  auto file = io::MappedFile::Open(weights / ".metadata");
  EXPECT_TRUE(file.ok()) << file.status();
  auto metadata = io::ParseDcpMetadata((*file)->bytes(), "test");
  EXPECT_TRUE(metadata.ok()) << metadata.status();
  auto tensors = io::ReadDcpTensors(weights, *metadata, [](const std::string&) { return true; });
  EXPECT_TRUE(tensors.ok()) << tensors.status();
  return tensors.ok() ? *tensors : NamedTensors{};
}

void ExpectSameBytes(const NamedTensors& a, const NamedTensors& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.dtype(), b[i].second.dtype()) << a[i].first;
    EXPECT_EQ(a[i].second.shape(), b[i].second.shape()) << a[i].first;
    const auto x = a[i].second.bytes(), y = b[i].second.bytes();
    ASSERT_EQ(x.size(), y.size()) << a[i].first;
    EXPECT_TRUE(std::equal(x.begin(), x.end(), y.begin())) << a[i].first;
  }
}

TEST(DcpWriter, RoundTripsWholeAndSplitAcrossRanks) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  NamedTensors tensors;
  // Odd shapes: a row count that 3 ranks divide, one they do not, a vector, a scalar-like [1].
  for (auto shape : std::vector<std::vector<int64_t>>{{6, 5}, {7, 3}, {9}, {1}, {3, 2, 4}}) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = normal(rng);
    tensors.emplace_back("module.t" + std::to_string(tensors.size()), Tensor::FromFloat32(shape, v));
  }
  std::vector<uint16_t> bits;
  for (float x : {1.0f, -2.0f, 3.5f, 0.0f, 1e-3f, -7.0f, 8.0f, 9.0f}) bits.push_back(FloatToBFloat16(x));
  tensors.emplace_back("module.bf16",
                       Tensor::FromBytes(DType::kBFloat16, {4, 2}, std::as_bytes(std::span(bits))).value());
  for (int ranks : {1, 3}) {
    testing::TempDir dir("dcp_writer");
    ASSERT_TRUE(io::WriteDcpCheckpoint(dir.path() / "weights", tensors, {ranks}).ok());
    EXPECT_TRUE(fs::exists(dir.path() / "weights" / ("__" + std::to_string(ranks - 1) + "_0.distcp")));
    ExpectSameBytes(ReadBack(dir.path() / "weights"), tensors);
  }
}

// A planner lays chunks out as Megatron does: a stacked [L, R, C] tensor one chunk per layer,
// each split on dim 2 (a row-parallel weight) across 2 ranks; the reader reassembles it.
TEST(DcpWriter, PlannedChunksRoundTrip) {
  std::vector<float> v(2 * 3 * 4);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) - 5.5f;
  const NamedTensors tensors = {{"module.stacked", Tensor::FromFloat32({2, 3, 4}, v)}};
  io::DcpWriteOptions options;
  options.ranks = 2;
  options.planner = [](const std::string&, const Tensor&) {
    std::vector<io::DcpChunkPlan> plan;
    for (int64_t l = 0; l < 2; ++l) {
      for (int r = 0; r < 2; ++r) plan.push_back({r, {l, 0, 2 * r}, {1, 3, 2}});
    }
    return plan;
  };
  testing::TempDir dir("dcp_planned");
  ASSERT_TRUE(io::WriteDcpCheckpoint(dir.path() / "weights", tensors, options).ok());
  EXPECT_TRUE(fs::exists(dir.path() / "weights" / "__1_0.distcp"));
  ExpectSameBytes(ReadBack(dir.path() / "weights"), tensors);

  // A chunk outside the tensor or the ranks is refused, naming the tensor.
  options.planner = [](const std::string&, const Tensor&) {
    return std::vector<io::DcpChunkPlan>{{0, {0, 0, 3}, {2, 3, 2}}};
  };
  const absl::Status s = io::WriteDcpCheckpoint(dir.path() / "bad", tensors, options);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("module.stacked"), std::string::npos) << s;
}

TEST(DcpWriter, RewrittenGoldenNemo2LoadsToTheSameTensors) {
  auto golden = testing::GoldenCaseDir("a_tiny6");
  ASSERT_TRUE(golden.has_value());
  const fs::path original = *golden / "nemo2_tp1";
  const NamedTensors raw = ReadBack(original / "weights");
  NamedTensors model;
  for (const auto& [name, t] : raw) {
    if (absl::StartsWith(name, "module.") && !absl::EndsWith(name, "_extra_state")) model.emplace_back(name, t);
  }
  ASSERT_FALSE(model.empty());
  testing::TempDir dir("dcp_rewrite");
  ASSERT_TRUE(io::WriteDcpCheckpoint(dir.path() / "weights", model, {2}).ok());
  fs::create_directories(dir.path() / "context");
  fs::copy_file(original / "context" / "model.yaml", dir.path() / "context" / "model.yaml");
  auto want = LoadCheckpoint(original);
  ASSERT_TRUE(want.ok()) << want.status();
  auto got = LoadCheckpoint(dir.path());
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->tensors.size(), want->tensors.size());
  for (const auto& [name, t] : want->tensors) {
    auto it = got->tensors.find(name);
    ASSERT_NE(it, got->tensors.end()) << name;
    EXPECT_EQ(it->second.shape(), t.shape()) << name;
    EXPECT_EQ(it->second.ToFloat32().value(), t.ToFloat32().value()) << name;
  }
}

}  // namespace
}  // namespace evo2
