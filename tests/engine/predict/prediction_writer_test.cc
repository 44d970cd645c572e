// PredictionWriter, the reference's batch dict, epoch collation (docs/spec/predict-cli.md §1.3-1.4)
// on hand-made scores: shapes, key order, zero padding, staging, seq_idx_map.json.
#include <fstream>

#include "evo2/npy.h"
#include "evo2/prediction_writer.h"
#include "evo2/safetensors.h"
#include "evo2/tokenizer.h"
#include "evo2/torch_pt.h"
#include "gtest/gtest.h"
#include "support/temp_dir.h"
#include "predict/prediction_tensors.h"

namespace evo2 {
namespace {

using testing::TempDir;


// A record of `n` tokens whose per-token log-probs are -(t+1)/10 and logits row t = t + v/1000.
RecordScore Score(const std::string& name, int64_t n, int64_t logit_rows = 0) {
  RecordScore r;
  r.name = name;
  r.num_tokens = n;
  for (int64_t t = 0; t + 1 < n; ++t) r.per_token.push_back(-(t + 1) / 10.0f);
  r.loss_mask.assign(static_cast<size_t>(n), 1);
  for (float v : r.per_token) r.log_prob_sum += v;
  r.log_prob_mean = n > 1 ? r.log_prob_sum / (n - 1) : 0;
  r.logit_rows = std::max(n, logit_rows);
  for (int64_t t = 0; t < r.logit_rows; ++t) {
    for (int v = 0; v < kVocabSize; ++v) r.logits.push_back(t + v / 1000.0f);
  }
  return r;
}

TEST(PredictionArrays, PerTokenBatchesCollateWithZeroPadding) {
  PredictionWriterOptions o;
  o.output_log_prob_seqs = true;
  o.collapse = LogProbCollapse::kPerToken;
  std::vector<RecordScore> b0 = {Score("a", 3), Score("b", 2)};
  std::vector<int64_t> i0 = {0, 1};
  auto a0 = predict::BuildBatchArrays(b0, i0, 3, o);
  ASSERT_TRUE(a0.ok()) << a0.status();
  std::vector<RecordScore> b1 = {Score("c", 5)};
  std::vector<int64_t> i1 = {2};
  auto a1 = predict::BuildBatchArrays(b1, i1, 5, o);
  ASSERT_TRUE(a1.ok());
  std::vector<predict::NamedArrays> batches;
  batches.push_back(std::move(*a0));
  batches.push_back(std::move(*a1));
  auto c = predict::CollateBatches(std::move(batches));
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->size(), 3u);
  EXPECT_EQ((*c)[0].first, "log_probs_seqs");
  EXPECT_EQ((*c)[1].first, "seq_idx");
  EXPECT_EQ((*c)[2].first, "loss_mask");
  const auto& lp = (*c)[0].second;
  EXPECT_EQ(lp.shape, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(lp.f32, (std::vector<float>{-0.1f, -0.2f, 0, 0,       // a: 2 scored, padded
                                        -0.1f, 0, 0, 0,          // b
                                        -0.1f, -0.2f, -0.3f, -0.4f}));
  EXPECT_EQ((*c)[1].second.i64, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ((*c)[2].second.i64, (std::vector<int64_t>{1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1}));
}

TEST(PredictionArrays, LogitsModeKeepsBatchPaddingRowsAndMasksThem) {
  PredictionWriterOptions o;  // logits mode
  std::vector<RecordScore> b = {Score("a", 2, 3), Score("b", 3, 3)};
  std::vector<int64_t> idx = {5, 6};
  auto a = predict::BuildBatchArrays(b, idx, 3, o);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->size(), 3u);
  EXPECT_EQ((*a)[0].first, "token_logits");
  EXPECT_EQ((*a)[0].second.shape, (std::vector<int64_t>{2, 3, kVocabSize}));
  // Row 2 of record a is the model's output at a pad token (the reference keeps it).
  EXPECT_EQ((*a)[0].second.f32[2 * kVocabSize + 7], 2.007f);
  EXPECT_EQ((*a)[1].first, "pad_mask");
  EXPECT_EQ((*a)[1].second.i64, (std::vector<int64_t>{1, 1, 0, 1, 1, 1}));
  EXPECT_EQ((*a)[2].second.i64, (std::vector<int64_t>{5, 6}));
}

TEST(PredictionArrays, CollapsedAndEmbeddings) {
  PredictionWriterOptions o;
  o.output_log_prob_seqs = true;
  o.collapse = LogProbCollapse::kSum;
  o.embedding_layers = {"blocks.1"};
  o.pooling = EmbeddingPooling::kNone;
  std::vector<RecordScore> b = {Score("a", 3), Score("b", 2)};
  for (auto& r : b) {
    r.embeddings.push_back({"blocks.1", {r.num_tokens, 2}, std::vector<float>(r.num_tokens * 2, 1)});
  }
  std::vector<int64_t> idx = {0, 1};
  auto a = predict::BuildBatchArrays(b, idx, 3, o);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->size(), 4u);
  EXPECT_EQ((*a)[0].second.f32, (std::vector<float>{-0.3f, -0.1f}));
  EXPECT_EQ((*a)[2].first, "hidden_embeddings.blocks.1");
  EXPECT_EQ((*a)[2].second.shape, (std::vector<int64_t>{2, 3, 2}));
  EXPECT_EQ((*a)[2].second.f32, (std::vector<float>{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0}));
  EXPECT_EQ((*a)[3].first, "pad_mask");
}

TEST(SeqIdxMap, IsPythonJsonDump) {
  std::vector<std::string> names = {"a", "b\"q", "c\\d", "caf\xc3\xa9", "\xf0\x9d\x84\x9e"};
  EXPECT_EQ(PythonJsonDumpSeqIdxMap(names),
            "{\"a\": 0, \"b\\\"q\": 1, \"c\\\\d\": 2, \"caf\\u00e9\": 3, \"\\ud834\\udd1e\": 4}");
  EXPECT_EQ(PythonJsonDumpSeqIdxMap({}), "{}");
}

TEST(PredictionWriter, NpyFilesAppearOnlyAfterFinish) {
  TempDir dir;
  PredictionWriterOptions o;
  o.output_dir = dir.path() / "out";
  o.format = OutputFormat::kNpy;
  o.output_log_prob_seqs = true;
  o.collapse = LogProbCollapse::kPerToken;
  auto w = PredictionWriter::Create(o);
  ASSERT_TRUE(w.ok()) << w.status();
  std::vector<int64_t> idx = {0, 1};
  ASSERT_TRUE((*w)->AddBatch({Score("chr1", 4), Score("x/y", 2)}, idx, 4).ok());
  // Nothing visible yet but the hidden staging directory.
  for (const auto& e : std::filesystem::directory_iterator(o.output_dir)) {
    EXPECT_EQ(e.path().filename().string().rfind(".evo2-predict.partial-", 0), 0u) << e.path();
  }
  const std::vector<std::string> names = {"chr1", "x/y"};
  ASSERT_TRUE((*w)->Finish(names).ok());
  auto lp = ReadNpy(o.output_dir / "chr1.log_probs.npy");
  ASSERT_TRUE(lp.ok()) << lp.status();
  EXPECT_EQ(lp->shape(), (std::vector<int64_t>{3}));
  EXPECT_EQ(*lp->ToFloat32(), (std::vector<float>{-0.1f, -0.2f, -0.3f}));
  EXPECT_TRUE(std::filesystem::exists(o.output_dir / "x_y.log_probs.npy"));
  EXPECT_EQ(testing::ReadFileBytes(o.output_dir / "seq_idx_map.json"), "{\"chr1\": 0, \"x/y\": 1}");
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(o.output_dir)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 3);  // no staging directory left
}

TEST(PredictionWriter, AbandonedRunLeavesNothing) {
  TempDir dir;
  PredictionWriterOptions o;
  o.output_dir = dir.path();
  o.output_log_prob_seqs = true;
  o.format = OutputFormat::kNpy;
  {
    auto w = PredictionWriter::Create(o);
    ASSERT_TRUE(w.ok());
    std::vector<int64_t> idx = {0};
    ASSERT_TRUE((*w)->AddBatch({Score("a", 3)}, idx, 3).ok());
  }  // destroyed without Finish(), e.g. after an error or Ctrl-C
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(PredictionWriter, UnwritableOutputDirIsAnError) {
  TempDir dir;
  std::ofstream(dir.path() / "file") << "x";
  PredictionWriterOptions o;
  o.output_dir = dir.path() / "file" / "out";
  auto w = PredictionWriter::Create(o);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(std::string(w.status().message()).find((dir.path() / "file" / "out").string()),
            std::string::npos)
      << w.status();
}

TEST(PredictionWriter, PtEpochFileReadsBack) {
  TempDir dir;
  PredictionWriterOptions o;
  o.output_dir = dir.path();
  o.output_log_prob_seqs = true;
  o.collapse = LogProbCollapse::kMean;
  auto w = PredictionWriter::Create(o);
  ASSERT_TRUE(w.ok());
  std::vector<int64_t> i0 = {0}, i1 = {1};
  ASSERT_TRUE((*w)->AddBatch({Score("a", 3)}, i0, 3).ok());
  ASSERT_TRUE((*w)->AddBatch({Score("b", 5)}, i1, 5).ok());
  const std::vector<std::string> names = {"a", "b"};
  ASSERT_TRUE((*w)->Finish(names).ok());
  auto pt = ReadTorchPt(dir.path() / "predictions__rank_0__dp_rank_0.pt");
  ASSERT_TRUE(pt.ok()) << pt.status();
  ASSERT_EQ(pt->size(), 2u);
  EXPECT_EQ((*pt)[0].first, "log_probs_seqs");
  EXPECT_EQ(*(*pt)[0].second.ToFloat32(), (std::vector<float>{-0.15f, -0.25f}));
  EXPECT_EQ((*pt)[1].first, "seq_idx");
  EXPECT_EQ((*pt)[1].second.dtype(), DType::kInt64);
  EXPECT_EQ(*(*pt)[1].second.ToInt64(), (std::vector<int64_t>{0, 1}));
}

TEST(PredictionWriter, SafetensorsHoldsTheSameTensors) {
  TempDir dir;
  PredictionWriterOptions o;
  o.output_dir = dir.path();
  o.format = OutputFormat::kSafetensors;
  o.output_log_prob_seqs = true;
  o.collapse = LogProbCollapse::kPerToken;
  auto w = PredictionWriter::Create(o);
  ASSERT_TRUE(w.ok());
  std::vector<int64_t> idx = {0, 1};
  ASSERT_TRUE((*w)->AddBatch({Score("a", 3), Score("b", 2)}, idx, 3).ok());
  const std::vector<std::string> names = {"a", "b"};
  ASSERT_TRUE((*w)->Finish(names).ok());
  auto st = ReadSafetensors(dir.path() / "predictions__rank_0__dp_rank_0.safetensors");
  ASSERT_TRUE(st.ok()) << st.status();
  std::map<std::string, Tensor> by_name(st->tensors.begin(), st->tensors.end());
  ASSERT_EQ(by_name.size(), 3u);
  EXPECT_EQ(by_name["log_probs_seqs"].shape(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(*by_name["log_probs_seqs"].ToFloat32(), (std::vector<float>{-0.1f, -0.2f, -0.1f, 0}));
  EXPECT_EQ(*by_name["loss_mask"].ToInt64(), (std::vector<int64_t>{1, 1, 1, 0}));
  EXPECT_EQ(*by_name["seq_idx"].ToInt64(), (std::vector<int64_t>{0, 1}));
}

TEST(PredictionWriter, BatchIntervalFilesAndSubdirs) {
  TempDir dir;
  PredictionWriterOptions o;
  o.output_dir = dir.path();
  o.output_log_prob_seqs = true;
  o.write_per_batch = true;
  o.files_per_subdir = 2;
  auto w = PredictionWriter::Create(o);
  ASSERT_TRUE(w.ok());
  for (int64_t b = 0; b < 3; ++b) {
    std::vector<int64_t> idx = {b};
    ASSERT_TRUE((*w)->AddBatch({Score("r" + std::to_string(b), 3)}, idx, 3).ok());
  }
  const std::vector<std::string> names = {"r0", "r1", "r2"};
  ASSERT_TRUE((*w)->Finish(names).ok());
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "subdir_1" /
                                      "predictions__rank_0__dp_rank_0__batch_0.pt"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "subdir_1" /
                                      "predictions__rank_0__dp_rank_0__batch_1.pt"));
  const auto last = dir.path() / "subdir_2" / "predictions__rank_0__dp_rank_0__batch_2.pt";
  ASSERT_TRUE(std::filesystem::exists(last));
  auto pt = ReadTorchPt(last);
  ASSERT_TRUE(pt.ok()) << pt.status();
  ASSERT_EQ(pt->size(), 3u);
  EXPECT_EQ((*pt)[2].first, "batch_idx");
  EXPECT_EQ(*(*pt)[2].second.ToInt64(), (std::vector<int64_t>{2}));
}

}  // namespace
}  // namespace evo2
