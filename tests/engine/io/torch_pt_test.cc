// torch.save files: reading BioNeMo's reference outputs, and our writer against them.
#include "evo2/torch_pt.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "io/atomic_file.h"
#include "io/mapped_file.h"
#include "io/zip_archive.h"
#include "io/zip_writer.h"
#include "support/golden_paths.h"
#include "support/temp_dir.h"

namespace evo2 {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
constexpr char kRefName[] = "predictions__rank_0__dp_rank_0.pt";

std::optional<fs::path> Reference(const std::string& mode) {
  auto dir = evo2::testing::GoldenCaseDir("a_tiny6");
  if (!dir) return std::nullopt;
  const fs::path p = *dir / "predict_reference_output" / mode / kRefName;
  if (!fs::exists(p)) return std::nullopt;
  return p;
}

struct Want {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
};

void ExpectLayout(const NamedTensors& got, const std::vector<Want>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].name) << "key order";
    EXPECT_EQ(got[i].second.dtype(), want[i].dtype) << want[i].name;
    EXPECT_EQ(got[i].second.shape(), want[i].shape) << want[i].name;
  }
}

TEST(TorchPtReference, ReadsTheThreeModes) {
  auto def = Reference("default"), mean = Reference("log_prob_mean"), per = Reference("per_token");
  if (!def || !mean || !per) GTEST_SKIP() << "a_tiny6/predict_reference_output not present";
  auto d = ReadTorchPt(*def);
  ASSERT_TRUE(d.ok()) << d.status();
  ExpectLayout(*d, {{"token_logits", DType::kFloat32, {2, 17, 512}},
                    {"pad_mask", DType::kInt64, {2, 17}},
                    {"seq_idx", DType::kInt64, {2}}});
  auto m = ReadTorchPt(*mean);
  ASSERT_TRUE(m.ok()) << m.status();
  ExpectLayout(*m, {{"log_probs_seqs", DType::kFloat32, {5}}, {"seq_idx", DType::kInt64, {5}}});
  // README: mean log-probs len00001 0.0, len00017 -11.0929, len00500 -10.0573, len02048 -10.2389,
  // len08192 -10.3412 (printed to 4 decimals, hence the 1e-4 tolerance).
  const std::vector<float> means = (*m)[0].second.ToFloat32().value();
  const double expected[] = {0.0, -11.0929, -10.0573, -10.2389, -10.3412};
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(means[i], expected[i], 1e-4) << i;
  EXPECT_EQ((*m)[1].second.ToInt64().value(), (std::vector<int64_t>{0, 1, 2, 3, 4}));

  auto p = ReadTorchPt(*per);
  ASSERT_TRUE(p.ok()) << p.status();
  ExpectLayout(*p, {{"log_probs_seqs", DType::kFloat32, {5, 8191}},
                    {"seq_idx", DType::kInt64, {5}},
                    {"loss_mask", DType::kInt64, {5, 8191}}});
  // Right-padded with zeros: record len00500 (row 2) has 499 scored positions.
  const std::vector<int64_t> mask = (*p)[2].second.ToInt64().value();
  EXPECT_EQ(mask[2 * 8191 + 498], 1);
  EXPECT_EQ(mask[2 * 8191 + 499], 0);
}

TEST(TorchPtWriter, LaidOutLikeTorch) {
  // Re-writing the reference dicts must reproduce torch's files member for member: names,
  // order, data offsets (64-byte alignment), contents; data.pkl byte for byte. Only the
  // serialization id (random in torch) differs.
  for (const char* mode : {"default", "log_prob_mean", "per_token"}) {
    SCOPED_TRACE(mode);
    auto ref = Reference(mode);
    if (!ref) GTEST_SKIP() << "a_tiny6/predict_reference_output not present";
    auto tensors = ReadTorchPt(*ref);
    ASSERT_TRUE(tensors.ok()) << tensors.status();
    evo2::testing::TempDir tmp("ptw");
    const fs::path out = tmp / kRefName;
    ASSERT_TRUE(WriteTorchPt(out, *tensors).ok());
    EXPECT_EQ(fs::file_size(out), fs::file_size(*ref));
    auto a = io::MappedFile::Open(*ref), b = io::MappedFile::Open(out);
    ASSERT_TRUE(a.ok() && b.ok());
    auto za = io::ZipArchive::Open(*a, "ref"), zb = io::ZipArchive::Open(*b, "ours");
    ASSERT_TRUE(za.ok() && zb.ok());
    ASSERT_EQ(za->entries().size(), zb->entries().size());
    for (size_t i = 0; i < za->entries().size(); ++i) {
      const auto& ea = za->entries()[i];
      const auto& eb = zb->entries()[i];
      EXPECT_EQ(ea.name, eb.name);
      EXPECT_EQ(ea.data_offset, eb.data_offset) << ea.name;
      ASSERT_EQ(ea.size, eb.size) << ea.name;
      if (ea.name.ends_with("serialization_id")) continue;
      EXPECT_EQ(std::memcmp(za->Data(ea).data(), zb->Data(eb).data(), ea.size), 0) << ea.name;
    }
    // And our reader reads our file back to the same tensors.
    auto back = ReadTorchPt(out);
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_EQ(back->size(), tensors->size());
    for (size_t i = 0; i < back->size(); ++i) {
      EXPECT_EQ((*back)[i].first, (*tensors)[i].first);
      EXPECT_EQ((*back)[i].second.bytes().size(), (*tensors)[i].second.bytes().size());
      EXPECT_EQ(std::memcmp((*back)[i].second.bytes().data(), (*tensors)[i].second.bytes().data(),
                            (*back)[i].second.nbytes()), 0);
    }
  }
}

TEST(TorchPtWriter, RoundTripsEveryDType) {
  NamedTensors in;
  std::vector<std::byte> raw(4 * 3 * 8);
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::byte>(i * 37 + 11);
  const DType dtypes[] = {DType::kFloat32, DType::kBFloat16, DType::kFloat16, DType::kFloat64, DType::kInt64,
                          DType::kInt32,   DType::kInt16,    DType::kInt8,    DType::kUInt8,   DType::kBool};
  for (DType d : dtypes) {
    const size_t n = 12 * DTypeSize(d);
    std::vector<std::byte> bytes(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(n));
    if (d == DType::kBool) {
      for (auto& b : bytes) b = static_cast<std::byte>(static_cast<uint8_t>(b) & 1);
    }
    in.emplace_back(absl::StrCat("t_", std::string(DTypeName(d))), *Tensor::FromBytes(d, {3, 4}, bytes));
  }
  in.emplace_back("scalar", Tensor::FromFloat32({}, std::vector<float>{2.5f}));
  in.emplace_back("empty", Tensor::FromFloat32({0, 7}, {}));
  in.emplace_back("rank5", Tensor::FromFloat32({1, 2, 1, 2, 1}, std::vector<float>{1, 2, 3, 4}));
  std::vector<float> big(70000, 1.0f);  // numel > 65535 pickles as BININT
  in.emplace_back("big", Tensor::FromFloat32({70000}, big));
  evo2::testing::TempDir tmp("ptrt");
  ASSERT_TRUE(WriteTorchPt(tmp / "x.pt", in).ok());
  auto out = ReadTorchPt(tmp / "x.pt");
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    SCOPED_TRACE(in[i].first);
    EXPECT_EQ((*out)[i].first, in[i].first);
    EXPECT_EQ((*out)[i].second.dtype(), in[i].second.dtype());
    EXPECT_EQ((*out)[i].second.shape(), in[i].second.shape());
    ASSERT_EQ((*out)[i].second.nbytes(), in[i].second.nbytes());
    if (in[i].second.nbytes() > 0) {
      EXPECT_EQ(std::memcmp((*out)[i].second.bytes().data(), in[i].second.bytes().data(), in[i].second.nbytes()), 0);
    }
  }
  // The archive is named after the file, like torch.save("x.pt") names it "x".
  auto f = io::MappedFile::Open(tmp / "x.pt");
  auto z = io::ZipArchive::Open(*f, "x.pt");
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(z->entries().front().name, "x/data.pkl");
}

TEST(TorchPtWriter, ManyKeysUseSetitemsBatches) {
  // CPython pickles dicts in SETITEMS batches of 1000; 2001 keys = 1000 + 1000 + a lone SETITEM.
  NamedTensors in;
  for (int i = 0; i < 2001; ++i) in.emplace_back(absl::StrCat("k", i), Tensor::FromInt64({1}, std::vector<int64_t>{i}));
  evo2::testing::TempDir tmp("ptmany");
  ASSERT_TRUE(WriteTorchPt(tmp / "m.pt", in).ok());
  auto out = ReadTorchPt(tmp / "m.pt");
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 2001u);
  EXPECT_EQ((*out)[2000].first, "k2000");
  EXPECT_EQ((*out)[2000].second.ToInt64().value()[0], 2000);
}

TEST(TorchPtWriter, FailsCleanlyOnUnwritableDirectory) {
  evo2::testing::TempDir tmp("ptbad");
  const NamedTensors in = {{"a", Tensor::FromFloat32({1}, std::vector<float>{1})}};
  const auto s = WriteTorchPt(tmp / "no_such_dir" / "p.pt", in);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no_such_dir"), std::string::npos) << s;
  // Overwriting an existing file replaces it atomically and leaves no temporary files.
  ASSERT_TRUE(WriteTorchPt(tmp / "p.pt", in).ok());
  ASSERT_TRUE(WriteTorchPt(tmp / "p.pt", in).ok());
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(tmp.path())) ++files;
  EXPECT_EQ(files, 1);
}

// A .pt holding {'t': _rebuild_tensor_v2(1-element FloatStorage, offset 0, size (n,),
// stride (0,))}: a zero-stride (expanded) view, which the reader copies.
fs::path WriteExpandedPt(const fs::path& path, const std::string& n_le8) {
  const std::string pkl =
      "\x80\x02}q\x00(X\x01\x00\x00\x00tctorch._utils\n_rebuild_tensor_v2\nq\x01"
      "((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00"
      "0X\x03\x00\x00\x00"
      "cpuK\x01tQK\x00\x8a\x08"s +
      n_le8 + "\x85K\x00\x85\x89tRu."s;
  auto file = io::AtomicFileWriter::Open(path);
  EXPECT_TRUE(file.ok()) << file.status();
  io::ZipWriter zip(*file);
  EXPECT_TRUE(zip.Add("archive/data.pkl", pkl).ok());
  EXPECT_TRUE(zip.Add("archive/data/0", "\x00\x00\x80\x3f"s).ok());
  EXPECT_TRUE(zip.Finish().ok());
  EXPECT_TRUE(file->Commit().ok());
  return path;
}

// Reproducers in tests/fuzz/corpus/pt_fuzz (they crashed pt_fuzz): a zero stride let a 1-element
// storage ask for 2^61 elements, whose byte count wrapped to 0 and the copy overran the heap.
TEST(TorchPtReader, RefusesExpandedViewsBeyondTheBound) {
  evo2::testing::TempDir tmp("ptexpand");
  // 3 elements from 1: a small expanded view still loads, every element the stored 1.0f.
  auto small = ReadTorchPt(WriteExpandedPt(tmp / "small.pt", "\x03\0\0\0\0\0\0\0"s));
  ASSERT_TRUE(small.ok()) << small.status();
  ASSERT_EQ((*small)[0].second.shape(), std::vector<int64_t>{3});
  EXPECT_EQ((*small)[0].second.ToFloat32().value(), (std::vector<float>{1, 1, 1}));
  // 2^61 elements (2^64 bytes) and 2^36 elements (256 GiB): refused, naming the tensor.
  for (const std::string& n : {"\0\0\0\0\0\0\0\x20"s, "\0\0\0\0\x10\0\0\0"s}) {
    auto big = ReadTorchPt(WriteExpandedPt(tmp / "big.pt", n));
    ASSERT_FALSE(big.ok());
    EXPECT_NE(big.status().message().find("big.pt: tensor 't': size ["), std::string::npos)
        << big.status();
    EXPECT_NE(big.status().message().find("(more than 256 MiB)"), std::string::npos)
        << big.status();
  }
}

}  // namespace
}  // namespace evo2
