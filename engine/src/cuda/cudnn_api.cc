#include "cuda/cudnn_api.h"

#include <dlfcn.h>

#include <mutex>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"

namespace evo2::cuda {
namespace {

// Resolves `name` into `slot`; returns the dlerror text on failure.
template <typename Fn>
absl::Status Resolve(void* lib, const char* name, Fn& slot) {
  dlerror();
  void* sym = dlsym(lib, name);
  if (sym == nullptr) {
    const char* err = dlerror();
    return absl::UnavailableError(
        absl::StrCat("cuDNN: symbol ", name, " not found in libcudnn.so.9: ",
                     err != nullptr ? err : "(no dlerror text)"));
  }
  slot = reinterpret_cast<Fn>(sym);
  return absl::OkStatus();
}

absl::StatusOr<CudnnApi> LoadOnce() {
  // RTLD_LOCAL: cuDNN's symbols stay out of the global namespace; the handle is kept for the
  // life of the process (cuDNN does not support being unloaded while its sub-libraries are in use).
  void* lib = dlopen("libcudnn.so.9", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* err = dlerror();
    return absl::UnavailableError(absl::StrCat("cuDNN: dlopen(libcudnn.so.9) failed: ",
                                               err != nullptr ? err : "(no dlerror text)"));
  }
  CudnnApi api;
  for (absl::Status s : {Resolve(lib, "cudnnGetVersion", api.GetVersion),
                         Resolve(lib, "cudnnGetErrorString", api.GetErrorString),
                         Resolve(lib, "cudnnGetLastErrorString", api.GetLastErrorString),
                         Resolve(lib, "cudnnCreate", api.Create),
                         Resolve(lib, "cudnnDestroy", api.Destroy),
                         Resolve(lib, "cudnnSetStream", api.SetStream),
                         Resolve(lib, "cudnnBackendCreateDescriptor", api.BackendCreateDescriptor),
                         Resolve(lib, "cudnnBackendDestroyDescriptor",
                                 api.BackendDestroyDescriptor),
                         Resolve(lib, "cudnnBackendSetAttribute", api.BackendSetAttribute),
                         Resolve(lib, "cudnnBackendGetAttribute", api.BackendGetAttribute),
                         Resolve(lib, "cudnnBackendFinalize", api.BackendFinalize),
                         Resolve(lib, "cudnnBackendExecute", api.BackendExecute)}) {
    RETURN_IF_ERROR(s);
  }
  // The backend graph API's attribute set and the SDPA graph pattern used here are cuDNN 9's.
  const size_t version = api.GetVersion();
  if (version < 90000 || version >= 100000) {
    return absl::UnavailableError(
        absl::StrCat("cuDNN: libcudnn.so.9 reports version ", version, "; 9.x is required"));
  }
  return api;
}

}  // namespace

absl::StatusOr<const CudnnApi*> CudnnApi::Load() {
  static std::once_flag once;
  static absl::StatusOr<CudnnApi>* loaded = nullptr;  // never freed: process lifetime
  std::call_once(once, [] { loaded = new absl::StatusOr<CudnnApi>(LoadOnce()); });
  if (!loaded->ok()) return loaded->status();
  return &loaded->value();
}

std::string CudnnApi::LastError() const {
  char buf[2048] = {0};
  GetLastErrorString(buf, sizeof(buf));
  return std::string(buf);
}

absl::Status CudnnApi::Check(cudnnStatus_t status, const char* call) const {
  if (status == CUDNN_STATUS_SUCCESS) return absl::OkStatus();
  std::string last = LastError();
  const std::string message =
      absl::StrCat("cuDNN ", call, ": ", GetErrorString(status), " (", static_cast<int>(status),
                   ")", last.empty() ? "" : ": ", last);
  switch (CUDNN_STATUS_CATEGORY(static_cast<int>(status))) {
    case CUDNN_STATUS_NOT_SUPPORTED:
      return absl::UnimplementedError(message);
    case CUDNN_STATUS_BAD_PARAM:
      return absl::InvalidArgumentError(message);
    default:
      break;
  }
  if (status == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||
      status == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED) {
    return absl::ResourceExhaustedError(message);
  }
  return absl::InternalError(message);
}

absl::StatusOr<BackendDescriptor> BackendDescriptor::Make(const CudnnApi& api,
                                                          cudnnBackendDescriptorType_t type) {
  BackendDescriptor d;
  d.api_ = &api;
  const absl::Status s = api.Check(api.BackendCreateDescriptor(type, &d.desc_),
                                   "cudnnBackendCreateDescriptor");
  if (!s.ok()) {
    d.desc_ = nullptr;
    return absl::Status(s.code(), absl::StrCat(s.message(), " (descriptor type ",
                                               static_cast<int>(type), ")"));
  }
  return d;
}

void BackendDescriptor::Reset() {
  if (desc_ != nullptr && api_ != nullptr) api_->BackendDestroyDescriptor(desc_);
  desc_ = nullptr;
}

absl::Status BackendDescriptor::Set(cudnnBackendAttributeName_t name,
                                    cudnnBackendAttributeType_t type, int64_t count,
                                    const void* values, const char* what) const {
  const absl::Status s =
      api_->Check(api_->BackendSetAttribute(desc_, name, type, count, values),
                  "cudnnBackendSetAttribute");
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(what, ": attribute ", static_cast<int>(name), ": ",
                                             s.message()));
}

absl::Status BackendDescriptor::SetDescriptor(cudnnBackendAttributeName_t name,
                                              const BackendDescriptor& value,
                                              const char* what) const {
  return Set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, value.address(), what);
}

absl::Status BackendDescriptor::SetInt64(cudnnBackendAttributeName_t name, int64_t value,
                                         const char* what) const {
  return Set(name, CUDNN_TYPE_INT64, 1, &value, what);
}

absl::Status BackendDescriptor::SetDataType(cudnnBackendAttributeName_t name,
                                            cudnnDataType_t value, const char* what) const {
  return Set(name, CUDNN_TYPE_DATA_TYPE, 1, &value, what);
}

absl::Status BackendDescriptor::Finalize(const char* what) const {
  const absl::Status s = api_->Check(api_->BackendFinalize(desc_), "cudnnBackendFinalize");
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
}

}  // namespace evo2::cuda
