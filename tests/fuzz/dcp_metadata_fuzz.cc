// NeMo2 `weights/.metadata` (a pickled torch.distributed.checkpoint Metadata), interpreted into
// tensors, chunks and item locations.
#include <span>

#include "io/dcp_metadata.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)evo2::io::ParseDcpMetadata(
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size), "fuzz.metadata")
      .ok();
  return 0;
}
