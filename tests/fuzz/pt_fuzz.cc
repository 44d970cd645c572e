// A torch.save `.pt` (zip + pickle + storages), as LoadCheckpoint and ReadTorchPt open it:
// every tensor it accepts must view bytes inside the archive.
#include <memory>
#include <vector>

#include "fuzz_files.h"
#include "io/pt_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  auto storage = std::make_shared<evo2::VectorStorage>(std::vector<std::byte>(bytes, bytes + size));
  auto archive = evo2::io::TorchArchive::Open(storage, storage->bytes(), "fuzz.pt");
  if (!archive.ok()) return 0;
  for (bool skip_extra_state : {true, false}) {
    auto tensors = archive->TensorDict(skip_extra_state);
    if (!tensors.ok()) continue;
    for (const auto& [name, tensor] : *tensors) (void)evo2::fuzz::TouchBytes(tensor);
  }
  return 0;
}
