// The web page in a real browser: redis-server + evo2-api (HTTP on) + one CPU evo2-worker on the
// shipped demo model, and Debian's headless Chromium driven by tests/browser/*.mjs
// (puppeteer-core).
//
// FASTA jobs (page_test.mjs): the page must show the API's own messages for a wrong key and a
// bad FASTA, run examples/example.fa to success with a results table equal to what the gRPC API
// returns, and draw the per-position plot.
//
// Variant jobs (variants_page_test.mjs), on a worker started with `--reference example=<a copy
// of examples/example.fa>`: the page offers the reference ListModels names and the API's
// defaults, shows the API's message for an empty VCF and an unregistered reference and the
// failed job's message for an unparsable record, runs examples/example.vcf to success with a
// table equal to the job's variants.tsv fetched through gRPC (and the same table with the FASTA
// uploaded instead), draws one dot per scored allele and sorts by delta.
//
// The screenshots land in the build tree (tests/services/web_page_test_output/page.png and
// tests/services/web_variants_test_output/variants_page.png).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "service_harness.h"
#include "support/expect_contains.h"
#include "support/temp_dir.h"

namespace evo2::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "/usr/bin", ':')) {
    fs::path p = fs::path(std::string(dir)) / name;
    if (!dir.empty() && ::access(p.c_str(), X_OK) == 0) return p;
  }
  return {};
}

// Chromium, node and puppeteer-core. Missing tools are a failure, not a skip: CI installs them,
// and a skipped browser test would let a broken page through.
struct BrowserTools {
  fs::path chromium, node, browser_dir;
};

void FindBrowserTools(BrowserTools& t) {
  const char* chromium_env = std::getenv("EVO2_CHROMIUM");
  t.chromium = chromium_env ? fs::path(chromium_env) : fs::path("/usr/bin/chromium");
  t.node = FindOnPath("node");
  t.browser_dir = EVO2_BROWSER_TEST_DIR;
  ASSERT_TRUE(fs::exists(t.chromium))
      << t.chromium << " is missing: run scripts/setup.sh "
      << "(installs Debian's chromium; EVO2_CHROMIUM names another)";
  ASSERT_FALSE(t.node.empty()) << "node is missing: run scripts/setup.sh";
  ASSERT_TRUE(fs::exists(t.browser_dir / "node_modules" / "puppeteer-core"))
      << t.browser_dir / "node_modules"
      << " is missing: run scripts/setup.sh (npm ci there)";
}

// Runs tests/browser/`script` with `args` (plus --out and --chromium) and parses the JSON it
// writes to out/`result_file`.
void RunBrowserScript(const BrowserTools& t, const std::string& script,
                      std::vector<std::string> args, const fs::path& out,
                      const std::string& result_file, ServiceCluster& cluster, json& page) {
  std::vector<std::string> argv = {t.node.string(), (t.browser_dir / script).string()};
  argv.insert(argv.end(), args.begin(), args.end());
  for (const std::string& a :
       {std::string("--out"), out.string(), std::string("--chromium"), t.chromium.string()}) {
    argv.push_back(a);
  }
  auto run = ChildProcess::Spawn(argv, {}, out / (script + ".log"));
  ASSERT_TRUE(run.ok()) << run.status();
  const int rc = (*run)->Wait(std::chrono::seconds(150));
  ASSERT_EQ(rc, 0) << script << " failed (rc " << rc << "):\n"
                   << (*run)->Log() << "\nevo2-api log:\n"
                   << cluster.api().Log();
  std::ifstream in(out / result_file);
  ASSERT_TRUE(in) << "no " << result_file << ":\n" << (*run)->Log();
  page = json::parse(in);
}

TEST(WebPageTest, ExampleFastaInChromiumShowsTheGrpcResultsAndTheApiErrors) {
  BrowserTools tools;
  ASSERT_NO_FATAL_FAILURE(FindBrowserTools(tools));

  ClusterOptions o;
  o.http = true;
  o.model = "evo2-demo";
  o.model_spec = "evo2-demo=8192";
  o.checkpoint = EVO2_DEMO_MODEL_DIR;
  o.api_args = {"--http-keepalive-ms", "500"};
  auto c = ServiceCluster::Start(o);
  if (absl::IsFailedPrecondition(c.status())) GTEST_SKIP() << c.status();  // no redis-server
  ASSERT_TRUE(c.ok()) << c.status();
  auto& cluster = **c;
  auto w = cluster.StartWorker();
  ASSERT_TRUE(w.ok()) << w.status();

  const fs::path out = EVO2_WEB_PAGE_TEST_OUT;
  fs::remove_all(out);
  fs::create_directories(out);
  json page;
  ASSERT_NO_FATAL_FAILURE(
      RunBrowserScript(tools, "page_test.mjs",
                       {"--url", absl::StrCat("http://127.0.0.1:", cluster.http_port(), "/"),
                        "--key", kKeyAlpha, "--fasta", EVO2_EXAMPLE_FASTA},
                       out, "page_result.json", cluster, page));

  EXPECT_EQ(page["page_errors"].size(), 0u) << page["page_errors"].dump();
  EXPECT_EQ(page["unlabelled"].size(), 0u) << "controls without a label: " << page["unlabelled"];
  EXPECT_EQ(page["first_focus"], "api-key");

  // The error paths show the API's messages, exactly as the gRPC API words them.
  auto bad_key = cluster.Client("not-a-key-0123456789")->List({});
  ASSERT_TRUE(absl::IsUnauthenticated(bad_key.status()));
  EXPECT_EQ(page["bad_key_error"], std::string(bad_key.status().message()));
  evo2::v1::SubmitJobRequest bad_fasta;
  bad_fasta.set_model("evo2-demo");
  bad_fasta.set_fasta(">ok\nACGT\n>broken\nACGTQACGT\n");
  auto refused = cluster.Client()->Submit(bad_fasta);
  ASSERT_TRUE(absl::IsInvalidArgument(refused.status()));
  EXPECT_EQ(page["bad_fasta_error"], std::string(refused.status().message()));
  EVO2_EXPECT_CONTAINS(page["bad_fasta_error"].get<std::string>(), "broken");

  // The results table equals the gRPC results of the same job.
  EXPECT_EQ(page["error_hidden"], true);
  EVO2_EXPECT_CONTAINS(page["status"].get<std::string>(), "succeeded");
  const std::string job_id = page["job_id"];
  ASSERT_EQ(job_id.size(), 32u) << page["status"];
  evo2::v1::GetJobResultsRequest req;
  req.set_job_id(job_id);
  std::vector<evo2::v1::RecordResult> records;
  ASSERT_TRUE(cluster.Client()
                  ->Results(req, [&](evo2::v1::RecordResult&& r) { records.push_back(r); })
                  .ok());
  ASSERT_EQ(records.size(), 4u);  // examples/example.fa
  ASSERT_EQ(page["rows"].size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const json& row = page["rows"][i];
    EXPECT_EQ(row["index"], records[i].record_index());
    EXPECT_EQ(row["name"], records[i].record_name());
    EXPECT_EQ(row["num_tokens"], absl::StrCat(records[i].num_tokens()));
    double sum = 0, mean = 0;
    ASSERT_TRUE(absl::SimpleAtod(row["log_prob_sum"].get<std::string>(), &sum));
    ASSERT_TRUE(absl::SimpleAtod(row["log_prob_mean"].get<std::string>(), &mean));
    // Exact: the page keeps the JSON number (printed round-trip) beside the rounded display.
    EXPECT_EQ(sum, records[i].log_prob_sum()) << row;
    EXPECT_EQ(mean, records[i].log_prob_mean()) << row;
    EXPECT_NE(records[i].log_prob_sum(), 0.0);
  }

  // The plot of the first record: one point per position (179 log-probs for 180 tokens; short
  // records are not reduced), then the zoom button halves the window.
  EXPECT_EQ(page["plot_points"], records[0].num_tokens() - 1);
  EVO2_EXPECT_CONTAINS(page["plot_label"].get<std::string>(), records[0].record_name());
  EXPECT_EQ(page["plot_zoom"][0], records[0].num_tokens() - 1);
  EXPECT_EQ(page["plot_zoom"][1],
            std::lround(0.5 * static_cast<double>(records[0].num_tokens() - 1)));

  ASSERT_TRUE(fs::exists(out / "page.png"));
  EXPECT_GT(fs::file_size(out / "page.png"), 10000u);
  std::cout << "screenshot: " << (out / "page.png") << "\n";
}

// variants.tsv as rows of fields, header first (the page's table holds exactly these).
std::vector<std::vector<std::string>> TsvRows(const std::string& tsv) {
  std::vector<std::vector<std::string>> rows;
  for (absl::string_view line : absl::StrSplit(tsv, '\n', absl::SkipEmpty())) {
    rows.push_back(absl::StrSplit(line, '\t'));
  }
  return rows;
}

TEST(WebPageTest, VariantJobsInChromiumShowTheJobsTsvAndTheApiErrors) {
  BrowserTools tools;
  ASSERT_NO_FATAL_FAILURE(FindBrowserTools(tools));
  // The worker indexes its reference beside the file (.fai): a copy keeps the source tree clean.
  TempDir scratch("web-variants");
  const fs::path reference = scratch.Write("example.fa", ReadFileBytes(EVO2_EXAMPLE_FASTA));

  ClusterOptions o;
  o.http = true;
  o.model = "evo2-demo";
  o.model_spec = "evo2-demo=8192";
  o.checkpoint = EVO2_DEMO_MODEL_DIR;
  o.api_args = {"--http-keepalive-ms", "500"};
  auto c = ServiceCluster::Start(o);
  if (absl::IsFailedPrecondition(c.status())) GTEST_SKIP() << c.status();  // no redis-server
  ASSERT_TRUE(c.ok()) << c.status();
  auto& cluster = **c;
  auto w = cluster.StartWorker({"--reference", absl::StrCat("example=", reference.string())});
  ASSERT_TRUE(w.ok()) << w.status();

  const fs::path out = EVO2_WEB_VARIANTS_TEST_OUT;
  fs::remove_all(out);
  fs::create_directories(out);
  json page;
  ASSERT_NO_FATAL_FAILURE(
      RunBrowserScript(tools, "variants_page_test.mjs",
                       {"--url", absl::StrCat("http://127.0.0.1:", cluster.http_port(), "/"),
                        "--key", kKeyAlpha, "--vcf", EVO2_EXAMPLE_VCF, "--reference-name",
                        "example", "--reference-fasta", reference.string()},
                       out, "variants_result.json", cluster, page));

  EXPECT_EQ(page["page_errors"].size(), 0u) << page["page_errors"].dump();
  EXPECT_EQ(page["unlabelled"].size(), 0u) << "controls without a label: " << page["unlabelled"];
  EXPECT_EQ(page["variant_inputs_hidden"], false);
  // ListModels' references and defaults, as the page offers them: the registered name, then
  // the upload choice; window min(8192, the model's 8192 tokens), 8 windows per batch.
  auto models = cluster.Client()->ListModels();
  ASSERT_TRUE(models.ok()) << models.status();
  ASSERT_EQ(models->models_size(), 1);
  ASSERT_EQ(models->models(0).references_size(), 1);
  EXPECT_EQ(models->models(0).references(0), "example");
  EXPECT_EQ(page["references"], json::array({"example", ""}));
  EXPECT_EQ(page["window_default"], absl::StrCat(models->variant_defaults().window_bases()));
  EXPECT_EQ(page["batch_default"], absl::StrCat(models->variant_defaults().batch_windows()));

  // An empty VCF: the API's refusal, word for word.
  evo2::v1::SubmitJobRequest empty;
  empty.set_model("evo2-demo");
  empty.mutable_variants()->set_reference_name("example");
  auto refused = cluster.Client()->Submit(empty);
  ASSERT_TRUE(absl::IsInvalidArgument(refused.status())) << refused.status();
  EXPECT_EQ(page["empty_vcf_error"], std::string(refused.status().message()));

  // A reference no worker registered: the API's refusal, word for word, listing what there is.
  evo2::v1::SubmitJobRequest unknown;
  unknown.set_model("evo2-demo");
  unknown.mutable_variants()->set_vcf(ReadFileBytes(EVO2_EXAMPLE_VCF));
  unknown.mutable_variants()->set_reference_name("hg99");
  auto unregistered = cluster.Client()->Submit(unknown);
  ASSERT_TRUE(absl::IsInvalidArgument(unregistered.status())) << unregistered.status();
  EXPECT_EQ(page["unknown_reference_error"], std::string(unregistered.status().message()));
  EVO2_EXPECT_CONTAINS(page["unknown_reference_error"].get<std::string>(), "(registered: example");

  // An unparsable record: the failed job's message, naming the record.
  const std::string bad_id = page["bad_vcf_job_id"];
  ASSERT_EQ(bad_id.size(), 32u) << page["bad_vcf_status"];
  auto bad_job = cluster.Client()->Get(bad_id);
  ASSERT_TRUE(bad_job.ok()) << bad_job.status();
  EXPECT_EQ(bad_job->state(), evo2::v1::JOB_STATE_FAILED);
  EXPECT_EQ(page["bad_vcf_error"], bad_job->error().message());
  EVO2_EXPECT_CONTAINS(page["bad_vcf_error"].get<std::string>(), "record 2 cannot be parsed");
  EVO2_EXPECT_CONTAINS(page["bad_vcf_status"].get<std::string>(), "failed");

  // The example VCF: the status counts VCF records (VARIANTS_PROGRESS events of the stream),
  // and the table equals the job's variants.tsv read through gRPC, header and every field.
  EXPECT_EQ(page["error_hidden"], true);
  EVO2_EXPECT_CONTAINS(page["status"].get<std::string>(), "succeeded (8 of 8 VCF records scored)");
  const std::string job_id = page["job_id"];
  ASSERT_EQ(job_id.size(), 32u) << page["status"];
  evo2::v1::GetJobResultsRequest req;
  req.set_job_id(job_id);
  std::string tsv;
  ASSERT_TRUE(cluster.Client()
                  ->Results(req,
                            [&](evo2::v1::RecordResult&& r) {
                              for (const auto& f : r.files()) {
                                if (f.name() == "variants.tsv") tsv = f.data();
                              }
                            })
                  .ok());
  const auto rows = TsvRows(tsv);
  ASSERT_EQ(rows.size(), 1u + 9u) << tsv;  // header + one row per ALT (the multi-allelic has two)
  EXPECT_EQ(page["table"]["header"], json(rows[0]));
  ASSERT_EQ(page["table"]["rows"].size(), rows.size() - 1);
  for (size_t i = 1; i < rows.size(); ++i) EXPECT_EQ(page["table"]["rows"][i - 1], json(rows[i]));
  EXPECT_EQ(page["tsv_download"], tsv);
  EXPECT_EQ(page["downloads"],
            json::array({job_id + "_variants.vcf.gz", job_id + "_variants.tsv"}));
  // Not a table of placeholders: the REF mismatch keeps its reason, the others have deltas.
  const size_t status_col = std::find(rows[0].begin(), rows[0].end(), "status") - rows[0].begin();
  const size_t delta_col = std::find(rows[0].begin(), rows[0].end(), "delta") - rows[0].begin();
  ASSERT_LT(delta_col, rows[0].size());
  std::vector<double> deltas;
  for (size_t i = 1; i < rows.size(); ++i) {
    if (rows[i][2] == "ref_mismatch") {
      EXPECT_EQ(rows[i][status_col], "EVO2_REF_MISMATCH");
      continue;
    }
    double d = 0;
    ASSERT_TRUE(absl::SimpleAtod(rows[i][delta_col], &d)) << rows[i][delta_col];
    ASSERT_TRUE(std::isfinite(d)) << rows[i][delta_col];
    deltas.push_back(d);
  }
  EXPECT_EQ(deltas.size(), 8u);

  // The plot: the first contig's (BRCA1_cds_start) six scored alleles, one dot each.
  EXPECT_EQ(page["contigs"], json::array({"BRCA1_cds_start", "lacZ_start"}));
  EXPECT_EQ(page["plot_dots"].size(), 6u) << page["plot_dots"];
  EVO2_EXPECT_CONTAINS(page["plot_dots"][0].get<std::string>(), "BRCA1_cds_start:2 T>A delta");
  EVO2_EXPECT_CONTAINS(page["plot_label"].get<std::string>(),
                       "6 scored alleles on BRCA1_cds_start");

  // Sorting by delta: ascending numbers, then descending, the unscored allele ('.') last.
  auto numbers = [](const json& column) {
    std::vector<double> v;
    for (const auto& x : column) {
      if (x == ".") continue;
      double d = 0;
      EXPECT_TRUE(absl::SimpleAtod(x.get<std::string>(), &d)) << x;
      v.push_back(d);
    }
    return v;
  };
  std::vector<double> ascending = deltas, descending = deltas;
  std::sort(ascending.begin(), ascending.end());
  std::sort(descending.rbegin(), descending.rend());
  EXPECT_EQ(numbers(page["sorted_ascending"]), ascending);
  EXPECT_EQ(numbers(page["sorted_descending"]), descending);
  EXPECT_EQ(page["sorted_ascending"].back(), ".");
  EXPECT_EQ(page["sorted_descending"].back(), ".");
  EXPECT_EQ(page["aria_sort"], "ascending");

  // The FASTA uploaded with the job gives the same table.
  EVO2_EXPECT_CONTAINS(page["uploaded_status"].get<std::string>(), "succeeded");
  EXPECT_EQ(page["uploaded_table"], page["table"]);

  ASSERT_TRUE(fs::exists(out / "variants_page.png"));
  EXPECT_GT(fs::file_size(out / "variants_page.png"), 10000u);
  std::cout << "screenshot: " << (out / "variants_page.png") << "\n";
}

}  // namespace
}  // namespace evo2::testing
