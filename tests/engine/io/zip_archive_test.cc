// The zip reader against libzip (an independent implementation) on every golden archive, plus
// damaged archives.
#include "io/zip_archive.h"

#include <gtest/gtest.h>
#include <zip.h>

#include <cstring>
#include <string>

#include "io/mapped_file.h"
#include "support/golden_paths.h"
#include "support/temp_dir.h"

namespace evo2::io {
namespace {

namespace fs = std::filesystem;

// Every member's name and bytes as libzip reads them from `bytes`.
std::vector<std::pair<std::string, std::string>> ReadWithLibzip(std::span<const std::byte> bytes) {
  std::vector<std::pair<std::string, std::string>> out;
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
  if (src == nullptr) return out;
  zip_t* z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &error);
  if (z == nullptr) {
    zip_source_free(src);
    ADD_FAILURE() << "libzip cannot open: " << zip_error_strerror(&error);
    return out;
  }
  const zip_int64_t n = zip_get_num_entries(z, 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    zip_stat_index(z, i, 0, &st);
    std::string data(st.size, '\0');
    zip_file_t* f = zip_fopen_index(z, i, 0);
    EXPECT_NE(f, nullptr);
    if (f == nullptr) continue;
    EXPECT_EQ(zip_fread(f, data.data(), st.size), static_cast<zip_int64_t>(st.size));
    zip_fclose(f);
    out.emplace_back(st.name, std::move(data));
  }
  zip_close(z);
  return out;
}

std::vector<fs::path> GoldenArchives() {
  std::vector<fs::path> out;
  for (const char* c : {"a_tiny6", "b_small10", "c_7blike32"}) {
    auto dir = evo2::testing::GoldenCaseDir(c);
    if (!dir) continue;
    if (fs::exists(*dir / "model.pt")) out.push_back(*dir / "model.pt");
    if (fs::exists(*dir / "predict_reference_output")) {
      for (const auto& e : fs::recursive_directory_iterator(*dir / "predict_reference_output")) {
        if (e.path().extension() == ".pt") out.push_back(e.path());
      }
    }
  }
  return out;
}

TEST(ZipArchive, MatchesLibzipOnGoldenArchives) {
  const auto files = GoldenArchives();
  if (files.empty()) GTEST_SKIP() << "no golden archives present";
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    auto file = MappedFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    auto zip = ZipArchive::Open(*file, path.string());
    ASSERT_TRUE(zip.ok()) << zip.status();
    const auto expected = ReadWithLibzip((*file)->bytes());
    ASSERT_EQ(zip->entries().size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      const ZipEntry& e = zip->entries()[i];
      EXPECT_EQ(e.name, expected[i].first);
      const auto data = zip->Data(e);
      ASSERT_EQ(data.size(), expected[i].second.size()) << e.name;
      EXPECT_EQ(std::memcmp(data.data(), expected[i].second.data(), data.size()), 0) << e.name;
      EXPECT_TRUE(zip->VerifyCrc(e).ok()) << e.name;
      // torch aligns member data to 64 bytes from the archive start.
      EXPECT_EQ(e.data_offset % 64, 0u) << e.name;
    }
  }
}

TEST(ZipArchive, ReadsAnArchiveAtAnOffset) {
  // A DCP item is a complete zip at an arbitrary offset of a .distcp file
  // (docs/spec/checkpoints.md §9): embed a golden archive after 1000 bytes of other data and read
  // it from that range.
  const auto files = GoldenArchives();
  if (files.empty()) GTEST_SKIP() << "no golden archives present";
  const std::string inner = evo2::testing::ReadFileBytes(files.back());
  evo2::testing::TempDir tmp("zip");
  evo2::testing::WriteFileBytes(tmp / "blob", std::string(1000, 'x') + inner + std::string(77, 'y'));
  auto file = MappedFile::Open(tmp / "blob");
  ASSERT_TRUE(file.ok()) << file.status();
  auto zip = ZipArchive::Open(*file, (*file)->bytes().subspan(1000, inner.size()), "blob@1000");
  ASSERT_TRUE(zip.ok()) << zip.status();
  ASSERT_FALSE(zip->entries().empty());
  for (const auto& e : zip->entries()) {
    EXPECT_TRUE(zip->VerifyCrc(e).ok()) << e.name;
    EXPECT_EQ(zip->StorageOffset(e), 1000 + e.data_offset);
  }
  // The whole blob is not a zip whose end record reaches the end.
  EXPECT_FALSE(ZipArchive::Open(*file, "blob").ok());
}

TEST(ZipArchive, DamagedArchivesAreErrors) {
  const auto files = GoldenArchives();
  if (files.empty()) GTEST_SKIP() << "no golden archives present";
  const std::string good = evo2::testing::ReadFileBytes(files.back());
  evo2::testing::TempDir tmp("zipbad");
  auto open = [&](const std::string& bytes) {
    evo2::testing::WriteFileBytes(tmp / "f.zip", bytes);
    auto file = MappedFile::Open(tmp / "f.zip");
    EXPECT_TRUE(file.ok());
    return ZipArchive::Open(*file, "f.zip").status();
  };
  EXPECT_TRUE(open(good).ok());
  for (size_t cut : {size_t{0}, size_t{10}, good.size() / 2, good.size() - 1}) {
    const auto s = open(good.substr(0, cut));
    EXPECT_FALSE(s.ok()) << cut;
    EXPECT_NE(s.message().find("f.zip"), std::string::npos) << s;
  }
  // Point the central directory offset past the end.
  std::string bad = good;
  const size_t eocd = bad.rfind(std::string("PK\x05\x06", 4));
  ASSERT_NE(eocd, std::string::npos);
  bad[eocd + 16] = '\xff';
  bad[eocd + 17] = '\xff';
  bad[eocd + 18] = '\xff';
  bad[eocd + 19] = '\x7f';
  // ZIP64 archives carry the real offset in the ZIP64 record; damage that one too.
  const size_t z64 = bad.rfind(std::string("PK\x06\x06", 4));
  if (z64 != std::string::npos) bad[z64 + 48 + 6] = '\x7f';
  EXPECT_FALSE(open(bad).ok());
  // A compressed member is refused with a clear message.
  std::string deflated = good;
  const size_t cd = deflated.find(std::string("PK\x01\x02", 4));
  ASSERT_NE(cd, std::string::npos);
  deflated[cd + 10] = 8;
  const auto s = open(deflated);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
  EXPECT_NE(s.message().find("compressed"), std::string::npos) << s;
}

}  // namespace
}  // namespace evo2::io
