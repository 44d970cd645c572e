// Test fixture writer: a HuggingFace golden case of the Mamba-2 hybrid or Llama/Eden family
// (config.json + model.safetensors) rewritten as the NeMo2 checkpoint BioNeMo would save for the
// same model (docs/spec/checkpoints.md §13), with the engine's DCP writer: `context/model.yaml`,
// `context/io.json`, `weights/{.metadata, __R_0.distcp, metadata.json}`.
//
// Written from the golden READMEs' key tables, independently of the engine's reader
// (hf/nemo2_family_names.cc), so that a mistake in one shows up as a difference: Mamba in_proj
// stored as its z/x/B/C/dt parts and conv1d as x/B/C, Llama layers stacked on a leading axis
// with one chunk per layer, q/k/v rows interleaved per KV group, fc1 as [gate; up] chunks.
// With `tp` > 1 the chunks are those of a Megatron save by `tp` tensor-parallel ranks: column-
// parallel tensors split on their output rows, row-parallel ones on their input columns, the
// GLU fc1 as per-rank gate and up chunks, replicated tensors saved once by alternating ranks.
#pragma once

#include <filesystem>
#include <functional>

#include "absl/status/status.h"
#include "evo2/torch_pt.h"

namespace evo2::testing {

struct Nemo2FamilyWriteOptions {
  int tp = 1;
  bool with_context = true;  // write context/model.yaml and context/io.json
  // Applied to the NeMo2 tensors (names with `module.`) before they are written: lets a test
  // drop, reshape or add a key.
  std::function<void(NamedTensors&)> edit;
};

// `hf_dir` holds config.json (architectures NemotronHForCausalLM or LlamaForCausalLM) and
// model.safetensors; `out` is created.
absl::Status WriteNemo2FromHf(const std::filesystem::path& hf_dir, const std::filesystem::path& out,
                              const Nemo2FamilyWriteOptions& options = {});

}  // namespace evo2::testing
