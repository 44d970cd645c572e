// cuDNN loaded at run time (dlopen "libcudnn.so.9"): the engine has no link-time dependency on
// cuDNN, so the binary still runs where cuDNN is missing (then only the cuDNN attention path is
// unavailable and the backend keeps its own kernel). Only the handful of entry points the
// backend graph API needs are resolved; types and enum values come from the toolkit's
// cudnn_graph.h (9.19 here; the GPU machine loads its own 9.14, so only enums that 9.14 knows
// are used by the callers).
//
// Errors are absl::Status naming the cuDNN call, the status name and cuDNN's last error text
// (cudnnGetLastErrorString), which says why a graph or an engine was rejected.
#pragma once

#include <cudnn_graph.h>

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace evo2::cuda {

// The resolved cuDNN entry points. One process-wide instance (cuDNN is never unloaded).
struct CudnnApi {
  decltype(&::cudnnGetVersion) GetVersion = nullptr;
  decltype(&::cudnnGetErrorString) GetErrorString = nullptr;
  decltype(&::cudnnGetLastErrorString) GetLastErrorString = nullptr;
  decltype(&::cudnnCreate) Create = nullptr;
  decltype(&::cudnnDestroy) Destroy = nullptr;
  decltype(&::cudnnSetStream) SetStream = nullptr;
  decltype(&::cudnnBackendCreateDescriptor) BackendCreateDescriptor = nullptr;
  decltype(&::cudnnBackendDestroyDescriptor) BackendDestroyDescriptor = nullptr;
  decltype(&::cudnnBackendSetAttribute) BackendSetAttribute = nullptr;
  decltype(&::cudnnBackendGetAttribute) BackendGetAttribute = nullptr;
  decltype(&::cudnnBackendFinalize) BackendFinalize = nullptr;
  decltype(&::cudnnBackendExecute) BackendExecute = nullptr;

  // Loads libcudnn.so.9 once per process. Unavailable (with the dlopen/dlsym text) when the
  // library or a symbol is missing, or when its major version is not 9.
  static absl::StatusOr<const CudnnApi*> Load();

  // OK for CUDNN_STATUS_SUCCESS; otherwise an error naming `call`: Unimplemented for the
  // NOT_SUPPORTED family (no engine / graph pattern / shape), ResourceExhausted for allocation
  // failures, Internal for the rest.
  absl::Status Check(cudnnStatus_t status, const char* call) const;
  // cuDNN's last error text for this thread ("" when none).
  std::string LastError() const;
};

// Owns one cudnnBackendDescriptor_t (destroyed with it).
class BackendDescriptor {
 public:
  BackendDescriptor() = default;
  ~BackendDescriptor() { Reset(); }
  BackendDescriptor(BackendDescriptor&& other) noexcept
      : api_(other.api_), desc_(std::exchange(other.desc_, nullptr)) {}
  BackendDescriptor& operator=(BackendDescriptor&& other) noexcept {
    if (this != &other) {
      Reset();
      api_ = other.api_;
      desc_ = std::exchange(other.desc_, nullptr);
    }
    return *this;
  }
  BackendDescriptor(const BackendDescriptor&) = delete;
  BackendDescriptor& operator=(const BackendDescriptor&) = delete;

  static absl::StatusOr<BackendDescriptor> Make(const CudnnApi& api,
                                                cudnnBackendDescriptorType_t type);

  cudnnBackendDescriptor_t get() const { return desc_; }
  // Returns a pointer to the raw descriptor, for attributes that take descriptor arrays.
  const cudnnBackendDescriptor_t* address() const { return &desc_; }

  absl::Status Set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
                   int64_t count, const void* values, const char* what) const;
  absl::Status SetDescriptor(cudnnBackendAttributeName_t name, const BackendDescriptor& value,
                             const char* what) const;
  absl::Status SetInt64(cudnnBackendAttributeName_t name, int64_t value, const char* what) const;
  absl::Status SetDataType(cudnnBackendAttributeName_t name, cudnnDataType_t value,
                           const char* what) const;
  absl::Status Finalize(const char* what) const;

 private:
  void Reset();
  const CudnnApi* api_ = nullptr;
  cudnnBackendDescriptor_t desc_ = nullptr;
};

}  // namespace evo2::cuda
