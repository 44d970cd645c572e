#include "io/dcp_metadata.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "io/pickle.h"

namespace evo2::io {
namespace {

using Kind = PickleValue::Kind;
constexpr size_t kMaxRank = 64;

class Interpreter {
 public:
  explicit Interpreter(const std::string& where) : where_(where) {}

  absl::Status Error(std::string_view what) const {
    return absl::DataLossError(absl::StrCat(where_, ": unexpected DCP metadata: ", std::string(what)));
  }

  // The BUILD state dict of a dataclass-like object, or the object itself if it is a dict.
  const PickleValue* StateDict(const PickleValue* v) const {
    if (v == nullptr) return nullptr;
    if (v->kind == Kind::kDict) return v;
    if (v->kind == Kind::kObject && v->state != nullptr && v->state->kind == Kind::kDict) return v->state;
    return nullptr;
  }

  // torch.Size((d0, d1, ...)) or a plain tuple of ints.
  absl::StatusOr<std::vector<int64_t>> Shape(const PickleValue* v, std::string_view what) const {
    if (v != nullptr && v->kind == Kind::kObject && v->ClassName() == "Size" && v->args != nullptr &&
        v->args->items.size() == 1) {
      v = v->args->items[0];
    }
    if (v == nullptr || (v->kind != Kind::kTuple && v->kind != Kind::kList)) {
      return Error(absl::StrCat(std::string(what), " is ", DescribePickleValue(v), ", not a torch.Size"));
    }
    if (v->items.size() > kMaxRank) return Error(absl::StrCat(std::string(what), " has too many dimensions"));
    std::vector<int64_t> out;
    for (const PickleValue* x : v->items) {
      if (x->kind != Kind::kInt || x->integer < 0) {
        return Error(absl::StrCat(std::string(what), " holds ", DescribePickleValue(x)));
      }
      out.push_back(x->integer);
    }
    return out;
  }

  // TensorProperties: state is a tuple (dtype, layout, requires_grad, memory_format, pin_memory)
  // in torch >= 2.4, a dict with "dtype" before.
  absl::StatusOr<DType> PropertiesDType(const PickleValue* props, const std::string& fqn) const {
    const PickleValue* dtype = nullptr;
    if (props != nullptr && props->kind == Kind::kObject && props->state != nullptr) {
      if (props->state->kind == Kind::kTuple && !props->state->items.empty()) {
        dtype = props->state->items[0];
      } else if (props->state->kind == Kind::kDict) {
        dtype = props->state->Get("dtype");
      }
    }
    if (dtype == nullptr || dtype->kind != Kind::kGlobal || dtype->module != "torch") {
      return Error(absl::StrCat("tensor '", fqn, "' has no torch dtype in its properties"));
    }
    auto d = DTypeFromName(dtype->name);
    if (!d.ok()) return Error(absl::StrCat("tensor '", fqn, "': unsupported dtype torch.", dtype->name));
    return *d;
  }

  absl::StatusOr<DcpTensor> Tensor(const std::string& fqn, const PickleValue* meta) const {
    const PickleValue* state = StateDict(meta);
    if (state == nullptr) return Error(absl::StrCat("tensor '", fqn, "' metadata has no fields"));
    DcpTensor t;
    t.fqn = fqn;
    ASSIGN_OR_RETURN(auto dtype, PropertiesDType(state->Get("properties"), fqn));
    t.dtype = dtype;
    ASSIGN_OR_RETURN(auto size, Shape(state->Get("size"), absl::StrCat("size of '", fqn, "'")));
    t.size = std::move(size);
    const PickleValue* chunks = state->Get("chunks");
    if (chunks == nullptr || chunks->kind != Kind::kList) {
      return Error(absl::StrCat("tensor '", fqn, "' has no chunk list"));
    }
    for (const PickleValue* c : chunks->items) {
      const PickleValue* cs = StateDict(c);
      if (cs == nullptr) return Error(absl::StrCat("tensor '", fqn, "': chunk is ", DescribePickleValue(c)));
      ASSIGN_OR_RETURN(auto offsets, Shape(cs->Get("offsets"), absl::StrCat("chunk offsets of '", fqn, "'")));
      ASSIGN_OR_RETURN(auto sizes, Shape(cs->Get("sizes"), absl::StrCat("chunk sizes of '", fqn, "'")));
      t.chunks.push_back(DcpChunk{std::move(offsets), std::move(sizes)});
    }
    return t;
  }

  absl::StatusOr<DcpMetadata> Run(const PickleValue* root) const {
    const PickleValue* state = StateDict(root);
    if (root == nullptr || root->ClassName() != "Metadata" || state == nullptr) {
      return Error(absl::StrCat("top-level object is ", DescribePickleValue(root), ", not a Metadata"));
    }
    const PickleValue* sdm = state->Get("state_dict_metadata");
    const PickleValue* sd = state->Get("storage_data");
    if (sdm == nullptr || sdm->kind != Kind::kDict) return Error("no state_dict_metadata dict");
    if (sd == nullptr || sd->kind != Kind::kDict) return Error("no storage_data dict");

    DcpMetadata out;
    for (const auto& [k, v] : sdm->entries) {
      if (!k->IsString()) return Error(absl::StrCat("state_dict_metadata key is ", DescribePickleValue(k)));
      if (v->ClassName() == "BytesStorageMetadata") {
        out.byte_items.push_back(k->text);
        continue;
      }
      if (v->ClassName() != "TensorStorageMetadata") {
        return Error(absl::StrCat("entry '", k->text, "' is ", DescribePickleValue(v)));
      }
      ASSIGN_OR_RETURN(auto t, Tensor(k->text, v));
      out.tensors.push_back(std::move(t));
    }
    for (const auto& [k, v] : sd->entries) {
      const PickleValue* index = StateDict(k);
      const PickleValue* info = StateDict(v);
      if (k->ClassName() != "MetadataIndex" || index == nullptr || info == nullptr) {
        return Error(absl::StrCat("storage_data entry ", DescribePickleValue(k), " -> ", DescribePickleValue(v)));
      }
      const PickleValue* fqn = index->Get("fqn");
      if (fqn == nullptr || !fqn->IsString()) return Error("MetadataIndex without an fqn");
      std::vector<int64_t> offsets;  // absent for byte items
      if (const PickleValue* o = index->Get("offset"); o != nullptr && o->kind != Kind::kNone) {
        ASSIGN_OR_RETURN(auto s, Shape(o, absl::StrCat("storage offset of '", fqn->text, "'")));
        offsets = std::move(s);
      }
      const PickleValue* path = info->Get("relative_path");
      const PickleValue* offset = info->Get("offset");
      const PickleValue* length = info->Get("length");
      if (path == nullptr || !path->IsString() || offset == nullptr || !offset->IsInt() ||
          offset->integer < 0 || length == nullptr || !length->IsInt() || length->integer < 0) {
        return Error(absl::StrCat("storage info of '", fqn->text, "' lacks relative_path/offset/length"));
      }
      out.locations[{fqn->text, std::move(offsets)}] =
          DcpItemLocation{path->text, static_cast<uint64_t>(offset->integer),
                          static_cast<uint64_t>(length->integer)};
    }
    return out;
  }

 private:
  const std::string& where_;
};

}  // namespace

absl::StatusOr<DcpMetadata> ParseDcpMetadata(std::span<const std::byte> bytes, const std::string& where) {
  ASSIGN_OR_RETURN(auto doc, Unpickle(bytes, where));
  return Interpreter(where).Run(doc.root);
}

}  // namespace evo2::io
