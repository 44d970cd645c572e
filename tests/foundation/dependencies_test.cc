// One small real use of each library the build depends on, so a missing or broken package
// fails here with its name rather than deep inside another test.
#include <cblas.h>
#include <fftw3.h>
#include <hiredis/hiredis.h>
#include <zip.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <complex>
#include <memory>
#include <nlohmann/json.hpp>
#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <vector>
#include <yaml-cpp/yaml.h>

#include "gtest/gtest.h"
#include "google/protobuf/struct.pb.h"
#ifdef EVO2_HAVE_PROTO
#include "evo2/v1/jobs.pb.h"
#endif
#include "grpcpp/grpcpp.h"
#include "support/redis_server.h"

#ifdef EVO2_HAVE_CUDA
#include <cuda_runtime.h>
#include <cublas_v2.h>
#include <cufft.h>
#include <nccl.h>
#endif

namespace {

TEST(Dependencies, PrometheusRegistryCountsAndSerializes) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto& family = prometheus::BuildCounter().Name("evo2_test_events_total").Help("test").Register(*registry);
  family.Add({{"kind", "unit"}}).Increment(3);
  const std::string text = prometheus::TextSerializer().Serialize(registry->Collect());
  EXPECT_NE(text.find("evo2_test_events_total{kind=\"unit\"} 3"), std::string::npos) << text;
}

TEST(Dependencies, HiredisTalksToRealRedisServer) {
  if (!evo2::testing::HaveRedisServer()) GTEST_SKIP() << "redis-server is not installed";
  auto server = evo2::testing::RedisServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  redisContext* c = redisConnect("127.0.0.1", (*server)->port());
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->err, 0) << c->errstr;
  auto* set = static_cast<redisReply*>(redisCommand(c, "SET %s %s", "evo2:k", "v"));
  ASSERT_NE(set, nullptr);
  freeReplyObject(set);
  auto* get = static_cast<redisReply*>(redisCommand(c, "GET %s", "evo2:k"));
  ASSERT_NE(get, nullptr);
  ASSERT_EQ(get->type, REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(get->str, get->len), "v");
  freeReplyObject(get);
  redisFree(c);
}

TEST(Dependencies, YamlAndJsonParse) {
  YAML::Node node = YAML::Load("hidden_size: 128\nhcl_layer_idxs: [2, 5]\n");
  EXPECT_EQ(node["hidden_size"].as<int>(), 128);
  EXPECT_EQ(node["hcl_layer_idxs"][1].as<int>(), 5);
  auto json = nlohmann::json::parse(R"({"len00001": 0, "len00017": 1})");
  EXPECT_EQ(json["len00017"].get<int>(), 1);
}

TEST(Dependencies, OpenBlasSgemm) {
  // [2x3] x [3x2]; values chosen so the product is exact in fp32.
  const float a[] = {1, 2, 3, 4, 5, 6};
  const float b[] = {7, 8, 9, 10, 11, 12};
  float c[4] = {};
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2);
  EXPECT_FLOAT_EQ(c[0], 58);
  EXPECT_FLOAT_EQ(c[1], 64);
  EXPECT_FLOAT_EQ(c[2], 139);
  EXPECT_FLOAT_EQ(c[3], 154);
}

TEST(Dependencies, FftwRoundTrip) {
  const int n = 12;
  std::vector<float> in(n), back(n);
  for (int i = 0; i < n; ++i) in[i] = std::sin(0.7f * i) + 0.1f * i;
  std::vector<fftwf_complex> spec(n / 2 + 1);
  fftwf_plan fwd = fftwf_plan_dft_r2c_1d(n, in.data(), spec.data(), FFTW_ESTIMATE);
  fftwf_plan inv = fftwf_plan_dft_c2r_1d(n, spec.data(), back.data(), FFTW_ESTIMATE);
  fftwf_execute(fwd);
  fftwf_execute(inv);
  for (int i = 0; i < n; ++i) EXPECT_NEAR(back[i] / n, in[i], 1e-5f);
  fftwf_destroy_plan(fwd);
  fftwf_destroy_plan(inv);
}

TEST(Dependencies, LibzipWritesAndReadsArchive) {
  const std::string path = ::testing::TempDir() + "/evo2_deps_test.zip";
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(z, nullptr) << err;
  static const char kData[] = "little";
  zip_source_t* src = zip_source_buffer(z, kData, sizeof(kData) - 1, 0);
  ASSERT_GE(zip_file_add(z, "archive/byteorder", src, ZIP_FL_OVERWRITE), 0);
  ASSERT_EQ(zip_close(z), 0);
  z = zip_open(path.c_str(), ZIP_RDONLY, &err);
  ASSERT_NE(z, nullptr);
  zip_stat_t st;
  ASSERT_EQ(zip_stat(z, "archive/byteorder", 0, &st), 0);
  EXPECT_EQ(st.size, 6u);
  zip_discard(z);
}

TEST(Dependencies, Cli11ParsesReferenceStyleFlags) {
  CLI::App app;
  int mbs = 1;
  std::string collapse = "mean";
  app.add_option("--micro-batch-size", mbs);
  app.add_option("--log-prob-collapse-option", collapse);
  std::vector<std::string> args = {"sum", "--log-prob-collapse-option", "3", "--micro-batch-size"};
  app.parse(args);  // CLI11 takes the vector reversed
  EXPECT_EQ(mbs, 3);
  EXPECT_EQ(collapse, "sum");
}

TEST(Dependencies, ProtobufSerializesAndGrpcLinks) {
  google::protobuf::Struct s;
  (*s.mutable_fields())["model"].set_string_value("evo2_7b");
  std::string wire;
  ASSERT_TRUE(s.SerializeToString(&wire));
  google::protobuf::Struct back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_EQ(back.fields().at("model").string_value(), "evo2_7b");
  EXPECT_FALSE(grpc::Version().empty());
}

#ifdef EVO2_HAVE_PROTO
TEST(Dependencies, PublicApiMessageRoundTrips) {
  evo2::v1::SubmitJobRequest request;
  request.set_model("evo2_7b");
  request.set_fasta(">rec1\nACGT\n");
  request.set_idempotency_key("k-1");
  (*request.mutable_labels())["portal"] = "demo";
  std::string wire;
  ASSERT_TRUE(request.SerializeToString(&wire));
  evo2::v1::SubmitJobRequest back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_EQ(back.model(), "evo2_7b");
  EXPECT_EQ(back.fasta(), ">rec1\nACGT\n");
  EXPECT_EQ(back.labels().at("portal"), "demo");
}
#endif

#ifdef EVO2_HAVE_CUDA
TEST(Dependencies, CudaLibrariesLinkAndReportVersions) {
  int nccl_version = 0;
  ASSERT_EQ(ncclGetVersion(&nccl_version), ncclSuccess);
  EXPECT_GT(nccl_version, 20000);
  int cufft_version = 0;
  ASSERT_EQ(cufftGetVersion(&cufft_version), CUFFT_SUCCESS);
  EXPECT_GT(cufft_version, 0);
  int runtime_version = 0;
  ASSERT_EQ(cudaRuntimeGetVersion(&runtime_version), cudaSuccess);
  EXPECT_GE(runtime_version, 12000);
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    GTEST_SKIP() << "no CUDA device present: cuBLAS handle creation not exercised (NCCL "
                 << nccl_version << ", cuFFT " << cufft_version << " linked fine)";
  }
  cublasHandle_t handle;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  cublasDestroy(handle);
}
#endif

}  // namespace
