#include "io/te_extra_state.h"

#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "evo2/status_macros.h"
#include "io/pickle.h"
#include "io/torch_legacy_storage.h"

namespace evo2::io {
namespace {

using Kind = PickleValue::Kind;
using TensorReader = std::function<absl::StatusOr<Tensor>(const PickleValue*, const std::string&)>;

struct AllowedGlobal {
  std::string_view module, name;
};

// The globals `pickle.dumps(state)` writes (TE >= 2.0): tensors rebuilt from legacy storages,
// their empty backward-hook OrderedDicts, and the recipe dataclass with its format enum (by name
// through builtins.getattr on Python >= 3.11, by value through _FormatHelper before).
constexpr std::array kPickledStateGlobals = {
    AllowedGlobal{"torch._utils", "_rebuild_tensor_v2"},
    AllowedGlobal{"torch.storage", "_load_from_bytes"},
    AllowedGlobal{"collections", "OrderedDict"},
    AllowedGlobal{"builtins", "getattr"},
    AllowedGlobal{"transformer_engine.common.recipe", "DelayedScaling"},
    AllowedGlobal{"transformer_engine.common.recipe", "Format"},
    AllowedGlobal{"transformer_engine.common.recipe", "_FormatHelper"},
    AllowedGlobal{"transformer_engine.common.recipe", "_OverrideLinearPrecision"},
};

// The globals of a torch.save'd state (TE 0.10-1.x): tensors, their hooks and storage types.
constexpr std::array kTorchSavedStateGlobals = {
    AllowedGlobal{"torch._utils", "_rebuild_tensor_v2"},
    AllowedGlobal{"collections", "OrderedDict"},
    AllowedGlobal{"torch", "FloatStorage"},
    AllowedGlobal{"torch", "BFloat16Storage"},
    AllowedGlobal{"torch", "HalfStorage"},
    AllowedGlobal{"torch", "ByteStorage"},
    AllowedGlobal{"torch", "LongStorage"},
    AllowedGlobal{"torch", "IntStorage"},
};

// Every global the document refers to must be in `allowed`: nothing is ever executed, but a
// payload with other globals is not Transformer Engine's and is refused, naming the global.
template <size_t N>
absl::Status CheckGlobals(const PickleDocument& doc, const std::array<AllowedGlobal, N>& allowed,
                          const std::string& key) {
  for (const auto& v : doc.arena) {
    if (v->kind != Kind::kGlobal) continue;
    bool ok = false;
    for (const AllowedGlobal& a : allowed) ok |= v->module == a.module && v->name == a.name;
    if (!ok) {
      std::vector<std::string> names;
      for (const AllowedGlobal& a : allowed)
        names.push_back(absl::StrCat(std::string(a.module), ".", std::string(a.name)));
      return absl::DataLossError(absl::StrCat(
          key, ": Transformer Engine extra state refers to the global '", v->module, ".", v->name,
          "', which is not allowed there (allowed: ", absl::StrJoin(names, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status Malformed(const std::string& key, std::string_view what) {
  return absl::DataLossError(
      absl::StrCat(key, ": malformed Transformer Engine extra state: ", std::string(what)));
}

absl::StatusOr<std::vector<int64_t>> Ints(const PickleValue* v, const std::string& key,
                                          std::string_view what) {
  if (v == nullptr || v->kind != Kind::kTuple) {
    return Malformed(
        key, absl::StrCat(std::string(what), " is ", DescribePickleValue(v), ", not a tuple"));
  }
  std::vector<int64_t> out;
  for (const PickleValue* x : v->items) {
    if (!x->IsInt() || x->integer < 0)
      return Malformed(key, absl::StrCat(std::string(what), " holds ", DescribePickleValue(x)));
    out.push_back(x->integer);
  }
  return out;
}

// A tensor as plain `pickle` writes it: _rebuild_tensor_v2(_load_from_bytes(<legacy storage>),
// offset, size, stride, requires_grad, hooks). Only contiguous tensors occur in TE's state.
absl::StatusOr<Tensor> PickledTensor(const PickleValue* v, const std::string& name) {
  if (v == nullptr || v->kind != Kind::kObject || v->callable == nullptr ||
      !v->callable->IsGlobal("torch._utils", "_rebuild_tensor_v2") || v->args == nullptr ||
      v->args->kind != Kind::kTuple || v->args->items.size() < 4) {
    return Malformed(name, absl::StrCat("expected a tensor, found ", DescribePickleValue(v)));
  }
  const auto& a = v->args->items;
  const PickleValue* storage = a[0];
  if (storage->kind != Kind::kObject || storage->callable == nullptr ||
      !storage->callable->IsGlobal("torch.storage", "_load_from_bytes") ||
      storage->args == nullptr || storage->args->items.size() != 1 ||
      storage->args->items[0]->kind != Kind::kBytes) {
    return Malformed(name, absl::StrCat("the tensor's storage is ", DescribePickleValue(storage),
                                        ", not torch.storage._load_from_bytes(bytes)"));
  }
  const std::string& blob = storage->args->items[0]->text;
  ASSIGN_OR_RETURN(
      const LegacyStorage s,
      ReadLegacyTorchStorage(std::as_bytes(std::span(blob.data(), blob.size())), name));
  if (!a[1]->IsInt() || a[1]->integer < 0)
    return Malformed(name, "the storage offset is not a non-negative int");
  const int64_t offset = a[1]->integer;
  ASSIGN_OR_RETURN(const std::vector<int64_t> size, Ints(a[2], name, "the size"));
  ASSIGN_OR_RETURN(const std::vector<int64_t> stride, Ints(a[3], name, "the stride"));
  if (size.size() != stride.size() || size.size() > 8)
    return Malformed(name, "size and stride differ in rank");
  int64_t numel = 1, expected = 1;
  for (size_t d = size.size(); d-- > 0;) {
    if (size[d] > 1 && stride[d] != expected)
      return Malformed(name, "a strided tensor (TE stores contiguous ones)");
    if (__builtin_mul_overflow(numel, size[d], &numel) ||
        __builtin_mul_overflow(expected, std::max<int64_t>(size[d], 1), &expected)) {
      return Malformed(name, "the size overflows");
    }
  }
  if (offset > s.numel || numel > s.numel - offset) {
    return Malformed(name, absl::StrCat("size ", ShapeString(size), " at offset ", offset,
                                        " exceeds its ", s.numel, "-element storage"));
  }
  const size_t elem = DTypeSize(s.dtype);
  return Tensor::FromBytes(s.dtype, size,
                           std::span(s.data).subspan(static_cast<size_t>(offset) * elem,
                                                     static_cast<size_t>(numel) * elem));
}

// scale_fwd (and amax_history_fwd, which must agree in width) -> the first GEMM's input and
// weight scales.
absl::StatusOr<std::optional<StoredFp8Scales>> ScalesFromState(const PickleValue* state,
                                                               const TensorReader& read,
                                                               const std::string& key) {
  if (state->kind == Kind::kNone) return std::nullopt;
  if (state->kind == Kind::kList) {
    return absl::UnimplementedError(absl::StrCat(
        key,
        ": Transformer Engine extra state in the list form of TE 0.2 and older is not supported"));
  }
  if (state->kind != Kind::kDict) {
    return Malformed(key,
                     absl::StrCat("the state is ", DescribePickleValue(state), ", not a dict"));
  }
  if (const PickleValue* recipe = state->Get("recipe");
      recipe != nullptr && recipe->ClassName() != "DelayedScaling") {
    return Malformed(key, absl::StrCat("the recipe is ", DescribePickleValue(recipe),
                                       "; only DelayedScaling stores scales"));
  }
  const PickleValue* scale_value = state->Get("scale_fwd");
  if (scale_value == nullptr) return Malformed(key, "no scale_fwd");
  const std::string scale_name = absl::StrCat(key, " scale_fwd");
  ASSIGN_OR_RETURN(const Tensor scale, read(scale_value, scale_name));
  if (scale.dtype() != DType::kFloat32 || scale.rank() != 1 || scale.numel() < 3 ||
      scale.numel() % 3 != 0) {
    return Malformed(key,
                     absl::StrCat("scale_fwd is ", scale.DebugString(),
                                  ", expected float32 [3·GEMMs] (input, weight, output per GEMM)"));
  }
  if (scale.numel() != 3) {
    return Malformed(key, absl::StrCat("scale_fwd holds the scales of ", scale.numel() / 3,
                                       " GEMMs; each linear the engine runs in FP8 is one GEMM"));
  }
  if (const PickleValue* history_value = state->Get("amax_history_fwd"); history_value != nullptr) {
    ASSIGN_OR_RETURN(const Tensor history,
                     read(history_value, absl::StrCat(key, " amax_history_fwd")));
    if (history.dtype() != DType::kFloat32 || history.rank() != 2 ||
        history.dim(1) != scale.numel()) {
      return Malformed(
          key, absl::StrCat("amax_history_fwd is ", history.DebugString(),
                            ", expected float32 [history, ", scale.numel(), "] like scale_fwd"));
    }
  }
  ASSIGN_OR_RETURN(const std::vector<float> s, scale.ToFloat32());
  for (int i : {0, 1}) {
    if (!(s[i] > 0.0f) || !std::isfinite(s[i])) {
      return Malformed(key, absl::StrCat("scale_fwd[", i, "] (the ", i == 0 ? "input" : "weight",
                                         "'s scale) is ", s[i],
                                         "; a Transformer Engine scale is positive and finite"));
    }
  }
  return StoredFp8Scales{.input = s[0], .weight = s[1]};
}

// The bytes an `io.BytesIO` pickles: BUILD state (value, position, dict). With protocol 2
// (torch.save's) bytes are `_codecs.encode(<latin-1 text>, 'latin1')`, or `bytes()` when empty.
absl::StatusOr<std::string> BytesIoValue(const PickleValue* io, const std::string& key) {
  const PickleValue* state = io->state;
  if (state == nullptr || state->kind != Kind::kTuple || state->items.empty()) {
    return Malformed(key, "an io.BytesIO without its (value, position, dict) state");
  }
  const PickleValue* v = state->items[0];
  if (v->kind == Kind::kBytes) return v->text;
  if (v->kind == Kind::kObject && v->callable != nullptr &&
      v->callable->IsGlobal("builtins", "bytes") && v->args != nullptr && v->args->items.empty()) {
    return std::string();
  }
  if (v->kind != Kind::kObject || v->callable == nullptr ||
      !v->callable->IsGlobal("_codecs", "encode") || v->args == nullptr ||
      v->args->items.size() != 2 || !v->args->items[0]->IsString() ||
      !v->args->items[1]->IsString() || v->args->items[1]->text != "latin1") {
    return Malformed(key, absl::StrCat("the io.BytesIO value is ", DescribePickleValue(v)));
  }
  // UTF-8 text of code points < 256 -> those bytes.
  const std::string& text = v->args->items[0]->text;
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<uint8_t>(text[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if ((c == 0xC2 || c == 0xC3) && i + 1 < text.size() &&
               (static_cast<uint8_t>(text[i + 1]) & 0xC0) == 0x80) {
      out.push_back(
          static_cast<char>(((c & 0x03) << 6) | (static_cast<uint8_t>(text[++i]) & 0x3F)));
    } else {
      return Malformed(key, "the io.BytesIO value is not latin-1 text");
    }
  }
  return out;
}

// TE 0.10-1.x: torch.save(state) inside an io.BytesIO.
absl::StatusOr<std::optional<StoredFp8Scales>> ReadTorchSavedState(const std::string& zip,
                                                                   const std::string& key) {
  if (zip.empty()) return std::nullopt;
  std::vector<std::byte> copy(zip.size());
  std::memcpy(copy.data(), zip.data(), zip.size());
  auto storage = std::make_shared<VectorStorage>(std::move(copy));
  ASSIGN_OR_RETURN(auto archive, TorchArchive::Open(storage, storage->bytes(), key));
  RETURN_IF_ERROR(CheckGlobals(archive.document(), kTorchSavedStateGlobals, key));
  return ScalesFromState(
      archive.root(),
      [&](const PickleValue* v, const std::string& name) { return archive.ToTensor(v, name); },
      key);
}

bool IsTensor(const PickleValue* v) {
  return v->kind == Kind::kObject && v->callable != nullptr &&
         (v->callable->IsGlobal("torch._utils", "_rebuild_tensor_v2") ||
          v->callable->IsGlobal("torch._utils", "_rebuild_parameter"));
}

}  // namespace

absl::StatusOr<std::optional<StoredFp8Scales>> ReadTeExtraStatePickle(
    std::span<const std::byte> pickled, const std::string& key) {
  if (pickled.empty()) return std::nullopt;  // TE's empty tensor: no FP8 state
  ASSIGN_OR_RETURN(const PickleDocument doc, Unpickle(pickled, key));
  RETURN_IF_ERROR(CheckGlobals(doc, kPickledStateGlobals, key));
  return ScalesFromState(doc.root, PickledTensor, key);
}

absl::StatusOr<std::optional<StoredFp8Scales>> ReadTeExtraState(const TorchArchive& archive,
                                                                const PickleValue* value,
                                                                const std::string& key) {
  if (value == nullptr || value->kind == Kind::kNone) return std::nullopt;
  if (IsTensor(value)) {
    ASSIGN_OR_RETURN(const Tensor bytes, archive.ToTensor(value, key));
    if (bytes.dtype() != DType::kUInt8 || bytes.rank() != 1) {
      return Malformed(key,
                       absl::StrCat("a ", bytes.DebugString(), " tensor, expected uint8 [bytes]"));
    }
    return ReadTeExtraStatePickle(bytes.bytes(), key);
  }
  if (value->ClassName() == "BytesIO" &&
      (value->callable->module == "_io" || value->callable->module == "io")) {
    ASSIGN_OR_RETURN(const std::string zip, BytesIoValue(value, key));
    return ReadTorchSavedState(zip, key);
  }
  return Malformed(
      key, absl::StrCat("the value is ", DescribePickleValue(value),
                        ", expected a uint8 tensor (TE >= 2.0), an io.BytesIO (TE 1.x) or None"));
}

absl::StatusOr<std::optional<StoredFp8Scales>> ReadTeExtraStateItem(std::span<const std::byte> item,
                                                                    const std::string& key) {
  std::vector<std::byte> copy(item.begin(), item.end());
  auto storage = std::make_shared<VectorStorage>(std::move(copy));
  ASSIGN_OR_RETURN(auto archive, TorchArchive::Open(storage, storage->bytes(), key));
  const PickleValue* root = archive.root();
  if (root->kind == Kind::kList) {
    if (root->items.size() != 1) {
      return Malformed(key, absl::StrCat("the byte item holds ", DescribePickleValue(root),
                                         ", expected one value"));
    }
    root = root->items[0];
  }
  return ReadTeExtraState(archive, root, key);
}

}  // namespace evo2::io
