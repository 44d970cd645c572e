// The API's SubmitJob validation on any request a client can send: the fuzz bytes are the
// request's protobuf wire encoding (seeds: tests/fuzz/corpus/submit_fuzz, made with
// `protoc --encode` from the .txtpb files beside them).
#include "google/protobuf/stubs/logging.h"
#include "submit_validation.h"

// Mutated bytes often put invalid UTF-8 in string fields; protobuf logs each such parse failure,
// which would bury a real report in the fuzzer's output.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  evo2::v1::SubmitJobRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  (void)evo2::svc::ValidateMetadata(request).ok();
  evo2::svc::ModelLimits model{
      .name = "evo2-demo", .max_record_tokens = 4096, .num_layers = 11, .hidden_size = 256};
  evo2::svc::SubmitLimits limits;
  limits.max_records = 64;
  limits.max_total_bases = 1 << 16;
  (void)evo2::svc::ValidateSubmit(request, model, limits).ok();
  // Unknown depth and width take the other branches of the layer and output-size checks.
  (void)evo2::svc::ValidateSubmit(request, evo2::svc::ModelLimits{}, limits).ok();
  return 0;
}
