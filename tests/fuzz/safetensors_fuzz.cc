// A `.safetensors` file (HF checkpoints): the JSON header and the data offsets it gives.
#include "evo2/safetensors.h"
#include "fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = evo2::fuzz::WriteFile("in.safetensors", evo2::fuzz::AsText(data, size));
  auto file = evo2::ReadSafetensors(path);
  if (!file.ok()) return 0;
  for (const auto& [name, tensor] : file->tensors) (void)evo2::fuzz::TouchBytes(tensor);
  return 0;
}
