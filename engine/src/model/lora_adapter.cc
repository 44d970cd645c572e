#include "model/lora_adapter.h"

#include <cblas.h>

#include <cstring>
#include <fstream>
#include <span>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "evo2/safetensors.h"
#include "evo2/status_macros.h"
#include "io/dcp_metadata.h"
#include "io/dcp_reader.h"
#include "io/mapped_file.h"
#include "io/nemo2_names.h"

namespace evo2 {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr absl::string_view kIn = ".adapter.linear_in.weight";
constexpr absl::string_view kOut = ".adapter.linear_out.weight";
// The linear layers whose merge this engine knows (the NeMo names after `decoder.layers.<i>.`):
// every target of NeMo's LoRA and of the Evo 2 LoRA recipe.
constexpr absl::string_view kMergeable[] = {"mixer.dense_projection", "mixer.dense",
                                           "self_attention.linear_qkv", "self_attention.linear_proj",
                                           "mlp.linear_fc1", "mlp.linear_fc2"};

struct LoraSettings {
  std::optional<double> alpha;
  std::optional<int64_t> dim;
};

absl::Status BadAdapter(const fs::path& where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("LoRA adapter ", where.string(), ": ", std::string(what)));
}

// The LoRA transform in a fiddle-serialised TrainerContext (`context/io.json`): a `Config`
// object whose traverser metadata names a class `...LoRA` (nemo.collections.llm.peft.lora.LoRA,
// bionemo's Evo2LoRA); its items are the arguments set explicitly. CanonicalLoRA (separate
// q/k/v adapters) and DoRA compute something else and are refused.
absl::StatusOr<LoraSettings> ReadIoJsonSettings(const fs::path& io_json) {
  std::ifstream in(io_json);
  json doc = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("objects") || !doc["objects"].is_object()) {
    return BadAdapter(io_json, "not a fiddle-serialised context (no 'objects')");
  }
  const json& objects = doc["objects"];
  auto class_of = [&](const json& obj) -> std::string {
    if (!obj.is_object() || !obj.contains("metadata")) return "";
    const json& m = obj["metadata"];
    if (!m.is_object() || m.value("type", "") != "ref" || !m.contains("key")) return "";
    const auto it = objects.find(m["key"].get<std::string>());
    if (it == objects.end() || !it->contains("items") || !(*it)["items"].is_array()) return "";
    for (const json& item : (*it)["items"]) {
      if (item.is_array() && item.size() == 2 && item[0] == "Attr(name='fn_or_cls')" && item[1].is_object()) {
        return item[1].value("name", "");
      }
    }
    return "";
  };
  std::optional<LoraSettings> found;
  for (const auto& [key, obj] : objects.items()) {
    const std::string cls = class_of(obj);
    if (cls.empty()) continue;
    if (cls == "CanonicalLoRA" || cls == "DoRA" || cls == "DoRALinear") {
      return absl::UnimplementedError(absl::StrCat("LoRA adapter ", io_json.string(), ": the transform is ", cls,
                                                   "; only (Evo2)LoRA adapters on fused linears can be merged"));
    }
    if (!absl::EndsWith(cls, "LoRA")) continue;
    LoraSettings s;
    for (const json& item : obj["items"]) {
      if (!item.is_array() || item.size() != 2 || !item[0].is_string()) continue;
      const std::string attr = item[0].get<std::string>();
      if (attr == "Attr(name='alpha')") {
        if (!item[1].is_number()) return BadAdapter(io_json, "LoRA alpha is not a number");
        s.alpha = item[1].get<double>();
      } else if (attr == "Attr(name='dim')") {
        if (!item[1].is_number_integer()) return BadAdapter(io_json, "LoRA dim is not an integer");
        s.dim = item[1].get<int64_t>();
      }
    }
    found = s;
  }
  if (!found) return BadAdapter(io_json, "no LoRA transform in the saved context");
  // NeMo's LoRA defaults for arguments the transform left unset.
  if (!found->alpha) found->alpha = 32;
  if (!found->dim) found->dim = 32;
  return *found;
}

// alpha/dim for a safetensors adapter: its header metadata, else adapter_config.json beside it
// (also accepting Hugging Face PEFT's spelling, lora_alpha / r).
absl::StatusOr<LoraSettings> ReadSafetensorsSettings(const fs::path& file,
                                                     const std::map<std::string, std::string>& metadata) {
  LoraSettings s;
  auto number = [&](absl::string_view key) -> std::optional<double> {
    auto it = metadata.find(std::string(key));
    double v = 0;
    if (it != metadata.end() && absl::SimpleAtod(it->second, &v)) return v;
    return std::nullopt;
  };
  if (auto a = number("alpha")) s.alpha = *a;
  if (auto d = number("dim")) s.dim = static_cast<int64_t>(*d);
  const fs::path config = file.parent_path() / "adapter_config.json";
  std::error_code ec;
  if (!s.alpha && fs::is_regular_file(config, ec)) {
    std::ifstream in(config);
    json doc = json::parse(in, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) return BadAdapter(config, "not a JSON object");
    for (const char* k : {"alpha", "lora_alpha"}) {
      if (doc.contains(k) && doc[k].is_number()) s.alpha = doc[k].get<double>();
    }
    for (const char* k : {"dim", "r"}) {
      if (doc.contains(k) && doc[k].is_number_integer()) s.dim = doc[k].get<int64_t>();
    }
  }
  if (!s.alpha) {
    return BadAdapter(file, "no LoRA alpha: put `alpha` in the safetensors metadata or an adapter_config.json beside it");
  }
  return s;
}

absl::StatusOr<LoraAdapter> Pair(const fs::path& source, const NamedTensors& tensors, const LoraSettings& settings) {
  struct Halves {
    std::optional<std::pair<std::string, Tensor>> in, out;
  };
  std::map<std::string, Halves> by_prefix;
  for (const auto& [raw, t] : tensors) {
    absl::string_view name = raw;
    if (absl::EndsWith(name, "_extra_state")) continue;
    if (absl::StartsWith(name, "module.")) name.remove_prefix(7);
    if (absl::EndsWith(name, kIn)) {
      by_prefix[std::string(name.substr(0, name.size() - kIn.size()))].in.emplace(raw, t);
    } else if (absl::EndsWith(name, kOut)) {
      by_prefix[std::string(name.substr(0, name.size() - kOut.size()))].out.emplace(raw, t);
    } else {
      return BadAdapter(source, absl::StrCat("tensor '", raw, "' is not a LoRA adapter weight (expected names ending in ",
                                             kIn, " or ", kOut, ")"));
    }
  }
  if (by_prefix.empty()) return BadAdapter(source, "holds no adapter tensors");
  LoraAdapter adapter;
  adapter.source = source;
  adapter.alpha = *settings.alpha;
  for (auto& [prefix, h] : by_prefix) {
    if (!h.in || !h.out) {
      const auto& have = h.in ? *h.in : *h.out;
      return BadAdapter(source, absl::StrCat("tensor '", have.first, "' has no matching ", h.in ? kOut : kIn));
    }
    const Tensor& a = h.in->second;
    const Tensor& b = h.out->second;
    if (a.rank() != 2 || b.rank() != 2 || b.dim(1) != a.dim(0) || a.dim(0) == 0) {
      return BadAdapter(source, absl::StrCat("'", h.in->first, "' is ", a.DebugString(), " and '", h.out->first, "' is ",
                                             b.DebugString(), "; expected [r, in] and [out, r]"));
    }
    if (adapter.rank == 0) adapter.rank = a.dim(0);
    if (a.dim(0) != adapter.rank || (settings.dim && *settings.dim != a.dim(0))) {
      return BadAdapter(source, absl::StrCat("'", h.in->first, "' has rank ", a.dim(0), " but the adapter's dim is ",
                                             settings.dim.value_or(adapter.rank)));
    }
    adapter.pairs.push_back(LoraPair{h.in->first, h.out->first, prefix + ".weight", a, b});
  }
  return adapter;
}

absl::StatusOr<LoraAdapter> LoadNemo2Adapter(const fs::path& dir) {
  std::error_code ec;
  fs::path weights = dir / "weights";
  fs::path context = dir / "context";
  if (!fs::is_regular_file(weights / ".metadata", ec)) {
    weights = dir;
    context = dir.parent_path() / "context";
  }
  const fs::path metadata_path = weights / ".metadata";
  if (!fs::is_regular_file(metadata_path, ec)) {
    return absl::NotFoundError(absl::StrCat("LoRA adapter ", dir.string(),
                                            ": neither a NeMo2 checkpoint (weights/.metadata) nor a .safetensors file"));
  }
  if (!fs::is_regular_file(context / "io.json", ec)) {
    return BadAdapter(dir, absl::StrCat("no ", (context / "io.json").string(), " with the LoRA settings (alpha, dim)"));
  }
  ASSIGN_OR_RETURN(const LoraSettings settings, ReadIoJsonSettings(context / "io.json"));
  ASSIGN_OR_RETURN(auto file, io::MappedFile::Open(metadata_path));
  ASSIGN_OR_RETURN(auto metadata, io::ParseDcpMetadata(file->bytes(), metadata_path.string()));
  ASSIGN_OR_RETURN(auto tensors, io::ReadDcpTensors(weights, metadata, [](const std::string& fqn) {
                     return !absl::StartsWith(fqn, "optimizer.") && !absl::EndsWith(fqn, "_extra_state");
                   }));
  return Pair(dir, tensors, settings);
}

bool Mergeable(const std::string& target) {
  constexpr absl::string_view kLayers = "decoder.layers.";
  if (!absl::StartsWith(target, kLayers) || !absl::EndsWith(target, ".weight")) return false;
  absl::string_view rest = absl::string_view(target).substr(kLayers.size());
  const size_t dot = rest.find('.');
  int layer = 0;
  if (dot == absl::string_view::npos || !absl::SimpleAtoi(rest.substr(0, dot), &layer)) return false;
  rest = rest.substr(dot + 1);
  rest.remove_suffix(absl::string_view(".weight").size());
  for (absl::string_view m : kMergeable) {
    if (rest == m) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<LoraAdapter> LoadLoraAdapter(const fs::path& path) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec) && path.extension() == ".safetensors") {
    ASSIGN_OR_RETURN(auto file, ReadSafetensors(path));
    ASSIGN_OR_RETURN(const LoraSettings settings, ReadSafetensorsSettings(path, file.metadata));
    return Pair(path, file.tensors, settings);
  }
  if (!fs::exists(path, ec)) return absl::NotFoundError(absl::StrCat("LoRA adapter ", path.string(), " does not exist"));
  return LoadNemo2Adapter(path);
}

absl::Status MergeLoraAdapter(const LoraAdapter& adapter, TensorMap& tensors) {
  for (const LoraPair& p : adapter.pairs) {
    if (!Mergeable(p.target)) {
      return absl::UnimplementedError(absl::StrCat(
          "LoRA adapter ", adapter.source.string(), ": tensor '", p.in_key, "' adapts '", p.target,
          "', which cannot be merged (adaptable linears: decoder.layers.<i>.{", absl::StrJoin(kMergeable, ","), "})"));
    }
    // delta [out, in] = scale·B·A in double (BLAS dgemm), so that W + delta is rounded to fp32
    // once: the merged weight is the exact update's nearest fp32 value, independent of how the
    // product is blocked (a 7B adapter on every linear is ~4e11 multiply-adds, seconds of dgemm).
    const int64_t out = p.b.dim(0), r = p.a.dim(0), in = p.a.dim(1);
    ASSIGN_OR_RETURN(const std::vector<float> bf, p.b.ToFloat32());
    ASSIGN_OR_RETURN(const std::vector<float> af, p.a.ToFloat32());
    const std::vector<double> b(bf.begin(), bf.end()), a(af.begin(), af.end());
    std::vector<double> delta(static_cast<size_t>(out * in), 0.0);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(out), static_cast<blasint>(in),
                static_cast<blasint>(r), adapter.scale(), b.data(), static_cast<blasint>(r), a.data(),
                static_cast<blasint>(in), 0.0, delta.data(), static_cast<blasint>(in));
    // The NeMo -> engine name mapping (fc1 splits into two engine weights), applied to the
    // delta as an fp64 tensor so that its values are not rounded on the way.
    ASSIGN_OR_RETURN(Tensor delta_tensor, Tensor::FromBytes(DType::kFloat64, {out, in}, std::as_bytes(std::span(delta))));
    ASSIGN_OR_RETURN(TensorMap mapped, io::MapNemo2ToVortex({{p.target, std::move(delta_tensor)}}, std::nullopt));
    for (const auto& [name, d] : mapped) {
      auto it = tensors.find(name);
      if (it == tensors.end()) {
        return absl::NotFoundError(absl::StrCat("LoRA adapter ", adapter.source.string(), ": tensor '", p.in_key,
                                                "' adapts '", p.target, "' (engine name '", name,
                                                "'), which the base checkpoint does not have"));
      }
      if (it->second.shape() != d.shape()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "LoRA adapter ", adapter.source.string(), ": tensors '", p.in_key, "' and '", p.out_key, "' give an update ",
            ShapeString(d.shape()), " for '", p.target, "', but the base weight '", name, "' is ",
            it->second.DebugString()));
      }
      ASSIGN_OR_RETURN(std::vector<float> w, it->second.ToFloat32());
      std::vector<double> dv(w.size());
      std::memcpy(dv.data(), d.bytes().data(), dv.size() * sizeof(double));
      for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(static_cast<double>(w[i]) + dv[i]);
      it->second = Tensor::FromFloat32(d.shape(), w);
    }
  }
  return absl::OkStatus();
}

}  // namespace evo2
