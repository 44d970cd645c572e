#include "evo2/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

#include "support/temp_dir.h"

namespace evo2 {
namespace {

TEST(Safetensors, RoundTrip) {
  const NamedTensors in = {
      {"log_probs", Tensor::FromFloat32({2, 3}, std::vector<float>{-1, -2, -3, -4, -5, -6})},
      {"seq_idx", Tensor::FromInt64({2}, std::vector<int64_t>{1, 0})},
      {"half", *Tensor::FromBytes(DType::kBFloat16, {1}, std::vector<std::byte>{std::byte{0x80}, std::byte{0x3f}})},
  };
  evo2::testing::TempDir tmp("st");
  ASSERT_TRUE(WriteSafetensors(tmp / "o.safetensors", in, {{"format", "pt"}}).ok());
  const std::string raw = evo2::testing::ReadFileBytes(tmp / "o.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  EXPECT_EQ(n % 8, 0u);  // data section 8-byte aligned
  EXPECT_NE(raw.find("\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]"), std::string::npos) << raw.substr(8, n);
  auto out = ReadSafetensors(tmp / "o.safetensors");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->metadata.at("format"), "pt");
  ASSERT_EQ(out->tensors.size(), 3u);
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out->tensors[i].first, in[i].first);
    EXPECT_EQ(out->tensors[i].second.dtype(), in[i].second.dtype());
    EXPECT_EQ(out->tensors[i].second.shape(), in[i].second.shape());
    EXPECT_EQ(std::memcmp(out->tensors[i].second.bytes().data(), in[i].second.bytes().data(), in[i].second.nbytes()), 0);
  }
}

TEST(Safetensors, CorruptFilesAreErrors) {
  evo2::testing::TempDir tmp("stbad");
  const NamedTensors in = {{"x", Tensor::FromFloat32({4}, std::vector<float>{1, 2, 3, 4})}};
  ASSERT_TRUE(WriteSafetensors(tmp / "g.safetensors", in).ok());
  const std::string good = evo2::testing::ReadFileBytes(tmp / "g.safetensors");
  for (size_t cut = 0; cut < good.size(); cut += 3) {
    evo2::testing::WriteFileBytes(tmp / "b.safetensors", good.substr(0, cut));
    EXPECT_FALSE(ReadSafetensors(tmp / "b.safetensors").ok()) << cut;
  }
  std::string bad = good;
  bad[8] = '[';  // header no longer an object
  evo2::testing::WriteFileBytes(tmp / "b.safetensors", bad);
  auto s = ReadSafetensors(tmp / "b.safetensors");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("b.safetensors"), std::string::npos) << s.status();
}

}  // namespace
}  // namespace evo2
