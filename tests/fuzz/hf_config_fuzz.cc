// A HuggingFace `config.json`, read by the engine's HF checkpoint loader (beside an empty
// safetensors file) and then by both families' config parsers.
#include "fuzz_files.h"
#include "hf/hf_checkpoint.h"
#include "hf/llama_config.h"
#include "hf/nemotron_h_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // 8-byte little-endian header length 2, header "{}": a valid file with no tensors.
  static const auto weights =
      evo2::fuzz::WriteFile("model.safetensors", std::string_view("\x02\0\0\0\0\0\0\0{}", 10));
  evo2::fuzz::WriteFile("config.json", evo2::fuzz::AsText(data, size));
  auto ckpt = evo2::hf::LoadHfCheckpoint(weights.parent_path());
  if (!ckpt.ok()) return 0;
  (void)evo2::hf::ParseLlamaConfig(*ckpt).ok();
  (void)evo2::hf::NemotronHConfigFromCheckpoint(*ckpt).ok();
  return 0;
}
