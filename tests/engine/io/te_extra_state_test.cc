// Transformer Engine `_extra_state` (io/te_extra_state.h): the forward scales come out of every
// form TE writes (payloads PyTorch wrote, tests/data/te_extra_state/, and the test writer's), an
// empty or None state means "no stored scales", and every malformation is an error naming the key.
#include "io/te_extra_state.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <map>

#include "absl/strings/match.h"
#include "evo2/status_macros.h"
#include "evo2/torch_pt.h"
#include "io/mapped_file.h"
#include "io/torch_legacy_storage.h"
#include "support/expect_contains.h"
#include "support/golden_paths.h"
#include "support/te_extra_state_writer.h"
#include "support/temp_dir.h"

namespace evo2 {
namespace {

namespace fs = std::filesystem;
using testing::PickleTeState;
using testing::TeStateSpec;

fs::path Fixtures() { return testing::SourceDir() / "tests" / "data" / "te_extra_state"; }

std::span<const std::byte> Bytes(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

absl::StatusOr<std::optional<StoredFp8Scales>> FromPickle(const std::string& pickled,
                                                          const std::string& key = "k") {
  return io::ReadTeExtraStatePickle(Bytes(pickled), key);
}

TEST(TeExtraState, ReadsThePickleTorchWrote) {
  // pickle.dumps(state) of a TE 2.x release (protocol 4, FRAME, STACK_GLOBAL, the recipe dataclass and
  // its enum by name), scale_fwd = [3.5, 112.25, 1.0].
  const std::string pickled = testing::ReadFileBytes(Fixtures() / "te2_state.pickle");
  ASSERT_FALSE(pickled.empty());
  auto s = FromPickle(pickled);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ(**s, (StoredFp8Scales{.input = 3.5f, .weight = 112.25f}));
}

TEST(TeExtraState, ReadsEveryFormOfAStateDictTorchSaved) {
  const fs::path pt = Fixtures() / "forms.pt";
  auto file = io::MappedFile::Open(pt);
  ASSERT_TRUE(file.ok()) << file.status();
  auto archive = io::TorchArchive::Open(*file, (*file)->bytes(), pt.string());
  ASSERT_TRUE(archive.ok()) << archive.status();
  std::map<std::string, std::optional<StoredFp8Scales>> got;
  for (const auto& [k, v] : archive->root()->entries) {
    if (!absl::EndsWith(k->text, "._extra_state")) continue;
    auto s = io::ReadTeExtraState(*archive, v, k->text);
    ASSERT_TRUE(s.ok()) << s.status();
    got[k->text] = *s;
  }
  ASSERT_EQ(got.size(), 4u);
  // TE >= 2.0: a uint8 tensor of pickle.dumps(state).
  EXPECT_EQ(got["blocks.0.projections._extra_state"],
            (StoredFp8Scales{.input = 3.5f, .weight = 112.25f}));
  // TE 1.x: an io.BytesIO of torch.save(state), pickled with _codecs.encode(latin-1 text).
  EXPECT_EQ(got["blocks.1.projections._extra_state"],
            (StoredFp8Scales{.input = 0.625f, .weight = 40.5f}));
  // No FP8 state: an empty tensor, or None.
  EXPECT_EQ(got["blocks.2.projections._extra_state"], std::nullopt);
  EXPECT_EQ(got["blocks.3.projections._extra_state"], std::nullopt);
}

TEST(TeExtraState, ReadsADistributedCheckpointByteItem) {
  // torch.save([uint8 tensor]): how Megatron's torch_dist saves a module's extra state.
  const std::string item = testing::ReadFileBytes(Fixtures() / "dcp_item.bin");
  auto s = io::ReadTeExtraStateItem(Bytes(item), "item");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, (StoredFp8Scales{.input = 5.25f, .weight = 80.0f}));
}

TEST(TeExtraState, TheTestWriterMatchesWhatTorchWrote) {
  // The writer the model tests use produces what the reader takes from torch's own bytes.
  TeStateSpec spec;
  spec.scale_fwd = {3.5f, 112.25f, 1.0f};
  auto s = FromPickle(PickleTeState(spec));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, (StoredFp8Scales{.input = 3.5f, .weight = 112.25f}));
  spec.with_recipe = false;  // the uint8 form before the recipe was added (TE 2.0 development)
  s = FromPickle(PickleTeState(spec));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, (StoredFp8Scales{.input = 3.5f, .weight = 112.25f}));
}

TEST(TeExtraState, EmptyPayloadAndNoneMeanNoStoredScales) {
  auto empty = FromPickle("");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(*empty, std::nullopt);
  auto none = FromPickle(std::string("\x80\x04N.", 4));  // pickle.dumps(None)
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, std::nullopt);
}

// Each malformation is refused with the key and what is wrong.
void ExpectRefused(const std::string& pickled, const std::string& what) {
  auto s = FromPickle(pickled, "blocks.4.projections._extra_state");
  ASSERT_FALSE(s.ok()) << "accepted; expected an error about: " << what;
  EVO2_EXPECT_CONTAINS(s.status().message(), "blocks.4.projections._extra_state");
  EVO2_EXPECT_CONTAINS(s.status().message(), what);
}

TEST(TeExtraStateErrors, ForeignGlobalIsNamed) {
  TeStateSpec spec;
  spec.extra_global_module = "os";
  spec.extra_global_name = "system";
  ExpectRefused(PickleTeState(spec), "the global 'os.system', which is not allowed");
}

TEST(TeExtraStateErrors, MissingOrImplausibleScales) {
  TeStateSpec spec;
  spec.with_scale_fwd = false;
  ExpectRefused(PickleTeState(spec), "no scale_fwd");
  spec = {};
  spec.scale_fwd = {1.0f, -2.0f, 1.0f};
  ExpectRefused(PickleTeState(spec), "scale_fwd[1] (the weight's scale) is -2");
  spec.scale_fwd = {std::numeric_limits<float>::quiet_NaN(), 1.0f, 1.0f};
  ExpectRefused(PickleTeState(spec), "scale_fwd[0] (the input's scale) is nan");
  spec.scale_fwd = {0.0f, 1.0f, 1.0f};
  ExpectRefused(PickleTeState(spec), "scale_fwd[0] (the input's scale) is 0");
  spec.scale_fwd = {1.0f, std::numeric_limits<float>::infinity(), 1.0f};
  ExpectRefused(PickleTeState(spec), "scale_fwd[1] (the weight's scale) is inf");
  spec.scale_fwd = {1.0f, 1.0f};
  ExpectRefused(PickleTeState(spec), "expected float32 [3·GEMMs]");
  spec.scale_fwd = {1, 1, 1, 1, 1, 1};
  ExpectRefused(PickleTeState(spec), "the scales of 2 GEMMs");
  spec = {};
  spec.history_width = 5;
  ExpectRefused(PickleTeState(spec), "amax_history_fwd is");
}

TEST(TeExtraStateErrors, TruncatedOrWrongValues) {
  const std::string good = PickleTeState({});
  ExpectRefused(good.substr(0, good.size() / 2), "bad pickle");
  ExpectRefused(std::string("\x80\x04K\x05.", 5), "the state is the int 5, not a dict");
  // A corrupted legacy storage inside: the magic number is the first thing checked.
  std::string bad = good;
  const size_t magic = bad.find(std::string("\x8a\x0a\x6c\xfc", 4));
  ASSERT_NE(magic, std::string::npos);
  bad[magic + 2] = 'X';
  ExpectRefused(bad, "does not start with torch's magic number");
}

TEST(TeExtraStateErrors, ByteItemHoldingADictIsRefused) {
  // A DCP byte item whose root is a dict is neither one module's state nor a one-element list.
  testing::TempDir dir("te_item");
  const NamedTensors dict = {{"a", testing::TeExtraStateTensor(PickleTeState({}))}};
  ASSERT_TRUE(WriteTorchPt(dir.path() / "item.pt", dict).ok());
  auto s = io::ReadTeExtraStateItem(Bytes(testing::ReadFileBytes(dir.path() / "item.pt")),
                                    "x._extra_state/shard_0_1");
  ASSERT_FALSE(s.ok());
  EVO2_EXPECT_CONTAINS(s.status().message(), "x._extra_state/shard_0_1");
  EVO2_EXPECT_CONTAINS(s.status().message(),
                       "expected a uint8 tensor (TE >= 2.0), an io.BytesIO (TE 1.x) or None");
}

TEST(TorchLegacyStorage, ReadsWhatTheWriterWrites) {
  const std::string blob = testing::te_writer_internal::LegacyFloatStorage({1.5f, -2.0f});
  auto s = io::ReadLegacyTorchStorage(Bytes(blob), "blob");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->dtype, DType::kFloat32);
  ASSERT_EQ(s->numel, 2);
  float v[2];
  std::memcpy(v, s->data.data(), sizeof(v));
  EXPECT_EQ(v[0], 1.5f);
  EXPECT_EQ(v[1], -2.0f);
  // Truncated data and trailing bytes are both errors.
  auto cut = io::ReadLegacyTorchStorage(Bytes(blob.substr(0, blob.size() - 1)), "blob");
  ASSERT_FALSE(cut.ok());
  EVO2_EXPECT_CONTAINS(cut.status().message(), "truncated");
  auto longer = io::ReadLegacyTorchStorage(Bytes(blob + "x"), "blob");
  ASSERT_FALSE(longer.ok());
  EVO2_EXPECT_CONTAINS(longer.status().message(), "1 bytes after the storage data");
}

}  // namespace
}  // namespace evo2
