#include "common/tables/binary/avro_datum_check.h"

#include <algorithm>
#include <climits>
#include <unordered_map>
#include <utility>

namespace aimass::tables::binary {

enum class Kind {
  kNull,
  kBoolean,
  kInt,
  kLong,
  kFloat,
  kDouble,
  kBytes,
  kString,
  kFixed,
  kEnum,
  kArray,
  kMap,
  kRecord,
  kUnion,
};

struct AvroDatumChecker::Node {
  Kind kind = Kind::kNull;
  int64_t size = 0;                      // fixed: its bytes; enum: its symbols
  std::vector<const Node*> children;     // array items, map values, record fields, union branches
  std::vector<std::string> field_names;  // records
  // The fewest bytes a value of this type encodes in (a lower bound; saturates at kMaxMin).
  uint64_t min_bytes = 0;
};

namespace {

using Node = AvroDatumChecker::Node;

constexpr uint64_t kMaxMin = uint64_t{1} << 32;

class Compiler {
 public:
  explicit Compiler(std::vector<std::unique_ptr<Node>>* nodes) : nodes_(nodes) {}

  const Node* Compile(avro_schema_t schema, int depth) {
    if (schema == nullptr) return Fail("a missing type");
    if (depth > kMaxAvroNesting) {
      return Fail("types nested deeper than " + std::to_string(kMaxAvroNesting) + " levels");
    }
    if (is_avro_link(schema)) return Compile(avro_schema_link_target(schema), depth);
    if (auto named = named_.find(schema); named != named_.end()) return named->second;
    Node* node = New();
    switch (avro_typeof(schema)) {
      case AVRO_NULL:
        node->kind = Kind::kNull;
        break;
      case AVRO_BOOLEAN:
        node->kind = Kind::kBoolean;
        break;
      case AVRO_INT32:
        node->kind = Kind::kInt;
        break;
      case AVRO_INT64:
        node->kind = Kind::kLong;
        break;
      case AVRO_FLOAT:
        node->kind = Kind::kFloat;
        break;
      case AVRO_DOUBLE:
        node->kind = Kind::kDouble;
        break;
      case AVRO_BYTES:
        node->kind = Kind::kBytes;
        break;
      case AVRO_STRING:
        node->kind = Kind::kString;
        break;
      case AVRO_FIXED:
        node->kind = Kind::kFixed;
        node->size = avro_schema_fixed_size(schema);
        if (node->size < 0) return Fail("a fixed of negative size");
        named_[schema] = node;
        break;
      case AVRO_ENUM:
        node->kind = Kind::kEnum;
        node->size = avro_schema_enum_number_of_symbols(schema);
        named_[schema] = node;
        break;
      case AVRO_ARRAY:
        node->kind = Kind::kArray;
        node->children.push_back(Compile(avro_schema_array_items(schema), depth + 1));
        break;
      case AVRO_MAP:
        node->kind = Kind::kMap;
        node->children.push_back(Compile(avro_schema_map_values(schema), depth + 1));
        break;
      case AVRO_UNION:
        node->kind = Kind::kUnion;
        for (size_t i = 0; i < avro_schema_union_size(schema) && failed_.empty(); ++i) {
          node->children.push_back(
              Compile(avro_schema_union_branch(schema, static_cast<int>(i)), depth + 1));
        }
        break;
      case AVRO_RECORD:
        node->kind = Kind::kRecord;
        named_[schema] = node;  // before the fields: they may refer back to it
        for (size_t i = 0; i < avro_schema_record_size(schema) && failed_.empty(); ++i) {
          const int index = static_cast<int>(i);
          const char* name = avro_schema_record_field_name(schema, index);
          node->field_names.emplace_back(name != nullptr ? name : "");
          node->children.push_back(
              Compile(avro_schema_record_field_get_by_index(schema, index), depth + 1));
        }
        break;
      default:
        return Fail("a type libavro's schema parser should not produce");
    }
    return failed_.empty() ? node : nullptr;
  }

  const std::string& failed() const { return failed_; }

 private:
  Node* New() {
    nodes_->push_back(std::make_unique<Node>());
    return nodes_->back().get();
  }
  const Node* Fail(std::string why) {
    if (failed_.empty()) failed_ = std::move(why);
    return nullptr;
  }

  std::vector<std::unique_ptr<Node>>* nodes_;
  std::unordered_map<avro_schema_t, Node*> named_;
  std::string failed_;
};

uint64_t SaturatingAdd(uint64_t a, uint64_t b) { return std::min(kMaxMin, a + b); }

// Fills in min_bytes. Unions, arrays and maps count their first byte only, so records depend on
// records alone: they start at kMaxMin (a record that contains itself other than through a union,
// array or map has no finite encoding) and are lowered to their fields' sum until nothing changes.
void ComputeMinBytes(const std::vector<std::unique_ptr<Node>>& nodes) {
  auto own = [](const Node& node) -> uint64_t {
    switch (node.kind) {
      case Kind::kNull:
        return 0;
      case Kind::kFloat:
        return 4;
      case Kind::kDouble:
        return 8;
      case Kind::kFixed:
        return std::min<uint64_t>(kMaxMin, static_cast<uint64_t>(node.size));
      case Kind::kRecord: {
        uint64_t sum = 0;
        for (const Node* field : node.children) sum = SaturatingAdd(sum, field->min_bytes);
        return sum;
      }
      default:
        return 1;  // a length, count, index, varint or boolean byte
    }
  };
  for (const auto& node : nodes) node->min_bytes = node->kind == Kind::kRecord ? kMaxMin : own(*node);
  // Each pass only lowers record minimums, from a finite start: it ends.
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& node : nodes) {
      if (node->kind != Kind::kRecord) continue;
      const uint64_t value = own(*node);
      if (value < node->min_bytes) {
        node->min_bytes = value;
        changed = true;
      }
    }
  }
}

class Walker {
 public:
  Walker(const uint8_t* begin, const uint8_t* end) : p_(begin), end_(end) {}

  bool Walk(const Node& node, int depth) {
    switch (node.kind) {
      case Kind::kNull:
        return true;
      case Kind::kBoolean:
        return Take(1, "boolean");
      case Kind::kFloat:
        return Take(4, "float");
      case Kind::kDouble:
        return Take(8, "double");
      case Kind::kLong: {
        int64_t ignored = 0;
        return ReadLong(&ignored, "long");
      }
      case Kind::kInt: {
        int64_t value = 0;
        if (!ReadLong(&value, "int")) return false;
        if (value < INT32_MIN || value > INT32_MAX) {
          return Fail("int value " + std::to_string(value) + " does not fit 32 bits");
        }
        return true;
      }
      case Kind::kBytes:
        return Length("bytes");
      case Kind::kString:
        return Length("string");
      case Kind::kFixed:
        return Take(static_cast<uint64_t>(node.size), "fixed");
      case Kind::kEnum: {
        int64_t index = 0;
        if (!ReadLong(&index, "enum index")) return false;
        if (index < 0 || index >= node.size) {
          return Fail("enum index " + std::to_string(index) + " is not one of its " +
                      std::to_string(node.size) + " symbols");
        }
        return true;
      }
      case Kind::kUnion: {
        int64_t index = 0;
        if (!ReadLong(&index, "union index")) return false;
        if (index < 0 || static_cast<uint64_t>(index) >= node.children.size()) {
          return Fail("union index " + std::to_string(index) + " is not one of its " +
                      std::to_string(node.children.size()) + " branches");
        }
        return Nested(*node.children[static_cast<size_t>(index)], depth);
      }
      case Kind::kRecord:
        for (size_t i = 0; i < node.children.size(); ++i) {
          if (!Nested(*node.children[i], depth)) {
            Within(node.field_names[i]);
            return false;
          }
        }
        return true;
      case Kind::kArray:
      case Kind::kMap:
        return Blocks(node, depth);
    }
    return Fail("an unknown type");
  }

  const uint8_t* at() const { return p_; }
  // "field 'a.b[3]': what", or "what" for the datum itself.
  std::string Error() const { return path_.empty() ? error_ : "field '" + path_ + "': " + error_; }

 private:
  bool Nested(const Node& node, int depth) {
    if (depth >= kMaxAvroNesting) {
      return Fail("data nested deeper than " + std::to_string(kMaxAvroNesting) + " levels");
    }
    return Walk(node, depth + 1);
  }

  // An array's or a map's blocks: a count (negative: its absolute value, then the block's byte
  // size), that many items (a map's prefixed with a string key), until a count of 0.
  bool Blocks(const Node& node, int depth) {
    const bool map = node.kind == Kind::kMap;
    const char* what = map ? "map" : "array";
    const Node& items = *node.children[0];
    // A map entry takes at least a key length.
    const uint64_t min_item = std::max<uint64_t>(items.min_bytes + (map ? 1 : 0), 1);
    uint64_t index = 0;
    for (;;) {
      int64_t count = 0;
      if (!ReadLong(&count, map ? "map block count" : "array block count")) return false;
      if (count == 0) return true;
      if (count < 0) {
        if (count == INT64_MIN) {
          return Fail(std::string(what) + " block count " + std::to_string(count) +
                      " is out of range");
        }
        count = -count;
        int64_t bytes = 0;
        if (!ReadLong(&bytes, map ? "map block size" : "array block size")) return false;
        if (bytes < 0) {
          return Fail(std::string(what) + " block size " + std::to_string(bytes) +
                      " is negative");
        }
        if (static_cast<uint64_t>(bytes) > Left()) {
          return Fail(std::string(what) + " block size " + std::to_string(bytes) + PastEnd());
        }
      }
      if (items.min_bytes == 0 && !map) {
        return Fail("an array whose elements encode in zero bytes");  // refused with the schema
      }
      if (static_cast<uint64_t>(count) > Left() / min_item) {
        return Fail(std::string(what) + " block count " + std::to_string(count) + " needs more " +
                    "than the " + std::to_string(Left()) + " bytes left in the block");
      }
      for (int64_t i = 0; i < count; ++i, ++index) {
        if ((map && !Length("map key")) || !Nested(items, depth)) {
          Within("[" + std::to_string(index) + "]");
          return false;
        }
      }
    }
  }

  uint64_t Left() const { return static_cast<uint64_t>(end_ - p_); }
  std::string PastEnd() const {
    return " runs past the end of the block (" + std::to_string(Left()) + " bytes left)";
  }

  bool Take(uint64_t bytes, const char* what) {
    if (bytes > Left()) return Fail(std::string("a ") + what + " of " + std::to_string(bytes) +
                                    " bytes" + PastEnd());
    p_ += bytes;
    return true;
  }

  // A string's, bytes' or map key's length, then its bytes.
  bool Length(const char* what) {
    int64_t length = 0;
    if (!ReadLong(&length, what, " length")) return false;
    if (length < 0) {
      return Fail(std::string(what) + " length " + std::to_string(length) + " is negative");
    }
    if (static_cast<uint64_t>(length) > Left()) {
      return Fail(std::string(what) + " length " + std::to_string(length) + PastEnd());
    }
    p_ += length;
    return true;
  }

  // Avro's long: a zigzag varint of at most 10 bytes. Errors name it "the <what><suffix>".
  bool ReadLong(int64_t* value, const char* what, const char* suffix = "") {
    uint64_t raw = 0;
    for (int shift = 0;; shift += 7) {
      if (shift > 63) {
        return Fail(std::string("the ") + what + suffix + " is a varint longer than 10 bytes");
      }
      if (p_ == end_) return Fail(std::string("the ") + what + suffix + PastEnd());
      const uint8_t byte = *p_++;
      raw |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) break;
    }
    *value = static_cast<int64_t>(raw >> 1) ^ -static_cast<int64_t>(raw & 1);
    return true;
  }

  bool Fail(std::string what) {
    error_ = std::move(what);
    return false;
  }

  // Prefixes the path of the failed value with `segment` (a field name or "[3]"): "a.b[3].c".
  // A path through deeply nested data keeps its two ends.
  void Within(const std::string& segment) {
    path_ = path_.empty() || path_[0] == '[' ? segment + path_ : segment + "." + path_;
    if (path_.size() > 240) path_ = path_.substr(0, 120) + "..." + path_.substr(path_.size() - 80);
  }

  const uint8_t* p_;
  const uint8_t* const end_;
  std::string error_;
  std::string path_;
};

}  // namespace

AvroDatumChecker::AvroDatumChecker() = default;
AvroDatumChecker::~AvroDatumChecker() = default;

std::unique_ptr<AvroDatumChecker> AvroDatumChecker::Compile(avro_schema_t schema,
                                                            std::string* error) {
  std::unique_ptr<AvroDatumChecker> checker(new AvroDatumChecker());
  Compiler compiler(&checker->nodes_);
  checker->root_ = compiler.Compile(schema, 0);
  if (checker->root_ == nullptr) {
    *error = compiler.failed();
    return nullptr;
  }
  ComputeMinBytes(checker->nodes_);
  return checker;
}

uint64_t AvroDatumChecker::min_bytes() const { return root_->min_bytes; }

bool AvroDatumChecker::Check(const char* data, size_t size, size_t* length,
                             std::string* error) const {
  const auto* begin = reinterpret_cast<const uint8_t*>(data);
  Walker walker(begin, begin + size);
  if (!walker.Walk(*root_, 0)) {
    *error = walker.Error();
    return false;
  }
  *length = static_cast<size_t>(walker.at() - begin);
  return true;
}

}  // namespace aimass::tables::binary
