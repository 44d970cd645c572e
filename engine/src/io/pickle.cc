#include "io/pickle.h"

#include <cstring>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "evo2/status_macros.h"

namespace evo2::io {
namespace {

using Kind = PickleValue::Kind;

// Opcodes (CPython Lib/pickletools.py).
enum Op : uint8_t {
  kMark = '(', kStop = '.', kPop = '0', kPopMark = '1', kDup = '2', kBinInt = 'J', kBinInt1 = 'K',
  kBinInt2 = 'M', kNone = 'N', kBinPersId = 'Q', kReduce = 'R', kBinString = 'T',
  kShortBinString = 'U', kBinUnicode = 'X', kAppend = 'a', kBuild = 'b', kGlobal = 'c',
  kDict = 'd', kEmptyDict = '}', kAppends = 'e', kBinGet = 'h', kLongBinGet = 'j', kList = 'l',
  kEmptyList = ']', kBinPut = 'q', kLongBinPut = 'r', kSetItem = 's', kTuple = 't',
  kEmptyTuple = ')', kSetItems = 'u', kBinFloat = 'G',
  kProto = 0x80, kNewObj = 0x81, kTuple1 = 0x85, kTuple2 = 0x86, kTuple3 = 0x87, kNewTrue = 0x88,
  kNewFalse = 0x89, kLong1 = 0x8a, kLong4 = 0x8b, kShortBinBytes = 'C', kBinBytes = 'B',
  kShortBinUnicode = 0x8c, kBinUnicode8 = 0x8d, kBinBytes8 = 0x8e, kEmptySet = 0x8f,
  kAddItems = 0x90, kFrozenSet = 0x91, kNewObjEx = 0x92, kStackGlobal = 0x93, kMemoize = 0x94,
  kFrame = 0x95,
};

constexpr size_t kMaxGlobalLine = 1024;

class Unpickler {
 public:
  Unpickler(std::span<const std::byte> bytes, const std::string& where)
      : in_(bytes), where_(where) {}

  absl::StatusOr<PickleDocument> Run() {
    while (true) {
      op_pos_ = pos_;
      if (pos_ >= in_.size()) return Error("stream ends without STOP (truncated?)");
      const uint8_t op = Byte(pos_++);
      if (op == kStop) {
        if (stack_.empty()) return Error("STOP with an empty stack");
        doc_.root = stack_.back();
        doc_.end = pos_;
        return std::move(doc_);
      }
      RETURN_IF_ERROR(Step(op));
    }
  }

 private:
  uint8_t Byte(size_t i) const { return static_cast<uint8_t>(in_[i]); }

  absl::Status Error(std::string_view what) const {
    return absl::DataLossError(absl::StrFormat("%s: bad pickle at byte %d (opcode 0x%02x): %s",
                                               where_, op_pos_,
                                               op_pos_ < in_.size() ? Byte(op_pos_) : 0,
                                               std::string(what)));
  }

  absl::StatusOr<uint64_t> ReadLe(int n) {
    if (in_.size() - pos_ < static_cast<size_t>(n)) return Error("truncated argument");
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | Byte(pos_ + i);
    pos_ += n;
    return v;
  }

  absl::StatusOr<std::string> ReadBytes(uint64_t n) {
    if (n > in_.size() - pos_) {
      return Error(absl::StrCat("length ", n, " runs past the end of the stream"));
    }
    std::string s(reinterpret_cast<const char*>(in_.data() + pos_), n);
    pos_ += n;
    return s;
  }

  absl::StatusOr<std::string> ReadLine() {
    for (size_t i = pos_; i < in_.size() && i - pos_ <= kMaxGlobalLine; ++i) {
      if (Byte(i) == '\n') {
        std::string s(reinterpret_cast<const char*>(in_.data() + pos_), i - pos_);
        pos_ = i + 1;
        return s;
      }
    }
    return Error("unterminated GLOBAL name");
  }

  PickleValue* New(Kind kind) {
    doc_.arena.push_back(std::make_unique<PickleValue>());
    doc_.arena.back()->kind = kind;
    return doc_.arena.back().get();
  }

  absl::StatusOr<PickleValue*> Pop() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) return Error("stack underflow");
    PickleValue* v = stack_.back();
    stack_.pop_back();
    return v;
  }

  // Pops everything above the topmost mark.
  absl::StatusOr<std::vector<PickleValue*>> PopMark() {
    if (marks_.empty()) return Error("no MARK on the stack");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PickleValue*> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }

  absl::StatusOr<PickleValue*> Top() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) return Error("stack underflow");
    return stack_.back();
  }

  absl::Status Push(PickleValue* v) {
    stack_.push_back(v);
    return absl::OkStatus();
  }

  absl::Status PushInt(int64_t v) {
    PickleValue* x = New(Kind::kInt);
    x->integer = v;
    return Push(x);
  }

  absl::Status PushText(Kind kind, absl::StatusOr<uint64_t> len) {
    RETURN_IF_ERROR(len.status());  // a failed read of the operand
    ASSIGN_OR_RETURN(auto s, ReadBytes(*len));
    PickleValue* x = New(kind);
    x->text = std::move(s);
    return Push(x);
  }

  absl::Status PushLong(absl::StatusOr<uint64_t> len) {
    RETURN_IF_ERROR(len.status());  // a failed read of the operand
    if (*len > in_.size() - pos_) return Error("LONG length runs past the end of the stream");
    const size_t n = static_cast<size_t>(*len);
    // Two's complement little-endian; must fit in int64 (bytes above 8 are pure sign extension).
    int64_t v = 0;
    if (n > 0) {
      const bool negative = (Byte(pos_ + n - 1) & 0x80) != 0;
      uint64_t u = negative ? ~uint64_t{0} : 0;
      for (size_t i = n; i-- > 0;) {
        if (i >= 8) {
          if (Byte(pos_ + i) != (negative ? 0xFF : 0x00)) return Error("integer does not fit in 64 bits");
          continue;
        }
        u = (u << 8) | Byte(pos_ + i);
      }
      if (n >= 8 && ((u >> 63) != 0) != negative) return Error("integer does not fit in 64 bits");
      std::memcpy(&v, &u, 8);
    }
    pos_ += n;
    return PushInt(v);
  }

  absl::Status Memo(uint64_t index) {
    ASSIGN_OR_RETURN(auto top, Top());
    memo_[index] = top;
    return absl::OkStatus();
  }

  absl::Status Get(absl::StatusOr<uint64_t> index) {
    RETURN_IF_ERROR(index.status());  // a failed read of the operand
    auto it = memo_.find(*index);
    if (it == memo_.end()) return Error(absl::StrCat("memo index ", *index, " was never stored"));
    return Push(it->second);
  }

  absl::Status MakeTuple(std::vector<PickleValue*> items) {
    PickleValue* t = New(Kind::kTuple);
    t->items.assign(items.begin(), items.end());
    return Push(t);
  }

  absl::Status SetItems(PickleValue* target, const std::vector<PickleValue*>& kv) {
    if (target->kind != Kind::kDict && target->kind != Kind::kObject) {
      return Error(absl::StrCat("SETITEM(S) on ", DescribePickleValue(target)));
    }
    if (kv.size() % 2 != 0) return Error("SETITEMS with an odd number of values");
    // Entries are kept in stream order, duplicates included; readers reject duplicate names.
    for (size_t i = 0; i < kv.size(); i += 2) target->entries.emplace_back(kv[i], kv[i + 1]);
    return absl::OkStatus();
  }

  absl::Status Append(PickleValue* target, const std::vector<PickleValue*>& items) {
    if (target->kind != Kind::kList && target->kind != Kind::kObject) {
      return Error(absl::StrCat("APPEND(S)/ADDITEMS on ", DescribePickleValue(target)));
    }
    target->items.insert(target->items.end(), items.begin(), items.end());
    return absl::OkStatus();
  }

  absl::Status Step(uint8_t op) {
    switch (op) {
      case kProto: {
        ASSIGN_OR_RETURN(auto v, ReadLe(1));
        if (v > 5) return Error(absl::StrCat("unsupported pickle protocol ", v));
        return absl::OkStatus();
      }
      case kFrame:  // framing only groups opcodes; the data continues inline
        return ReadLe(8).status();
      case kMark:
        marks_.push_back(stack_.size());
        return absl::OkStatus();
      case kPop:
        if (!marks_.empty() && marks_.back() == stack_.size()) {
          marks_.pop_back();  // POP of a bare MARK (CPython allows it)
          return absl::OkStatus();
        }
        return Pop().status();
      case kPopMark:
        return PopMark().status();
      case kDup: {
        ASSIGN_OR_RETURN(auto t, Top());
        return Push(t);
      }
      case kNone: return Push(New(Kind::kNone));
      case kNewTrue:
      case kNewFalse: {
        PickleValue* b = New(Kind::kBool);
        b->boolean = op == kNewTrue;
        return Push(b);
      }
      case kBinInt1: {
        auto v = ReadLe(1);
        return v.ok() ? PushInt(static_cast<int64_t>(*v)) : v.status();
      }
      case kBinInt2: {
        auto v = ReadLe(2);
        return v.ok() ? PushInt(static_cast<int64_t>(*v)) : v.status();
      }
      case kBinInt: {
        auto v = ReadLe(4);
        return v.ok() ? PushInt(static_cast<int32_t>(static_cast<uint32_t>(*v))) : v.status();
      }
      case kLong1: return PushLong(ReadLe(1));
      case kLong4: return PushLong(ReadLe(4));
      case kBinFloat: {
        if (in_.size() - pos_ < 8) return Error("truncated BINFLOAT");
        uint64_t u = 0;
        for (int i = 0; i < 8; ++i) u = (u << 8) | Byte(pos_ + i);  // big-endian
        pos_ += 8;
        PickleValue* f = New(Kind::kFloat);
        std::memcpy(&f->real, &u, 8);
        return Push(f);
      }
      case kShortBinUnicode: return PushText(Kind::kString, ReadLe(1));
      case kBinUnicode: return PushText(Kind::kString, ReadLe(4));
      case kBinUnicode8: return PushText(Kind::kString, ReadLe(8));
      case kShortBinString: return PushText(Kind::kString, ReadLe(1));
      case kBinString: {
        auto n = ReadLe(4);
        if (n.ok() && (*n & 0x80000000u)) return Error("negative BINSTRING length");
        return PushText(Kind::kString, n);
      }
      case kShortBinBytes: return PushText(Kind::kBytes, ReadLe(1));
      case kBinBytes: return PushText(Kind::kBytes, ReadLe(4));
      case kBinBytes8: return PushText(Kind::kBytes, ReadLe(8));
      case kEmptyTuple: return MakeTuple({});
      case kTuple1:
      case kTuple2:
      case kTuple3: {
        const size_t n = op - kTuple1 + 1;
        std::vector<PickleValue*> items(n);
        for (size_t i = n; i-- > 0;) {
          ASSIGN_OR_RETURN(auto v, Pop());
          items[i] = v;
        }
        return MakeTuple(std::move(items));
      }
      case kTuple: {
        auto items = PopMark();
        return items.ok() ? MakeTuple(*std::move(items)) : items.status();
      }
      case kEmptyList: return Push(New(Kind::kList));
      case kEmptySet: return Push(New(Kind::kList));
      case kEmptyDict: return Push(New(Kind::kDict));
      case kList:
      case kFrozenSet: {
        ASSIGN_OR_RETURN(auto items, PopMark());
        PickleValue* l = New(Kind::kList);
        l->items.assign(items.begin(), items.end());
        return Push(l);
      }
      case kDict: {
        ASSIGN_OR_RETURN(auto items, PopMark());
        PickleValue* d = New(Kind::kDict);
        RETURN_IF_ERROR(SetItems(d, items));
        return Push(d);
      }
      case kAppend: {
        ASSIGN_OR_RETURN(auto v, Pop());
        auto t = Top();
        return t.ok() ? Append(*t, {v}) : t.status();
      }
      case kAppends:
      case kAddItems: {
        ASSIGN_OR_RETURN(auto items, PopMark());
        auto t = Top();
        return t.ok() ? Append(*t, items) : t.status();
      }
      case kSetItem: {
        ASSIGN_OR_RETURN(auto v, Pop());
        ASSIGN_OR_RETURN(auto k, Pop());
        auto t = Top();
        return t.ok() ? SetItems(*t, {k, v}) : t.status();
      }
      case kSetItems: {
        ASSIGN_OR_RETURN(auto items, PopMark());
        auto t = Top();
        return t.ok() ? SetItems(*t, items) : t.status();
      }
      case kBinPut: {
        auto i = ReadLe(1);
        return i.ok() ? Memo(*i) : i.status();
      }
      case kLongBinPut: {
        auto i = ReadLe(4);
        return i.ok() ? Memo(*i) : i.status();
      }
      case kMemoize: return Memo(memo_.size());
      case kBinGet: return Get(ReadLe(1));
      case kLongBinGet: return Get(ReadLe(4));
      case kGlobal: {
        ASSIGN_OR_RETURN(auto module, ReadLine());
        ASSIGN_OR_RETURN(auto name, ReadLine());
        PickleValue* g = New(Kind::kGlobal);
        g->module = std::move(module);
        g->name = std::move(name);
        return Push(g);
      }
      case kStackGlobal: {
        ASSIGN_OR_RETURN(auto name, Pop());
        ASSIGN_OR_RETURN(auto module, Pop());
        if (name->kind != Kind::kString || module->kind != Kind::kString) {
          return Error("STACK_GLOBAL needs two strings");
        }
        PickleValue* g = New(Kind::kGlobal);
        g->module = module->text;
        g->name = name->text;
        return Push(g);
      }
      case kReduce:
      case kNewObj: {
        ASSIGN_OR_RETURN(auto args, Pop());
        ASSIGN_OR_RETURN(auto callable, Pop());
        if (args->kind != Kind::kTuple) return Error("REDUCE/NEWOBJ arguments are not a tuple");
        if (callable->kind != Kind::kGlobal) {
          return Error(absl::StrCat("REDUCE/NEWOBJ of ", DescribePickleValue(callable), ", not a global"));
        }
        PickleValue* o = New(Kind::kObject);
        o->callable = callable;
        o->args = args;
        return Push(o);
      }
      case kNewObjEx: {
        RETURN_IF_ERROR(Pop().status());  // kwargs: not used by the objects these files hold
        ASSIGN_OR_RETURN(auto args, Pop());
        ASSIGN_OR_RETURN(auto cls, Pop());
        if (args->kind != Kind::kTuple || cls->kind != Kind::kGlobal) {
          return Error("NEWOBJ_EX needs a global class and an argument tuple");
        }
        PickleValue* o = New(Kind::kObject);
        o->callable = cls;
        o->args = args;
        o->state = nullptr;
        return Push(o);
      }
      case kBuild: {
        ASSIGN_OR_RETURN(auto state, Pop());
        ASSIGN_OR_RETURN(auto t, Top());
        if (t->kind != Kind::kObject) return Error(absl::StrCat("BUILD on ", DescribePickleValue(t)));
        t->state = state;
        return absl::OkStatus();
      }
      case kBinPersId: {
        ASSIGN_OR_RETURN(auto pid, Pop());
        PickleValue* p = New(Kind::kPersistentId);
        p->args = pid;
        return Push(p);
      }
      default:
        return Error("unsupported opcode");
    }
  }

  std::span<const std::byte> in_;
  const std::string& where_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  PickleDocument doc_;
  std::vector<PickleValue*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleValue*> memo_;
};

}  // namespace

std::string DescribePickleValue(const PickleValue* v) {
  if (v == nullptr) return "nothing";
  switch (v->kind) {
    case Kind::kNone: return "None";
    case Kind::kBool: return v->boolean ? "True" : "False";
    case Kind::kInt: return absl::StrCat("the int ", v->integer);
    case Kind::kFloat: return absl::StrCat("the float ", v->real);
    case Kind::kString: return absl::StrCat("the string '", v->text.substr(0, 80), "'");
    case Kind::kBytes: return absl::StrCat(v->text.size(), " bytes");
    case Kind::kTuple: return absl::StrCat("a ", v->items.size(), "-tuple");
    case Kind::kList: return absl::StrCat("a list of ", v->items.size());
    case Kind::kDict: return absl::StrCat("a dict of ", v->entries.size());
    case Kind::kGlobal: return absl::StrCat("the global ", v->module, ".", v->name);
    case Kind::kObject:
      return absl::StrCat("an object of ",
                          v->callable ? absl::StrCat(v->callable->module, ".", v->callable->name) : "?");
    case Kind::kPersistentId: return "a persistent id";
  }
  return "?";
}

absl::StatusOr<PickleDocument> Unpickle(std::span<const std::byte> bytes, const std::string& where) {
  return Unpickler(bytes, where).Run();
}

}  // namespace evo2::io
