#include "evo2/npy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/golden_paths.h"

namespace evo2 {
namespace {

std::filesystem::path TempDir() {
  auto dir = std::filesystem::temp_directory_path() / ("evo2_npy_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

void WriteBytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

TEST(Npy, RoundTripSeveralDTypes) {
  const auto dir = TempDir();
  const float f[] = {1.5f, -2.0f, NAN, 3.25f, 0.0f, -0.0f};
  const Tensor t32 = Tensor::FromFloat32({2, 3}, f);
  ASSERT_TRUE(WriteNpy(dir / "f.npy", t32).ok());
  auto back = ReadNpy(dir / "f.npy");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->dtype(), DType::kFloat32);
  EXPECT_EQ(back->shape(), (std::vector<int64_t>{2, 3}));
  ASSERT_EQ(back->nbytes(), t32.nbytes());
  EXPECT_EQ(std::memcmp(back->bytes().data(), t32.bytes().data(), t32.nbytes()), 0);

  const int64_t l[] = {-1, 0, 1LL << 40};
  ASSERT_TRUE(WriteNpy(dir / "l.npy", Tensor::FromInt64({3}, l)).ok());
  auto lb = ReadNpy(dir / "l.npy");
  ASSERT_TRUE(lb.ok()) << lb.status();
  EXPECT_EQ(*lb->ToInt64(), (std::vector<int64_t>{-1, 0, 1LL << 40}));

  // Scalars and empty arrays keep their shapes.
  ASSERT_TRUE(WriteNpy(dir / "s.npy", Tensor::FromFloat32({}, std::span<const float>(f, 1))).ok());
  EXPECT_EQ(ReadNpy(dir / "s.npy")->rank(), 0u);
  ASSERT_TRUE(WriteNpy(dir / "e.npy", Tensor::FromFloat32({0}, {})).ok());
  EXPECT_EQ(ReadNpy(dir / "e.npy")->shape(), (std::vector<int64_t>{0}));

  const std::byte b[] = {std::byte{1}, std::byte{0}};
  for (DType d : {DType::kUInt8, DType::kInt8, DType::kBool}) {
    ASSERT_TRUE(WriteNpy(dir / "b.npy", *Tensor::FromBytes(d, {2}, b)).ok());
    EXPECT_EQ(ReadNpy(dir / "b.npy")->dtype(), d);
  }
  // The data starts on a 64-byte boundary like numpy's own files.
  EXPECT_EQ((std::filesystem::file_size(dir / "f.npy") - 24) % 64, 0u);
  std::filesystem::remove_all(dir);
}

TEST(Npy, RefusesBFloat16) {
  const std::byte b[] = {std::byte{0}, std::byte{0x3f}};
  auto s = WriteNpy(TempDir() / "bf.npy", *Tensor::FromBytes(DType::kBFloat16, {1}, b));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("bfloat16"), std::string::npos);
}

TEST(Npy, ReadsFormat2) {
  const auto dir = TempDir();
  std::string dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }";
  dict.append(128 - 12 - dict.size() - 1, ' ');
  dict += '\n';
  std::string file = std::string("\x93NUMPY\x02\x00", 8);
  const uint32_t len = static_cast<uint32_t>(dict.size());
  file.append(reinterpret_cast<const char*>(&len), 4);
  file += dict;
  const int32_t v[] = {7, -9};
  file.append(reinterpret_cast<const char*>(v), 8);
  WriteBytes(dir / "v2.npy", file);
  auto t = ReadNpy(dir / "v2.npy");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t->ToInt64(), (std::vector<int64_t>{7, -9}));
}

TEST(Npy, ClearErrors) {
  const auto dir = TempDir();
  EXPECT_EQ(ReadNpy(dir / "missing.npy").status().code(), absl::StatusCode::kNotFound);
  WriteBytes(dir / "junk.npy", "hello world, not numpy");
  auto junk = ReadNpy(dir / "junk.npy");
  EXPECT_NE(junk.status().message().find("magic"), std::string::npos) << junk.status();
  EXPECT_NE(junk.status().message().find("junk.npy"), std::string::npos);

  // A valid file cut short: the error names the byte counts.
  const float f[] = {1, 2, 3, 4};
  ASSERT_TRUE(WriteNpy(dir / "full.npy", Tensor::FromFloat32({4}, f)).ok());
  std::ifstream in(dir / "full.npy", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), {});
  WriteBytes(dir / "cut.npy", all.substr(0, all.size() - 3));
  auto cut = ReadNpy(dir / "cut.npy");
  EXPECT_FALSE(cut.ok());
  EXPECT_NE(cut.status().message().find("needs 16 bytes"), std::string::npos) << cut.status();

  std::string be = all;
  be.replace(be.find("<f4"), 3, ">f4");
  WriteBytes(dir / "be.npy", be);
  EXPECT_NE(ReadNpy(dir / "be.npy").status().message().find("big-endian"), std::string::npos);

  std::string fortran = all;
  fortran.replace(fortran.find("False"), 5, "True ");
  fortran.replace(fortran.find("(4,)"), 4, "(2,2)");
  WriteBytes(dir / "f.npy", fortran);
  EXPECT_FALSE(ReadNpy(dir / "f.npy").ok());

  // Every truncation of the header gives an error, never a crash.
  for (size_t n = 0; n < 64; ++n) {
    WriteBytes(dir / "t.npy", all.substr(0, n));
    EXPECT_FALSE(ReadNpy(dir / "t.npy").ok()) << n;
  }
  std::filesystem::remove_all(dir);
}

TEST(NpyGolden, ReadsGoldenVectors) {
  auto dir = evo2::testing::GoldenCaseDir("a_tiny6");
  if (!dir) GTEST_SKIP() << "golden case a_tiny6 not present";
  if (!std::filesystem::exists(*dir / "len00017.logits.npy")) GTEST_SKIP() << "len00017 npy absent";
  auto tokens = ReadNpy(*dir / "len00017.tokens.npy");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(tokens->dtype(), DType::kInt32);
  EXPECT_EQ(tokens->shape(), (std::vector<int64_t>{17}));
  const std::vector<int64_t> ids = tokens->ToInt64().value();
  for (int64_t v : ids) EXPECT_TRUE(v > 0 && v < 128) << v;  // ASCII bases
  auto logits = ReadNpy(*dir / "len00017.logits.npy");
  ASSERT_TRUE(logits.ok()) << logits.status();
  EXPECT_EQ(logits->shape(), (std::vector<int64_t>{17, 512}));
  const std::vector<float> values = logits->ToFloat32().value();
  for (float v : values) ASSERT_TRUE(std::isfinite(v));
  auto lp = ReadNpy(*dir / "len00001.logprobs.npy");
  ASSERT_TRUE(lp.ok()) << lp.status();
  EXPECT_EQ(lp->shape(), (std::vector<int64_t>{0}));
}

}  // namespace
}  // namespace evo2
