// Variant-scoring jobs end to end: a real redis-server, evo2-api and evo2-worker (the shipped
// demo model, CPU fp32, one thread) and the real gRPC and `evo2` clients.
//
// The job's annotated VCF (after bgzip decompression) and TSV are byte-equal to what
// `evo2 score-variants` writes locally for the same VCF, reference, window and checkpoint: the
// worker runs the same engine call with the same model and precision names, and the CPU backend
// scores windows one after another in both (docs/variant-scoring.md §5), so there is nothing to
// allow a tolerance for. That holds for a reference registered on the worker and for the same
// FASTA uploaded with the job. Also: VARIANTS_PROGRESS events arrive and end at the VCF's record
// count; a record the engine cannot parse fails the job naming the record (and not the
// worker's scratch path); records that cannot be scored carry their FILTER reason; an unknown
// reference name and oversized inputs are refused at submit with nothing stored; a cancel stops
// a running job.
#include <htslib/bgzf.h>

#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli_runner.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "service_harness.h"
#include "support/temp_dir.h"

namespace evo2::testing {
namespace {

using evo2::v1::JobEvent;

constexpr char kDemoModel[] = "evo2-demo";
constexpr char kReferenceName[] = "test-genome";
constexpr int64_t kWindow = 40;  // short windows keep each job to a second or two on one core

std::string RandomDna(std::mt19937& rng, size_t n) {
  static const char kBases[] = "ACGT";
  std::string s(n, 'A');
  for (char& c : s) c = kBases[rng() % 4];
  return s;
}

char OtherBase(char c, int k) {
  static const char kBases[] = "ACGT";
  int i = 0;
  for (char b : std::string(kBases)) {
    if (b != c && i++ == k) return b;
  }
  return 'N';
}

// Two contigs, 60 columns (a faidx-indexable FASTA).
struct TestGenome {
  std::string chr_a, chr_b;
  std::string Fasta() const {
    std::string out;
    for (const auto& [name, seq] : {std::pair{"chrA", &chr_a}, std::pair{"chrB", &chr_b}}) {
      absl::StrAppend(&out, ">", name, "\n");
      for (size_t i = 0; i < seq->size(); i += 60) absl::StrAppend(&out, seq->substr(i, 60), "\n");
    }
    return out;
  }
};

constexpr char kVcfHeader[] =
    "##fileformat=VCFv4.2\n##contig=<ID=chrA>\n##contig=<ID=chrB>\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n";

// 7 records: an SNV, an insertion, a deletion, a multi-allelic record, a record at a contig
// start (window moved), a REF that is not the reference's and a contig the reference lacks.
std::string TestVcf(const TestGenome& g) {
  const std::string& a = g.chr_a;
  const std::string& b = g.chr_b;
  std::string out = kVcfHeader;
  auto add = [&](const std::string& chrom, size_t pos, const std::string& id,
                 const std::string& ref, const std::string& alt) {
    absl::StrAppend(&out, chrom, "\t", pos, "\t", id, "\t", ref, "\t", alt, "\t.\tPASS\t.\n");
  };
  add("chrA", 50, "snv", a.substr(49, 1), std::string(1, OtherBase(a[49], 0)));
  add("chrA", 120, "ins", a.substr(119, 1), a.substr(119, 1) + "AC");
  add("chrA", 200, "del", a.substr(199, 5), a.substr(199, 1));
  add("chrA", 250, "mismatch", std::string(1, OtherBase(a[249], 1)), "A");
  add("chrB", 5, "edge", b.substr(4, 1), std::string(1, OtherBase(b[4], 2)));
  add("chrB", 90, "multi", b.substr(89, 1),
      absl::StrCat(std::string(1, OtherBase(b[89], 0)), ",", std::string(1, OtherBase(b[89], 1))));
  add("chrZ", 10, "nocontig", "A", "C");
  return out;
}

// Whole content of a bgzip (or plain) file's bytes, through htslib.
std::string Decompress(const TempDir& dir, const std::string& name, const std::string& bytes) {
  const auto path = dir.Write(name, bytes);
  BGZF* f = bgzf_open(path.c_str(), "r");
  if (f == nullptr) return "<not bgzf>";
  std::string out;
  char buf[1 << 16];
  ssize_t n = 0;
  while ((n = bgzf_read(f, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  bgzf_close(f);
  return n < 0 ? "<corrupt bgzf>" : out;
}

const evo2::v1::ResultFile* FindFile(const evo2::v1::RecordResult& r, const std::string& name) {
  for (const auto& f : r.files()) {
    if (f.name() == name) return &f;
  }
  return nullptr;
}

class ServiceVariantsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::mt19937 rng(20);
    genome_ = new TestGenome{RandomDna(rng, 300), RandomDna(rng, 200)};
    scratch_ = new TempDir("service-variants");
    reference_ = scratch_->Write("genome.fa", genome_->Fasta());
    vcf_ = scratch_->Write("in.vcf", TestVcf(*genome_));
    ClusterOptions o;
    o.model = kDemoModel;
    o.model_spec = absl::StrCat(kDemoModel, "=8192");
    o.checkpoint = EVO2_DEMO_MODEL_DIR;
    o.api_args = {"--max-vcf-bytes", "65536", "--max-reference-fasta-bytes", "4096"};
    o.http = true;
    auto c = ServiceCluster::Start(o);
    if (!c.ok()) {
      start_error_ = new absl::Status(c.status());
      return;
    }
    cluster_ = c->release();
    auto w = cluster_->StartWorker(
        {"--reference", absl::StrCat(kReferenceName, "=", reference_.string())});
    if (!w.ok()) start_error_ = new absl::Status(w.status());
  }
  static void TearDownTestSuite() {
    delete cluster_;
    delete scratch_;
    delete genome_;
    delete start_error_;
    cluster_ = nullptr;
    scratch_ = nullptr;
    genome_ = nullptr;
    start_error_ = nullptr;
  }
  void SetUp() override {
    if (start_error_ != nullptr && absl::IsFailedPrecondition(*start_error_)) {
      GTEST_SKIP() << *start_error_;
    }
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
  }

  static evo2::v1::SubmitJobRequest Request(const std::string& vcf_text) {
    evo2::v1::SubmitJobRequest req;
    req.set_model(kDemoModel);
    evo2::v1::VariantScoringInput* v = req.mutable_variants();
    v->set_vcf(vcf_text);
    v->set_reference_name(kReferenceName);
    v->set_window_bases(kWindow);
    return req;
  }

  // `evo2 score-variants` on the worker's checkpoint, once per suite: {vcf text, tsv}.
  static const std::pair<std::string, std::string>& Local() {
    static const std::pair<std::string, std::string> local = [] {
      const auto out = scratch_->path() / "local.vcf.gz";
      const auto tsv = scratch_->path() / "local.tsv";
      auto p =
          ChildProcess::Spawn({EVO2_CLI_BIN, "score-variants", "--vcf", vcf_.string(),
                               "--reference", reference_.string(), "--ckpt-dir",
                               EVO2_DEMO_MODEL_DIR, "--window", absl::StrCat(kWindow), "--threads",
                               "1", "--quiet", "--output", out.string(), "--tsv", tsv.string()},
                              {}, scratch_->path() / "local.log");
      EXPECT_TRUE(p.ok()) << p.status();
      if (!p.ok()) return std::pair<std::string, std::string>();
      EXPECT_EQ((*p)->Wait(std::chrono::seconds(60)), 0) << (*p)->Log();
      return std::pair{Decompress(*scratch_, "local-copy.vcf.gz", ReadFileBytes(out)),
                       ReadFileBytes(tsv)};
    }();
    return local;
  }

  static void ExpectEqualsLocal(const std::string& vcf_gz, const std::string& tsv) {
    const auto& [local_vcf, local_tsv] = Local();
    ASSERT_FALSE(local_vcf.empty());
    EXPECT_EQ(Decompress(*scratch_, "job.vcf.gz", vcf_gz), local_vcf);
    EXPECT_EQ(tsv, local_tsv);
    // Not a comparison of two empty outputs: every record is there, with its scores or reasons.
    EXPECT_TRUE(absl::StrContains(local_vcf, "EVO2_DELTA=")) << local_vcf;
    // The worker names the model as the CLI does: "<config name>/<checkpoint file name>".
    EXPECT_TRUE(absl::StrContains(local_vcf, "EVO2_MODEL=evo2-demo-256x11/evo2-demo;"))
        << local_vcf;
    EXPECT_TRUE(absl::StrContains(local_tsv, "\tEVO2_REF_MISMATCH\t")) << local_tsv;
    EXPECT_TRUE(absl::StrContains(local_tsv, "\tEVO2_NO_CONTIG\t")) << local_tsv;
    EXPECT_EQ(std::vector<std::string>(absl::StrSplit(local_tsv, '\n', absl::SkipEmpty())).size(),
              1u + 8u);  // header + one row per ALT (the multi-allelic record has two)
  }

  static TestGenome* genome_;
  static TempDir* scratch_;
  static std::filesystem::path reference_, vcf_;
  static ServiceCluster* cluster_;
  static absl::Status* start_error_;
};

TestGenome* ServiceVariantsTest::genome_ = nullptr;
TempDir* ServiceVariantsTest::scratch_ = nullptr;
std::filesystem::path ServiceVariantsTest::reference_;
std::filesystem::path ServiceVariantsTest::vcf_;
ServiceCluster* ServiceVariantsTest::cluster_ = nullptr;
absl::Status* ServiceVariantsTest::start_error_ = nullptr;

TEST_F(ServiceVariantsTest, JobOnRegisteredReferenceEqualsLocalScoreVariants) {
  auto client = cluster_->Client();
  auto submitted = client->Submit(Request(ReadFileBytes(vcf_)));
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string id = submitted->job().job_id();
  EXPECT_EQ(submitted->job().progress().records_total(), 1);  // one result: the files
  std::vector<JobEvent> events;
  absl::Status watched = client->Watch(id, "", [&](const JobEvent& ev) {
    events.push_back(ev);
    return true;
  });
  ASSERT_TRUE(watched.ok()) << watched << "\n" << cluster_->worker(0).Log();
  auto job = client->Get(id);
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->state(), evo2::v1::JOB_STATE_SUCCEEDED) << job->error().message() << "\n"
                                                         << cluster_->worker(0).Log();

  // Progress through the VCF: counts never go back, the last one has all 7 records, and it
  // comes before the result is stored.
  int64_t last_done = -1;
  int progress_events = 0;
  bool finished_seen = false;
  for (const JobEvent& ev : events) {
    if (ev.type() == evo2::v1::JOB_EVENT_TYPE_RECORD_FINISHED) finished_seen = true;
    if (ev.type() != evo2::v1::JOB_EVENT_TYPE_VARIANTS_PROGRESS) continue;
    ++progress_events;
    EXPECT_FALSE(finished_seen) << "progress after the result";
    EXPECT_EQ(ev.variants().records_total(), 7);
    EXPECT_GE(ev.variants().records_done(), last_done);
    last_done = ev.variants().records_done();
  }
  EXPECT_GE(progress_events, 1);
  EXPECT_EQ(last_done, 7);
  EXPECT_TRUE(finished_seen);

  std::vector<evo2::v1::RecordResult> results;
  // Small chunks: the files arrive in several FileChunk messages and are reassembled.
  evo2::v1::GetJobResultsRequest rr;
  rr.set_job_id(id);
  rr.set_max_chunk_bytes(4096);
  auto end =
      client->Results(rr, [&](evo2::v1::RecordResult&& r) { results.push_back(std::move(r)); });
  ASSERT_TRUE(end.ok()) << end.status();
  EXPECT_TRUE(end->complete());
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].record_name(), "variants");
  EXPECT_GT(results[0].num_tokens(), 0);
  const auto* vcf = FindFile(results[0], "variants.vcf.gz");
  const auto* tsv = FindFile(results[0], "variants.tsv");
  ASSERT_NE(vcf, nullptr);
  ASSERT_NE(tsv, nullptr);
  EXPECT_EQ(vcf->media_type(), "application/gzip");
  ExpectEqualsLocal(vcf->data(), tsv->data());

  // The HTTP/JSON results route carries the same files (base64, the proto3 JSON mapping).
  httplib::Client http("127.0.0.1", cluster_->http_port());
  auto res = http.Get(absl::StrCat("/v1/jobs/", id, "/results"),
                      {{"Authorization", absl::StrCat("Bearer ", kKeyAlpha)}});
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  ASSERT_EQ(res->status, 200) << res->body;
  const nlohmann::json files = nlohmann::json::parse(res->body)["records"][0]["files"];
  ASSERT_EQ(files.size(), 2u) << res->body;
  for (const auto& f : files) {
    std::string bytes;
    ASSERT_TRUE(absl::Base64Unescape(f["data"].get<std::string>(), &bytes));
    const auto* grpc_file = FindFile(results[0], f["name"].get<std::string>());
    ASSERT_NE(grpc_file, nullptr) << f["name"];
    EXPECT_EQ(bytes, grpc_file->data()) << f["name"];
    EXPECT_EQ(f["mediaType"], grpc_file->media_type());
  }
}

// A name in the registry that this worker was not started with (another worker's, or a stale
// registration): the worker fails the job at once, saying what it has.
TEST_F(ServiceVariantsTest, WorkerWithoutTheNamedReferenceFailsTheJobSayingWhatItHas) {
  auto redis = cluster_->Redis();
  ASSERT_TRUE(
      redis->Command({"HSET", absl::StrCat("evo2:q:", kDemoModel, ":references"), "ghost", "x"})
          .ok());
  auto req = Request(ReadFileBytes(vcf_));
  req.mutable_variants()->set_reference_name("ghost");
  auto client = cluster_->Client();
  auto submitted = client->Submit(req);
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  auto job = WaitForTerminal(*client, submitted->job().job_id(), std::chrono::seconds(60));
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->state(), evo2::v1::JOB_STATE_FAILED);
  EXPECT_EQ(job->error().code(), static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(absl::StrContains(job->error().message(), "has no reference 'ghost' (it has: " +
                                                            std::string(kReferenceName) + ")"))
      << job->error().message();
}

// A reference the engine cannot open stops the worker at start with the reason, before it
// registers anything or pulls a job.
TEST_F(ServiceVariantsTest, WorkerRefusesAnUnusableReferenceAtStart) {
  const auto not_fasta = scratch_->Write("not-a-fasta.fa.gz", "this is not gzip");
  auto w =
      ChildProcess::Spawn({EVO2_WORKER_BIN, "--model-name", kDemoModel, "--checkpoint",
                           EVO2_DEMO_MODEL_DIR, "--threads", "1", "--metrics-listen", "", "--redis",
                           absl::StrCat("redis://127.0.0.1:", cluster_->redis().port()),
                           "--reference", absl::StrCat("broken=", not_fasta.string())},
                          {}, scratch_->path() / "broken-worker.log");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->Wait(std::chrono::seconds(60)), 2) << (*w)->Log();
  EXPECT_TRUE(absl::StrContains((*w)->Log(), "--reference broken: ")) << (*w)->Log();
  auto registered = cluster_->Redis()->Command(
      {"HEXISTS", absl::StrCat("evo2:q:", kDemoModel, ":references"), "broken"});
  ASSERT_TRUE(registered.ok());
  EXPECT_EQ(registered->integer, 0);
}

TEST_F(ServiceVariantsTest, CliWithUploadedReferenceEqualsLocalScoreVariants) {
  TempDir out("service-variants-cli");
  CliResult r =
      RunCli(*cluster_, {"submit", "--model", kDemoModel, "--score-variants", "--vcf",
                         vcf_.string(), "--reference-fasta", reference_.string(), "--window",
                         absl::StrCat(kWindow), "--wait", "--out", out.path().string()});
  ASSERT_EQ(r.exit_code, 0) << r.output << "\n" << cluster_->worker(0).Log();
  EXPECT_TRUE(absl::StrContains(r.output, "variants  7/7 VCF records")) << r.output;
  ExpectEqualsLocal(ReadFileBytes(out.path() / "variants.vcf.gz"),
                    ReadFileBytes(out.path() / "variants.tsv"));
  // `evo2 results ID` without --out prints the TSV (the submit printed the id first).
  const std::string id = r.output.substr(0, r.output.find('\n'));
  CliResult printed = RunCli(*cluster_, {"results", id});
  ASSERT_EQ(printed.exit_code, 0) << printed.output;
  EXPECT_EQ(printed.output, Local().second);

  // The client's own checks: one clear line, exit 2 (a bad request), nothing submitted.
  struct Bad {
    std::vector<std::string> args;
    std::string message;
  } bad[] = {
      {{"submit", "--model", kDemoModel, "--score-variants", "--reference", kReferenceName},
       "--score-variants needs --vcf"},
      {{"submit", "--model", kDemoModel, "--score-variants", "--vcf", vcf_.string()},
       "needs exactly one of --reference NAME and --reference-fasta FILE"},
      {{"submit", "--model", kDemoModel, "--score-variants", "--vcf",
        (scratch_->path() / "missing.vcf").string(), "--reference", kReferenceName},
       "missing.vcf: cannot read it"},
      {{"submit", "--model", kDemoModel}, "a FASTA file is required (or --score-variants)"},
  };
  for (const Bad& b : bad) {
    CliResult e = RunCli(*cluster_, b.args);
    EXPECT_EQ(e.exit_code, 2) << e.output;
    EXPECT_TRUE(absl::StrContains(e.output, b.message)) << e.output;
  }
}

TEST_F(ServiceVariantsTest, UnparsableRecordFailsTheJobNamingTheRecord) {
  // Record 2's sample has more values than its FORMAT names (htslib refuses it).
  const std::string vcf =
      "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\n"
      "chrA\t5\t.\tA\tC\t.\t.\t.\tGT\t0/1\nchrA\t6\t.\tA\tC\t.\t.\t.\tGT:DP\t0/1:x:y\n";
  auto client = cluster_->Client();
  auto submitted = client->Submit(Request(vcf));
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  auto job = WaitForTerminal(*client, submitted->job().job_id(), std::chrono::seconds(60));
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->state(), evo2::v1::JOB_STATE_FAILED);
  EXPECT_EQ(job->error().code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(absl::StrContains(job->error().message(), "VCF input.vcf: record 2 cannot be parsed"))
      << job->error().message();
  EXPECT_FALSE(absl::StrContains(job->error().message(), "/")) << job->error().message();
  EXPECT_EQ(job->attempt(), 1);  // permanent: not retried
}

TEST_F(ServiceVariantsTest, BadRequestsAreRefusedAtSubmitWithNothingStored) {
  auto client = cluster_->Client();
  const auto keys_before = cluster_->Keys();
  struct Case {
    std::string what;
    evo2::v1::SubmitJobRequest req;
    absl::StatusCode code;
    std::string message;
  };
  std::vector<Case> cases;
  {
    auto r = Request(ReadFileBytes(vcf_));
    r.mutable_variants()->set_reference_name("hg99");
    cases.push_back({"unknown reference", r, absl::StatusCode::kInvalidArgument,
                     "reference 'hg99' is not registered for model 'evo2-demo' (registered: "
                     "test-genome;"});
  }
  {
    auto r = Request(std::string(65537, '#'));
    cases.push_back({"VCF too large", r, absl::StatusCode::kResourceExhausted,
                     "variants.vcf: the VCF is 65537 bytes, above the limit of 65536 bytes "
                     "(--max-vcf-bytes)"});
  }
  {
    auto r = Request(ReadFileBytes(vcf_));
    r.mutable_variants()->set_reference_fasta(std::string(4097, 'A'));
    cases.push_back({"reference too large", r, absl::StatusCode::kResourceExhausted,
                     "above the limit of 4096 bytes (--max-reference-fasta-bytes)"});
  }
  {
    auto r = Request("");
    cases.push_back(
        {"empty VCF", r, absl::StatusCode::kInvalidArgument, "variants.vcf: the VCF is empty"});
  }
  {
    auto r = Request(ReadFileBytes(vcf_));
    r.mutable_variants()->set_window_bases(8193);
    cases.push_back({"window", r, absl::StatusCode::kResourceExhausted,
                     "8193 bases exceeds the limit of 8192 tokens per sequence"});
  }
  {
    auto r = Request(ReadFileBytes(vcf_));
    r.mutable_variants()->clear_reference_name();
    cases.push_back({"no reference", r, absl::StatusCode::kInvalidArgument, "no reference"});
  }
  {
    auto r = Request(ReadFileBytes(vcf_));
    r.mutable_outputs()->set_logits(true);
    cases.push_back({"outputs", r, absl::StatusCode::kInvalidArgument, "leave `outputs` unset"});
  }
  for (const Case& c : cases) {
    auto s = client->Submit(c.req);
    EXPECT_EQ(s.status().code(), c.code) << c.what << ": " << s.status();
    EXPECT_TRUE(absl::StrContains(s.status().message(), c.message)) << c.what << ": " << s.status();
  }
  EXPECT_EQ(cluster_->Keys(), keys_before);
}

TEST_F(ServiceVariantsTest, CancelStopsARunningJob) {
  // 120 SNVs, one 128-base window per forward: minutes of work, so the job is surely running
  // when the cancel comes.
  std::string vcf = kVcfHeader;
  for (size_t pos = 70; pos < 190; ++pos) {
    const char ref = genome_->chr_a[pos - 1];
    absl::StrAppend(&vcf, "chrA\t", pos, "\t.\t", std::string(1, ref), "\t",
                    std::string(1, OtherBase(ref, 0)), "\t.\t.\t.\n");
  }
  auto req = Request(vcf);
  req.mutable_variants()->set_window_bases(128);
  req.mutable_variants()->set_batch_windows(1);
  auto client = cluster_->Client();
  auto submitted = client->Submit(req);
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string id = submitted->job().job_id();
  // Cancel once the engine has reported scored records.
  absl::Status watched = client->Watch(id, "", [&](const JobEvent& ev) {
    return !(ev.type() == evo2::v1::JOB_EVENT_TYPE_VARIANTS_PROGRESS &&
             ev.variants().records_done() > 0);
  });
  ASSERT_TRUE(watched.ok()) << watched;
  const auto t0 = std::chrono::steady_clock::now();
  auto cancelled = client->Cancel(id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  auto job = WaitForTerminal(*client, id, std::chrono::seconds(20));
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), evo2::v1::JOB_STATE_CANCELLED) << job->error().message();
  // The worker sees the cancel at its next heartbeat or progress write (visibility 1.5 s / 4)
  // and the engine stops inside the forward in progress.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_EQ(job->progress().records_done(), 0);
}

}  // namespace
}  // namespace evo2::testing
