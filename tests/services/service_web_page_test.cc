// The web page in a real browser: redis-server + evo2-api (HTTP on) + one CPU evo2-worker on the
// shipped demo model, and Debian's headless Chromium driven by tests/browser/page_test.mjs
// (puppeteer-core). The page must show the API's own messages for a wrong key and a bad FASTA,
// run examples/example.fa to success with a results table equal to what the gRPC API returns,
// and draw the per-position plot. The screenshot lands in the build tree
// (tests/services/web_page_test_output/page.png).
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

TEST(WebPageTest, ExampleFastaInChromiumShowsTheGrpcResultsAndTheApiErrors) {
  // Missing tools are a failure, not a skip: CI installs them, and a skipped browser test would
  // let a broken page through.
  const char* chromium_env = std::getenv("EVO2_CHROMIUM");
  const fs::path chromium = chromium_env ? fs::path(chromium_env) : fs::path("/usr/bin/chromium");
  const fs::path node = FindOnPath("node");
  const fs::path browser_dir = EVO2_BROWSER_TEST_DIR;
  ASSERT_TRUE(fs::exists(chromium)) << chromium << " is missing: run scripts/setup.sh (installs "
                                    << "Debian's chromium; EVO2_CHROMIUM names another)";
  ASSERT_FALSE(node.empty()) << "node is missing: run scripts/setup.sh";
  ASSERT_TRUE(fs::exists(browser_dir / "node_modules" / "puppeteer-core"))
      << browser_dir / "node_modules"
      << " is missing: run scripts/setup.sh (npm ci there)";

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
  auto run = ChildProcess::Spawn(
      {node.string(), (browser_dir / "page_test.mjs").string(), "--url",
       absl::StrCat("http://127.0.0.1:", cluster.http_port(), "/"), "--key", kKeyAlpha, "--fasta",
       EVO2_EXAMPLE_FASTA, "--out", out.string(), "--chromium", chromium.string()},
      {}, out / "page_test.log");
  ASSERT_TRUE(run.ok()) << run.status();
  const int rc = (*run)->Wait(std::chrono::seconds(150));
  ASSERT_EQ(rc, 0) << "page_test.mjs failed (rc " << rc << "):\n"
                   << (*run)->Log() << "\nevo2-api log:\n"
                   << cluster.api().Log();
  std::ifstream in(out / "page_result.json");
  ASSERT_TRUE(in) << "no page_result.json:\n" << (*run)->Log();
  const json page = json::parse(in);

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

}  // namespace
}  // namespace evo2::testing
