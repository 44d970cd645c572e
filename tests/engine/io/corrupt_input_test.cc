// Robustness: the golden `.pt`, `.metadata` and `.distcp` files, mutated (random byte flips in
// the structural parts and anywhere, truncations at many offsets) with a fixed seed. Every load
// must return OK or an error — never crash, hang or read out of bounds (run under ASan/UBSan
// too). When a mutated file still loads, every tensor byte is read to catch bad views.
#include <gtest/gtest.h>

#include <optional>
#include <random>

#include "evo2/checkpoint.h"
#include "io/dcp_metadata.h"
#include "io/mapped_file.h"
#include "io/pt_reader.h"
#include "support/golden_paths.h"
#include "support/temp_dir.h"

namespace evo2 {
namespace {

namespace fs = std::filesystem;
constexpr uint64_t kSeed = 20260501;

// Reads every byte so that a view past its storage shows up (as a sanitizer report or a crash).
uint8_t Touch(const NamedTensors& tensors) {
  uint8_t x = 0;
  for (const auto& [name, t] : tensors) {
    for (std::byte b : t.bytes()) x ^= static_cast<uint8_t>(b);
  }
  return x;
}

std::shared_ptr<const Storage> Bytes(std::string s) {
  std::vector<std::byte> v(s.size());
  if (!s.empty()) std::memcpy(v.data(), s.data(), s.size());
  return std::make_shared<VectorStorage>(std::move(v));
}

// Flips 1-4 bytes; positions favour the first and last `hot` bytes (headers, pickle, central
// directory), where a flip changes the structure rather than tensor values.
std::string Flip(const std::string& in, std::mt19937_64& rng, size_t hot) {
  std::string s = in;
  const int n = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < n; ++i) {
    size_t pos;
    switch (rng() % 4) {
      case 0: pos = rng() % std::min(hot, s.size()); break;
      case 1: pos = s.size() - 1 - rng() % std::min(hot, s.size()); break;
      case 2: pos = rng() % s.size(); break;
      default: pos = rng() % std::min<size_t>(512, s.size()); break;
    }
    s[pos] = static_cast<char>(rng() % 3 == 0 ? s[pos] ^ (1 << (rng() % 8)) : static_cast<char>(rng()));
  }
  return s;
}

std::vector<size_t> TruncationPoints(size_t size, std::mt19937_64& rng) {
  std::vector<size_t> out;
  for (size_t i = 0; i < 40; ++i) out.push_back(rng() % size);
  for (size_t i = 1; i <= 30; ++i) out.push_back(size - i * 7 % size);
  out.push_back(0);
  return out;
}

// a_tiny6's TP=2 NeMo2 checkpoint when present, else the TP=1 one (in the in-repo subset).
std::optional<fs::path> Nemo2Dir() {
  auto dir = evo2::testing::GoldenCaseDir("a_tiny6");
  if (!dir) return std::nullopt;
  for (const char* d : {"nemo2_tp2", "nemo2_tp1"}) {
    if (fs::exists(*dir / d / "weights" / ".metadata")) return *dir / d;
  }
  return std::nullopt;
}

struct Counts {
  int ok = 0, errors = 0;
};

Counts FuzzPt(const std::string& good, int flips) {
  std::mt19937_64 rng(kSeed);
  Counts c;
  auto one = [&](const std::string& bytes) {
    auto storage = Bytes(bytes);
    auto archive = io::TorchArchive::Open(storage, storage->bytes(), "mutated.pt");
    absl::Status s = archive.status();
    if (archive.ok()) {
      auto dict = archive->TensorDict(/*skip_extra_state=*/true);
      s = dict.status();
      if (dict.ok()) Touch(*dict);
    }
    if (s.ok()) {
      ++c.ok;
    } else {
      ++c.errors;
      EXPECT_FALSE(s.message().empty());
    }
  };
  for (int i = 0; i < flips; ++i) one(Flip(good, rng, 8192));
  for (size_t cut : TruncationPoints(good.size(), rng)) one(good.substr(0, cut));
  return c;
}

TEST(CorruptInput, MutatedPtFiles) {
  auto dir = evo2::testing::GoldenCaseDir("a_tiny6");
  if (!dir || !fs::exists(*dir / "model.pt")) GTEST_SKIP() << "a_tiny6/model.pt not present";
  std::vector<fs::path> files = {*dir / "model.pt"};
  for (const char* m : {"log_prob_mean", "per_token"}) {
    const fs::path p = *dir / "predict_reference_output" / m / "predictions__rank_0__dp_rank_0.pt";
    if (fs::exists(p)) files.push_back(p);
  }
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    const Counts c = FuzzPt(evo2::testing::ReadFileBytes(f), 150);
    // Both outcomes must occur, or the mutations are not reaching the parser.
    EXPECT_GT(c.errors, 50);
    EXPECT_GT(c.ok, 5);
  }
}

TEST(CorruptInput, MutatedDcpMetadataAndChunks) {
  const auto src = Nemo2Dir();
  if (!src) GTEST_SKIP() << "a_tiny6/nemo2_tp{1,2} not present";
  const fs::path weights = *src / "weights";
  const std::string good = evo2::testing::ReadFileBytes(weights / ".metadata");
  std::mt19937_64 rng(kSeed + 1);
  Counts c;
  auto parse = [&](const std::string& bytes) {
    auto md = io::ParseDcpMetadata(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())), ".metadata");
    md.ok() ? ++c.ok : ++c.errors;
  };
  for (int i = 0; i < 200; ++i) parse(Flip(good, rng, 4096));
  for (size_t cut : TruncationPoints(good.size(), rng)) parse(good.substr(0, cut));
  EXPECT_GT(c.errors, 50);
  EXPECT_GT(c.ok, 5);

  // Chunk items: mutate one item's zip and open it like the DCP reader does.
  auto md = io::ParseDcpMetadata(std::as_bytes(std::span<const char>(good.data(), good.size())), ".metadata");
  ASSERT_TRUE(md.ok()) << md.status();
  std::vector<io::DcpItemLocation> items;
  for (const auto& [key, loc] : md->locations) {
    if (!key.second.empty()) items.push_back(loc);
  }
  ASSERT_FALSE(items.empty());
  Counts chunks;
  for (int i = 0; i < 120; ++i) {
    const auto& loc = items[rng() % items.size()];
    const std::string file = evo2::testing::ReadFileBytes(weights / loc.relative_path);
    std::string item = Flip(file.substr(loc.offset, loc.length), rng, 1024);
    if (i % 4 == 0) item.resize(rng() % item.size());
    auto storage = Bytes(std::string(100, 'p') + item);  // at an offset, like in a .distcp file
    auto archive = io::TorchArchive::Open(storage, storage->bytes().subspan(100), "item");
    absl::Status s = archive.status();
    if (archive.ok()) {
      auto t = archive->ToTensor(archive->root(), "chunk");
      s = t.status();
      if (t.ok()) Touch({{"chunk", *t}});
    }
    s.ok() ? ++chunks.ok : ++chunks.errors;
  }
  EXPECT_GT(chunks.errors, 20);
}

TEST(CorruptInput, WholeNemo2LoadsWithMutatedMetadata) {
  // The full loader on a directory whose .metadata is mutated (item files linked from the
  // golden copy): wrong offsets, lengths, shapes, dtypes and names all reach the DCP reader.
  const auto found = Nemo2Dir();
  if (!found) GTEST_SKIP() << "a_tiny6/nemo2_tp{1,2} not present";
  const fs::path src = *found;
  evo2::testing::TempDir tmp("fuzz_nemo2");
  fs::create_directories(tmp / "ckpt/weights");
  fs::create_directories(tmp / "ckpt/context");
  fs::copy_file(src / "context/model.yaml", tmp / "ckpt/context/model.yaml");
  for (const auto& e : fs::directory_iterator(src / "weights")) {
    if (e.path().extension() == ".distcp") fs::create_symlink(fs::absolute(e.path()), tmp / "ckpt/weights" / e.path().filename());
  }
  const std::string good = evo2::testing::ReadFileBytes(src / "weights/.metadata");
  std::mt19937_64 rng(kSeed + 2);
  Counts c;
  for (int i = 0; i < 60; ++i) {
    evo2::testing::WriteFileBytes(tmp / "ckpt/weights/.metadata", i % 5 == 4 ? good.substr(0, rng() % good.size())
                                                                              : Flip(good, rng, good.size()));
    auto ckpt = LoadCheckpoint(tmp / "ckpt");
    if (ckpt.ok()) {
      ++c.ok;
      NamedTensors all(ckpt->tensors.begin(), ckpt->tensors.end());
      Touch(all);
    } else {
      ++c.errors;
      EXPECT_FALSE(ckpt.status().message().empty());
    }
  }
  EXPECT_GT(c.errors, 10);
}

}  // namespace
}  // namespace evo2
