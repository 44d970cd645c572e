// The values a strict unpickler produces (docs/spec/checkpoints.md §3): plain data, symbolic
// globals, and generic objects {callable, args, state}. Nothing is ever executed; readers
// interpret objects by the global's name (e.g. `torch._utils._rebuild_tensor_v2`).
//
// Values live in an arena owned by PickleDocument and refer to each other by raw pointer, so
// memo references and even cycles (a malformed stream can build them) cannot leak. Consumers
// must bound their recursion depth (kMaxPickleDepth).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace evo2::io {

inline constexpr int kMaxPickleDepth = 64;

struct PickleValue {
  enum class Kind : uint8_t {
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,  // text (unicode) — `text`
    kBytes,   // raw bytes — `text`
    kTuple,   // `items`
    kList,    // `items` (sets and frozensets too)
    kDict,    // `entries` in insertion order (keys may be any value)
    kGlobal,  // `module`, `name`
    kObject,  // `callable` applied to `args` (REDUCE/NEWOBJ), then `state` (BUILD);
              // SETITEMS/APPENDS on it fill `entries`/`items`
    kPersistentId,  // BINPERSID: `args` = the persistent id value
  };
  Kind kind = Kind::kNone;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string text;
  std::string module, name;
  std::vector<const PickleValue*> items;
  std::vector<std::pair<const PickleValue*, const PickleValue*>> entries;
  const PickleValue* callable = nullptr;
  const PickleValue* args = nullptr;
  const PickleValue* state = nullptr;

  bool IsString() const { return kind == Kind::kString; }
  bool IsInt() const { return kind == Kind::kInt; }
  bool IsTuple() const { return kind == Kind::kTuple; }
  // True for a global (or an object made by calling a global) named module.name.
  bool IsGlobal(std::string_view m, std::string_view n) const {
    return kind == Kind::kGlobal && module == m && name == n;
  }
  // The class/function name of an object (its callable's `name`), or "".
  std::string_view ClassName() const {
    return kind == Kind::kObject && callable != nullptr && callable->kind == Kind::kGlobal
               ? std::string_view(callable->name)
               : std::string_view();
  }
  // Dict or object entry by string key, or nullptr.
  const PickleValue* Get(std::string_view key) const {
    for (const auto& [k, v] : entries) {
      if (k != nullptr && k->kind == Kind::kString && k->text == key) return v;
    }
    return nullptr;
  }
};

// "a dict", "an int 5", "a global torch.Size" — for error messages.
std::string DescribePickleValue(const PickleValue* value);

struct PickleDocument {
  std::vector<std::unique_ptr<PickleValue>> arena;
  const PickleValue* root = nullptr;
  // Bytes consumed, up to and including STOP: where a following pickle of the same stream
  // starts (torch's legacy format writes several pickles back to back).
  size_t end = 0;
};

}  // namespace evo2::io
