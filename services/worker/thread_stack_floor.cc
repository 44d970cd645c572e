// Raises small thread-stack requests to a floor, for civetweb's sake.
//
// Why: Debian's civetweb (under prometheus-cpp's /metrics Exposer) creates its threads with a
// fixed ~100 KiB stack. glibc carves every loaded library's static TLS out of each new thread's
// stack, and cuBLASLt 13 alone has ~94 KiB of static TLS, so once the CUDA backend is linked
// civetweb's pthread_create fails ("null context when constructing CivetServer"). The
// executable's definition of pthread_attr_setstacksize interposes on libc's for every shared
// library; it forwards to libc with at least kStackFloorBytes. Requests above the floor are
// passed through unchanged.
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

#include <cstddef>

namespace {
constexpr size_t kStackFloorBytes = size_t{1} << 20;  // 1 MiB: TLS + civetweb's own needs
using SetStackSizeFn = int (*)(pthread_attr_t*, size_t);
}  // namespace

extern "C" int pthread_attr_setstacksize(pthread_attr_t* attr, size_t stacksize) {
  static const auto real =
      reinterpret_cast<SetStackSizeFn>(dlsym(RTLD_NEXT, "pthread_attr_setstacksize"));
  if (real == nullptr) return ENOSYS;  // cannot happen with glibc; never silently succeed
  return real(attr, stacksize < kStackFloorBytes ? kStackFloorBytes : stacksize);
}
