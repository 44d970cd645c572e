// Emits protocol-2 pickle opcodes with CPython's memo numbering (every memoized object gets the
// next index), so that what we write matches what CPython's pickler writes for the same objects:
// torch.save's data.pkl (torch_pt_writer.cc) and torch.distributed.checkpoint's `.metadata`
// (dcp_writer.cc).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"

namespace evo2::io {

class PickleWriter {
 public:
  std::string& out() { return out_; }
  void Op(char c) { out_.push_back(c); }
  void Put() {
    if (memo_ < 256) {
      Op('q');
      out_.push_back(static_cast<char>(memo_));
    } else {
      Op('r');
      Le(memo_, 4);
    }
    ++memo_;
  }
  void Get(uint32_t index) {
    if (index < 256) {
      Op('h');
      out_.push_back(static_cast<char>(index));
    } else {
      Op('j');
      Le(index, 4);
    }
  }
  // A str: BINUNICODE + memo.
  void String(std::string_view s) {
    Op('X');
    Le(s.size(), 4);
    out_.append(s);
    Put();
  }
  // A string object that is the same Python object each time ('storage', 'cpu').
  void SharedString(std::string_view s) { Shared(absl::StrCat("s:", std::string(s)), [&] { String(s); }); }
  void Global(std::string_view module, std::string_view name) {
    Shared(absl::StrCat("g:", std::string(module), ".", std::string(name)), [&] {
      Op('c');
      out_.append(module);
      out_.push_back('\n');
      out_.append(name);
      out_.push_back('\n');
      Put();
    });
  }
  // pickle.save_long for protocol 2.
  void Int(int64_t v) {
    if (v >= 0 && v < 256) {
      Op('K');
      out_.push_back(static_cast<char>(v));
    } else if (v >= 0 && v < 65536) {
      Op('M');
      Le(static_cast<uint64_t>(v), 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      Op('J');
      Le(static_cast<uint64_t>(v), 4);
    } else {
      // LONG1 with CPython's encode_long: (bit_length >> 3) + 1 bytes, two's complement, with a
      // redundant 0xff sign byte dropped for negatives.
      const uint64_t u = static_cast<uint64_t>(v);
      const uint64_t mag = v < 0 ? static_cast<uint64_t>(-(v + 1)) + 1 : u;  // |v| >= 2^31 here
      const size_t n = static_cast<size_t>((64 - __builtin_clzll(mag)) >> 3) + 1;  // <= 9
      std::string b;
      for (size_t i = 0; i < n; ++i) {
        b.push_back(static_cast<char>(i < 8 ? (u >> (8 * i)) & 0xFF : (v < 0 ? 0xFF : 0x00)));
      }
      if (v < 0 && n > 1 && static_cast<uint8_t>(b[n - 1]) == 0xFF && (static_cast<uint8_t>(b[n - 2]) & 0x80)) {
        b.pop_back();
      }
      Op('\x8a');
      out_.push_back(static_cast<char>(b.size()));
      out_.append(b);
    }
  }
  // A tuple of ints (save_tuple: EMPTY_TUPLE unmemoized, TUPLE1-3, else MARK ... TUPLE).
  void IntTuple(const std::vector<int64_t>& v) {
    if (v.empty()) {
      Op(')');
      return;
    }
    if (v.size() > 3) Op('(');
    for (int64_t x : v) Int(x);
    Op(v.size() == 1 ? '\x85' : v.size() == 2 ? '\x86' : v.size() == 3 ? '\x87' : 't');
    Put();
  }
  // The rest of `_rebuild_tensor_v2(storage, 0, shape, stride, False, OrderedDict())` once its
  // GLOBAL, MARK and storage are written: a contiguous tensor's arguments, then the call.
  void FinishRebuildContiguousTensor(const std::vector<int64_t>& shape) {
    std::vector<int64_t> stride(shape.size(), 1);
    for (size_t d = shape.size(); d-- > 1;) stride[d - 1] = stride[d] * shape[d];
    Int(0);  // storage offset
    IntTuple(shape);
    IntTuple(stride);
    Op('\x89');  // requires_grad=False
    Global("collections", "OrderedDict");
    Op(')');
    Op('R');
    Put();
    Op('t');
    Put();
    Op('R');
    Put();
  }

 private:
  template <typename F>
  void Shared(const std::string& key, F emit) {
    auto it = shared_.find(key);
    if (it != shared_.end()) {
      Get(it->second);
      return;
    }
    shared_[key] = memo_;
    emit();
  }
  void Le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
  std::string out_;
  uint32_t memo_ = 0;
  std::map<std::string, uint32_t> shared_;
};

}  // namespace evo2::io
