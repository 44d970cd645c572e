// Unit tests of the service pieces that need no processes: Redis URL parsing, API keys,
// submit validation details, tensor encoding.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "api_keys.h"
#include "checkpoint_digest.h"
#include "evo2/config.h"
#include "evo2/model.h"
#include "evo2/npy.h"
#include "evo2/tokenizer.h"
#include "gtest/gtest.h"
#include "hashing.h"
#include "npy_out.h"
#include "record_scorer.h"
#include "redis_client.h"
#include "submit_validation.h"

namespace evo2::svc {
namespace {

TEST(ServiceRedisUrl, ParsesHostPortPasswordAndDb) {
  auto o = ParseRedisUrl("redis://:s3cret@redis.default:6380/2");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->host, "redis.default");
  EXPECT_EQ(o->port, 6380);
  EXPECT_EQ(o->password, "s3cret");
  EXPECT_EQ(o->db, 2);
  auto plain = ParseRedisUrl("10.0.0.1:7000");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->host, "10.0.0.1");
  EXPECT_EQ(plain->port, 7000);
  EXPECT_EQ(ParseRedisUrl("rediss://x:1").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseRedisUrl("redis://x:99999").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ServiceApiKeys, HashedKeysMapToTenants) {
  ApiKeyRegistry reg;
  ASSERT_TRUE(reg.LoadEnvList("alpha=k1, beta=k2").ok());
  EXPECT_EQ(*reg.Authenticate("k1"), "alpha");
  EXPECT_EQ(*reg.Authenticate("k2"), "beta");
  EXPECT_EQ(reg.Authenticate("k3").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(reg.Authenticate("").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE(reg.LoadEnvList("bad tenant=k").ok());
  // SHA-256("abc"), FIPS 180-2 test vector.
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

  const std::string path = ::testing::TempDir() + "/keys.txt";
  {
    std::ofstream f(path);
    f << "# comment\n\ngamma sha256:" << Sha256Hex("k4") << "\nbroken line\n";
  }
  ApiKeyRegistry file;
  auto st = file.LoadFile(path);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "line 4")) << st;
  EXPECT_EQ(*file.Authenticate("k4"), "gamma");
}

TEST(ServiceRandomIds, AreHexAndDistinct) {
  const std::string a = RandomHex(16), b = RandomHex(16);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(ServiceSubmitValidation, AcceptsCrlfBlankLinesLowercaseAndCountsBosTokens) {
  ModelLimits m{"m", 100, 4, 8};
  evo2::v1::SubmitJobRequest r;
  r.set_model("m");
  r.set_fasta(">r1 first record\r\nACGT\r\nnnry\r\n\r\n>r2\nA\n");
  r.mutable_options()->set_prepend_bos(true);
  auto v = ValidateSubmit(r, m, SubmitLimits{});
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->input.records_size(), 2);
  EXPECT_EQ(v->input.records(0).name(), "r1");
  EXPECT_EQ(v->input.records(0).description(), "first record");
  EXPECT_EQ(v->input.records(0).sequence(), "ACGTnnry");
  EXPECT_EQ(v->bases, 9);
  EXPECT_EQ(v->tokens_total, 11);  // + one BOS per record
  // Default outputs: sum and mean.
  EXPECT_EQ(v->input.outputs().log_probs_size(), 2);
  // The BOS counts against the per-record limit: 100 bases + BOS > 100.
  r.set_fasta(">r\n" + std::string(100, 'A') + "\n");
  EXPECT_EQ(ValidateSubmit(r, m, SubmitLimits{}).status().code(),
            absl::StatusCode::kResourceExhausted);
  // A configurable alphabet: ACGT only refuses N.
  SubmitLimits acgt;
  acgt.alphabet = "ACGT";
  r.set_fasta(">r\nACGN\n");
  auto s = ValidateSubmit(r, m, acgt).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "fasta:2:")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "column 4")) << s;
}

// The API reads layer names by the engine's grammar: every name the engine accepts is accepted.
TEST(ServiceSubmitValidation, AcceptsEveryLayerNameTheEngineAccepts) {
  ModelLimits m{"m", 100, 4, 8};
  for (const char* layer :
       {"blocks.3.pre_norm", "blocks.0.post_norm", "blocks.2.mlp", "blocks.2.mlp.l3",
        "blocks.1.inner_mha_cls", "blocks.1.out_filter_dense", "embedding_layer", "embedding",
        "norm", "decoder.final_norm", "module.decoder.layers.2", "blocks.3"}) {
    evo2::v1::SubmitJobRequest r;
    r.set_model("m");
    r.set_fasta(">r1\nACGT\n");
    r.mutable_outputs()->add_embeddings()->set_layer(layer);
    auto v = ValidateSubmit(r, m, SubmitLimits{});
    EXPECT_TRUE(v.ok()) << layer << ": " << v.status();
  }
  evo2::v1::SubmitJobRequest r;
  r.set_model("m");
  r.set_fasta(">r1\nACGT\n");
  r.mutable_outputs()->add_embeddings()->set_layer("blocks.4.pre_norm");  // 4 blocks: 0..3
  auto s = ValidateSubmit(r, m, SubmitLimits{}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "layers 0..3")) << s;
  r.mutable_outputs()->mutable_embeddings(0)->set_layer("blocks.1.attention");
  s = ValidateSubmit(r, m, SubmitLimits{}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "blocks.1.attention")) << s;
}

// The engine captures each activation once: two spellings of one layer are refused.
TEST(ServiceSubmitValidation, RefusesTheSameLayerTwice) {
  ModelLimits m{"m", 100, 4, 8};
  evo2::v1::SubmitJobRequest r;
  r.set_model("m");
  r.set_fasta(">r1\nACGT\n");
  auto* a = r.mutable_outputs()->add_embeddings();
  a->set_layer("blocks.3");
  a->set_pooling(evo2::v1::POOLING_MEAN);
  auto* b = r.mutable_outputs()->add_embeddings();
  b->set_layer("decoder.layers.3");
  b->set_pooling(evo2::v1::POOLING_MAX);
  auto s = ValidateSubmit(r, m, SubmitLimits{}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "'decoder.layers.3' requested twice")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "blocks.3")) << s;
  b->set_layer("blocks.2");
  EXPECT_TRUE(ValidateSubmit(r, m, SubmitLimits{}).ok());
}

// A bad base is reported by the engine's FASTA reader with its record, line and column.
TEST(ServiceSubmitValidation, BadBaseNamesRecordLineAndColumn) {
  ModelLimits m{"m", 100, 4, 8};
  evo2::v1::SubmitJobRequest r;
  r.set_model("m");
  r.set_fasta(">r0\nAC\n\n>r1 second\r\nACGT\r\nACXT\r\n");
  auto s = ValidateSubmit(r, m, SubmitLimits{}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "record \"r1\"")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "fasta:6:")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "column 3")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "'X'")) << s;
}

// A Model that counts its forwards; hidden row t of every layer is [t, -t].
class CountingModel : public evo2::Model {
 public:
  const evo2::ModelConfig& config() const override { return config_; }
  std::string backend_name() const override { return "counting"; }
  absl::StatusOr<evo2::ForwardResult> Forward(std::span<const int32_t> tokens,
                                              const evo2::ForwardOptions& options) override {
    ++forwards;
    evo2::ForwardResult r;
    const auto s = static_cast<int64_t>(tokens.size());
    r.log_probs.assign(static_cast<size_t>(s - 1), -1.0f);
    if (options.logits) r.logits.assign(static_cast<size_t>(s * evo2::kVocabSize), 0.0f);
    for (const std::string& layer : options.layers) {
      std::vector<float>& h = r.layers[layer];  // [S, 2]
      for (int64_t t = 0; t < s; ++t) {
        h.push_back(static_cast<float>(t));
        h.push_back(static_cast<float>(-t));
      }
    }
    return r;
  }
  int forwards = 0;

 private:
  evo2::ModelConfig config_;
};

// Directory checkpoints (NeMo2, Hugging Face) get a listing digest: stable across copies (the
// rule reads names, sizes and content, never mtimes), different for different content, blind to
// hidden files (lock files and caches that tools write next to the weights).
TEST(ServiceCheckpointDigest, DirectoryDigestFollowsNamesSizesAndContent) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(::testing::TempDir()) / "evo2_ckpt_digest";
  fs::remove_all(root);
  const fs::path dir = root / "ckpt";
  fs::create_directories(dir / "weights");
  auto write = [](const fs::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary) << bytes;
  };
  write(dir / "config.json", R"({"hidden_size": 8})");
  std::string weights(5 << 20, '\0');  // above the whole-file limit: sampled
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<char>(i * 31 % 251);
  write(dir / "weights" / "model.bin", weights);

  const std::string digest = CheckpointDigest(dir);
  ASSERT_TRUE(absl::StartsWith(digest, "sha256-dir:")) << digest;
  EXPECT_EQ(digest.size(), 11u + 64u);
  EXPECT_EQ(CheckpointDigest(dir), digest);
  fs::copy(dir, root / "copy", fs::copy_options::recursive);
  EXPECT_EQ(CheckpointDigest(root / "copy"), digest);
  write(dir / ".lock", "pid 42");
  fs::create_directories(dir / ".cache");
  write(dir / ".cache" / "meta", "x");
  EXPECT_EQ(CheckpointDigest(dir), digest);

  write(root / "copy" / "config.json", R"({"hidden_size": 9})");
  EXPECT_NE(CheckpointDigest(root / "copy"), digest);
  std::string retrained = weights;
  retrained[retrained.size() / 2] ^= 1;  // inside the middle sample
  write(dir / "weights" / "model.bin", retrained);
  EXPECT_NE(CheckpointDigest(dir), digest);
  write(dir / "weights" / "model.bin", weights);
  fs::rename(dir / "weights" / "model.bin", dir / "weights" / "renamed.bin");
  EXPECT_NE(CheckpointDigest(dir), digest);

  // A file is hashed whole, as before; a missing path has no digest.
  EXPECT_EQ(CheckpointDigest(dir / "config.json"), "sha256:" + Sha256Hex(R"({"hidden_size": 8})"));
  EXPECT_EQ(CheckpointDigest(root / "missing"), "");
  fs::remove_all(root);
}

// Every pooling of a record comes from one forward that computes all requested layers.
TEST(ServiceRecordScorer, OneForwardPerRecordForSeveralPoolings) {
  CountingModel model;
  RecordScorer scorer(model);
  evo2::v1::JobInput job;
  auto* rec = job.add_records();
  rec->set_name("r");
  rec->set_sequence("ACGTA");  // S = 5
  job.mutable_outputs()->set_logits(true);
  const std::pair<const char*, evo2::v1::Pooling> asked[] = {{"blocks.0", evo2::v1::POOLING_MAX},
                                                             {"blocks.1", evo2::v1::POOLING_MEAN},
                                                             {"blocks.2", evo2::v1::POOLING_NONE},
                                                             {"blocks.3", evo2::v1::POOLING_LAST}};
  for (const auto& [layer, pooling] : asked) {
    auto* e = job.mutable_outputs()->add_embeddings();
    e->set_layer(layer);
    e->set_pooling(pooling);
  }
  auto r = scorer.Score(job, 0, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(model.forwards, 1);
  std::map<std::string, std::vector<float>> got;
  std::vector<std::string> order;
  for (const auto& t : r->tensors()) {
    EXPECT_EQ(t.dtype(), evo2::v1::DTYPE_FLOAT32) << t.name();  // UNSPECIFIED asked = float32
    std::vector<float> v(t.data().size() / 4);
    std::memcpy(v.data(), t.data().data(), t.data().size());
    got[t.name()] = v;
    order.push_back(t.name());
  }
  // Grouped by pooling (none, mean, max, last), as results have always been ordered.
  EXPECT_EQ(order, (std::vector<std::string>{"logits", "embedding/blocks.2", "embedding/blocks.1",
                                             "embedding/blocks.0", "embedding/blocks.3"}));
  EXPECT_EQ(got["logits"].size(), 5u * evo2::kVocabSize);
  EXPECT_EQ(got["embedding/blocks.0"], (std::vector<float>{4, 0}));   // max
  EXPECT_EQ(got["embedding/blocks.1"], (std::vector<float>{2, -2}));  // mean of 0..4
  EXPECT_EQ(got["embedding/blocks.2"].size(), 10u);                   // [5, 2]
  EXPECT_EQ(got["embedding/blocks.3"], (std::vector<float>{4, -4}));  // last
}

TEST(ServiceTensorEncoding, Bfloat16RoundsToNearestEvenAndKeepsNan) {
  const std::vector<float> v = {1.0f, -2.5f, 1.00390625f /* halfway 1+2^-8 → even (1.0) */,
                                1.01171875f /* halfway 1+3·2^-8 → even (1+2^-6) */, NAN};
  const std::string b = EncodeTensorData(v, evo2::v1::DTYPE_BFLOAT16);
  ASSERT_EQ(b.size(), 10u);
  auto u16 = [&](int i) {
    return static_cast<uint16_t>(static_cast<unsigned char>(b[2 * i]) |
                                 (static_cast<unsigned char>(b[2 * i + 1]) << 8));
  };
  EXPECT_EQ(u16(0), 0x3f80);
  EXPECT_EQ(u16(1), 0xc020);
  EXPECT_EQ(u16(2), 0x3f80);
  EXPECT_EQ(u16(3), 0x3f82);
  EXPECT_EQ(u16(4) & 0x7f80, 0x7f80);
  EXPECT_NE(u16(4) & 0x007f, 0);
  const std::string f = EncodeTensorData({1.5f}, evo2::v1::DTYPE_FLOAT32);
  float back = 0;
  std::memcpy(&back, f.data(), 4);
  EXPECT_EQ(back, 1.5f);
}

// The client writes result tensors with the engine's .npy writer; bf16 is widened exactly.
TEST(ServiceClientNpy, WritesFloat32AndWidenedBfloat16) {
  evo2::v1::Tensor t;
  t.set_name("embedding/blocks.1");
  t.set_dtype(evo2::v1::DTYPE_BFLOAT16);
  t.add_shape(2);
  t.add_shape(2);
  const std::vector<float> values = {1.0f, -2.5f, 0.15625f, 3.0f};  // exact in bf16
  t.set_data(EncodeTensorData(values, evo2::v1::DTYPE_BFLOAT16));
  const std::filesystem::path path = ::testing::TempDir() + "/client_bf16.npy";
  ASSERT_TRUE(evo2::client::WriteNpy(path, t).ok());
  auto back = evo2::ReadNpy(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->dtype(), evo2::DType::kFloat32);
  EXPECT_EQ(back->shape(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(*back->ToFloat32(), values);

  t.set_dtype(evo2::v1::DTYPE_FLOAT32);
  t.set_data(EncodeTensorData(values, evo2::v1::DTYPE_FLOAT32));
  ASSERT_TRUE(evo2::client::WriteNpy(path, t).ok());
  back = evo2::ReadNpy(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back->ToFloat32(), values);
}

}  // namespace
}  // namespace evo2::svc
