// Unit tests of the strict unpickler on hand-written streams (opcodes from pickletools).
#include "io/pickle.h"

#include <gtest/gtest.h>

#include <string>

using namespace std::string_literals;

namespace evo2::io {
namespace {

absl::StatusOr<PickleDocument> Load(const std::string& s) {
  return Unpickle(std::as_bytes(std::span<const char>(s.data(), s.size())), "test.pkl");
}

TEST(Pickle, TorchStyleDict) {
  // {'a': _rebuild_tensor_v2(pid(('storage', torch.FloatStorage, '0', 'cpu', 6)), 0, (2, 3), (3, 1))}
  std::string s = "\x80\x02}q\x00(X"s + "\x01\x00\x00\x00" "a" "ctorch._utils\n_rebuild_tensor_v2\nq\x01"
                  "((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0"
                  "X\x03\x00\x00\x00" "cpuK\x06tQK\x00K\x02K\x03\x86K\x03K\x01\x86\x89tRu."s;
  auto doc = Load(s);
  ASSERT_TRUE(doc.ok()) << doc.status();
  const PickleValue* root = doc->root;
  ASSERT_EQ(root->kind, PickleValue::Kind::kDict);
  ASSERT_EQ(root->entries.size(), 1u);
  const PickleValue* t = root->Get("a");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->ClassName(), "_rebuild_tensor_v2");
  ASSERT_EQ(t->args->items.size(), 5u);
  EXPECT_EQ(t->args->items[0]->kind, PickleValue::Kind::kPersistentId);
  EXPECT_EQ(t->args->items[0]->args->items[1]->name, "FloatStorage");
  EXPECT_EQ(t->args->items[2]->items[1]->integer, 3);
}

TEST(Pickle, Scalars) {
  // (BININT -5, LONG1 2**40, BINFLOAT 1.5, True, None, SHORT_BINUNICODE 'hi', SHORT_BINBYTES b'\x01')
  std::string s = std::string("\x80\x04(J\xfb\xff\xff\xff\x8a\x06\x00\x00\x00\x00\x00\x01G\x3f\xf8", 19) +
                  std::string(6, '\0') + "\x88N\x8c\x02hiC\x01\x01t.";
  auto doc = Load(s);
  ASSERT_TRUE(doc.ok()) << doc.status();
  const auto& it = doc->root->items;
  ASSERT_EQ(it.size(), 7u);
  EXPECT_EQ(it[0]->integer, -5);
  EXPECT_EQ(it[1]->integer, int64_t{1} << 40);
  EXPECT_EQ(it[2]->real, 1.5);
  EXPECT_TRUE(it[3]->boolean);
  EXPECT_EQ(it[4]->kind, PickleValue::Kind::kNone);
  EXPECT_EQ(it[5]->text, "hi");
  EXPECT_EQ(it[6]->kind, PickleValue::Kind::kBytes);
}

TEST(Pickle, StackGlobalNewObjBuildMemoize) {
  // Protocol-4 dataclass: STACK_GLOBAL('m', 'C') EMPTY_TUPLE NEWOBJ {'x': 1} BUILD
  std::string s = "\x80\x04\x95\x20\x00\x00\x00\x00\x00\x00\x00\x8c\x01m\x94\x8c\x01" "C\x94\x93\x94)\x81\x94}\x94\x8c\x01xK\x01sb."s;
  auto doc = Load(s);
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->root->ClassName(), "C");
  ASSERT_NE(doc->root->state, nullptr);
  EXPECT_EQ(doc->root->state->Get("x")->integer, 1);
}

TEST(Pickle, MalformedStreamsAreErrors) {
  const std::string cases[] = {
      ""s,                       // empty
      "\x80\x02"s,               // no STOP
      "\x80\x02."s,              // STOP on an empty stack
      "\x80\x02h\x05."s,         // BINGET of an unset memo slot
      "\x80\x02t."s,             // TUPLE without MARK
      "\x80\x02K\x01R."s,        // REDUCE underflow
      "\x80\x02K\x01)R."s,       // REDUCE of a non-global
      "\x80\x02X\xff\xff\xff\x7f" "abc."s,  // string length past the end
      "\x80\x09N."s,             // unknown protocol
      "\x80\x02\xff."s,          // unknown opcode
      "\x80\x02(K\x01s."s,       // SETITEM underflow past a MARK
      "\x80\x02cmod"s,           // unterminated GLOBAL
      "\x80\x02K\x01K\x02" "b."s,  // BUILD on an int
      "\x80\x02]K\x01K\x02s."s,  // SETITEM on a list
      "\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01."s,  // LONG1 beyond 64 bits
  };
  for (const std::string& s : cases) {
    auto doc = Load(s);
    EXPECT_FALSE(doc.ok()) << "accepted: " << ::testing::PrintToString(s);
    if (!doc.ok()) {
      EXPECT_NE(doc.status().message().find("test.pkl"), std::string::npos);
    }
  }
}

TEST(Pickle, SelfReferenceDoesNotLeakOrLoop) {
  // l = []; l.append(l)  -> EMPTY_LIST BINPUT 0 BINGET 0 APPEND STOP
  auto doc = Load("\x80\x02]q\x00h\x00" "a."s);
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->root->items[0], doc->root);  // a cycle, owned by the arena
}

}  // namespace
}  // namespace evo2::io
