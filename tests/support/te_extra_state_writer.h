// Writes Transformer Engine `_extra_state` payloads for tests, in TE >= 2.0's form
// (docs/spec/checkpoints.md §13): the bytes of `pickle.dumps(state)`, whose tensors are
// `_rebuild_tensor_v2(torch.storage._load_from_bytes(<legacy torch.save of the storage>), ...)`,
// with the recipe as a DelayedScaling object. The opcodes are protocol 2's plus BINBYTES, as
// io/pickle_writer.h emits them; tests/data/te_extra_state/ holds payloads PyTorch itself wrote.
// Knobs make it malformed in one named way at a time.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "evo2/tensor.h"
#include "io/pickle_writer.h"

namespace evo2::testing {

struct TeStateSpec {
  std::vector<float> scale_fwd = {1.0f, 1.0f, 1.0f};  // input, weight, output per GEMM
  bool with_scale_fwd = true;
  int64_t history = 16;  // amax_history_fwd [history, scale_fwd.size()]; 0: no amax_history_fwd
  int64_t history_width = -1;                          // -1: scale_fwd.size()
  bool with_recipe = true;                             // TE 2.x releases write the recipe
  std::string extra_global_module, extra_global_name;  // a foreign global as an extra entry
};

namespace te_writer_internal {

inline void AppendLe(std::string& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// torch.save(storage, _use_new_zipfile_serialization=False) of a float storage.
inline std::string LegacyFloatStorage(const std::vector<float>& values) {
  static const unsigned char kMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                         0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
  std::string out(reinterpret_cast<const char*>(kMagic), sizeof(kMagic));
  const std::string key = "94000000000000";
  {
    io::PickleWriter w;
    w.Op('\x80');
    w.Op('\x02');
    w.Int(1001);
    w.Op('.');
    out += w.out();
  }
  {
    io::PickleWriter w;
    w.Op('\x80');
    w.Op('\x02');
    w.Op('}');
    w.Put();
    w.Op('(');
    w.String("protocol_version");
    w.Int(1001);
    w.String("little_endian");
    w.Op('\x88');
    w.String("type_sizes");
    w.Op('}');
    w.Put();
    w.Op('(');
    w.String("short");
    w.Int(2);
    w.String("int");
    w.Int(4);
    w.String("long");
    w.Int(4);
    w.Op('u');
    w.Op('u');
    w.Op('.');
    out += w.out();
  }
  {
    io::PickleWriter w;
    w.Op('\x80');
    w.Op('\x02');
    w.Op('(');
    w.String("storage");
    w.Global("torch", "FloatStorage");
    w.String(key);
    w.String("cpu");
    w.Int(static_cast<int64_t>(values.size()));
    w.Op('N');
    w.Op('t');
    w.Put();
    w.Op('Q');
    w.Op('.');
    out += w.out();
  }
  {
    io::PickleWriter w;
    w.Op('\x80');
    w.Op('\x02');
    w.Op(']');
    w.Put();
    w.String(key);
    w.Op('a');
    w.Op('.');
    out += w.out();
  }
  AppendLe(out, values.size(), 8);
  for (float v : values) {
    uint32_t bits = 0;
    std::memcpy(&bits, &v, sizeof(bits));
    AppendLe(out, bits, 4);
  }
  return out;
}

// A contiguous fp32 tensor as plain pickle writes it.
inline void PickledTensor(io::PickleWriter& w, const std::vector<float>& values,
                          const std::vector<int64_t>& shape) {
  w.Global("torch._utils", "_rebuild_tensor_v2");
  w.Op('(');
  w.Global("torch.storage", "_load_from_bytes");
  const std::string blob = LegacyFloatStorage(values);
  w.Op('B');  // BINBYTES
  AppendLe(w.out(), blob.size(), 4);
  w.out() += blob;
  w.Put();
  w.Op('\x85');
  w.Put();
  w.Op('R');
  w.Put();
  w.FinishRebuildContiguousTensor(shape);
}

}  // namespace te_writer_internal

// The bytes of `pickle.dumps(state)` for `spec`.
inline std::string PickleTeState(const TeStateSpec& spec) {
  using te_writer_internal::PickledTensor;
  io::PickleWriter w;
  w.Op('\x80');
  w.Op('\x04');
  w.Op('}');
  w.Put();
  w.Op('(');
  if (spec.with_recipe) {
    // DelayedScaling(): NEWOBJ, then BUILD with its field dict; the format enum by name.
    w.String("recipe");
    w.Global("transformer_engine.common.recipe", "DelayedScaling");
    w.Op(')');
    w.Op('\x81');
    w.Put();
    w.Op('}');
    w.Put();
    w.Op('(');
    w.String("margin");
    w.Int(0);
    w.String("fp8_format");
    w.Global("builtins", "getattr");
    w.Global("transformer_engine.common.recipe", "Format");
    w.String("HYBRID");
    w.Op('\x86');
    w.Put();
    w.Op('R');
    w.Put();
    w.String("amax_history_len");
    w.Int(spec.history);
    w.String("amax_compute_algo");
    w.String("max");
    w.Op('u');
    w.Op('b');
  }
  const int64_t n = static_cast<int64_t>(spec.scale_fwd.size());
  if (spec.with_scale_fwd) {
    w.String("scale_fwd");
    PickledTensor(w, spec.scale_fwd, {n});
  }
  if (spec.history > 0) {
    const int64_t width = spec.history_width >= 0 ? spec.history_width : n;
    w.String("amax_history_fwd");
    PickledTensor(w, std::vector<float>(static_cast<size_t>(spec.history * width), 0.0f),
                  {spec.history, width});
  }
  w.String("scale_bwd");
  PickledTensor(w, {1.0f, 1.0f}, {2});
  if (!spec.extra_global_module.empty()) {
    w.String("payload");
    w.Global(spec.extra_global_module, spec.extra_global_name);
    w.String("echo");
    w.Op('\x85');
    w.Put();
    w.Op('R');
    w.Put();
  }
  w.String("extra_fp8_variables");
  w.Op('}');
  w.Put();
  w.Op('(');
  w.String("num_gemms");
  w.Int(n / 3);
  w.String("fp8_checkpoint");
  w.Op('\x88');
  w.Op('u');
  w.Op('u');
  w.Op('.');
  return w.out();
}

// The `_extra_state` value TE >= 2.0 puts in a state dict: the payload as a uint8 tensor.
inline Tensor TeExtraStateTensor(const std::string& pickled) {
  return Tensor::FromBytes(DType::kUInt8, {static_cast<int64_t>(pickled.size())},
                           std::as_bytes(std::span(pickled.data(), pickled.size())))
      .value();
}

}  // namespace evo2::testing
