// Checks the binary encoding of one Avro datum against its writer schema before libavro decodes
// it. Internal to aimass_tables_binary.
//
// libavro (1.11) allocates the lengths it reads: a string or bytes length becomes a malloc before
// it is compared with the data left (a negative one a request of 2^64 - n bytes), a fixed's size
// likewise; it negates an array or map block count without a check (INT64_MIN stays negative),
// takes an enum index unchecked, and recurses as deep as the data nests. So the reader walks
// every record here first, over exactly the bytes of its block, and gives libavro only records
// that passed:
//  - every string, bytes and map key length is >= 0 and within the bytes left;
//  - every array and map block count is >= 0 after its sign is read (a negative count is
//    followed by a byte size, which must be >= 0 and within the bytes left), and no larger than
//    the bytes left allow (each element takes at least one byte: arrays of zero-byte elements are
//    refused with the schema, see avro_reader.cc);
//  - a union index names one of the union's branches, an enum index one of its symbols, an int
//    fits 32 bits, a varint ends within 10 bytes; fixed, float and double take their bytes;
//  - data nests at most kMaxAvroNesting levels (records, arrays, maps, unions).
// Errors say what was wrong and where in the record ("field 'Id': string length -786432 is
// negative"); the reader adds the file, the record and its block.
#pragma once

#include <avro.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace aimass::tables::binary {

inline constexpr int kMaxAvroNesting = 256;

class AvroDatumChecker {
 public:
  // Compiles `schema` (no reference is kept); null with `error` set when it nests deeper than
  // kMaxAvroNesting or holds a type libavro's schema parser should not have produced.
  static std::unique_ptr<AvroDatumChecker> Compile(avro_schema_t schema, std::string* error);

  // Walks the datum that starts at `data` and must end within `size` bytes. True with `*length`
  // set to its encoded length, or false with `error` set.
  bool Check(const char* data, size_t size, size_t* length, std::string* error) const;

  // The fewest bytes a datum of the schema encodes in (a lower bound).
  uint64_t min_bytes() const;

  struct Node;  // the compiled schema (internal)
  ~AvroDatumChecker();

 private:
  AvroDatumChecker();

  std::vector<std::unique_ptr<Node>> nodes_;  // a graph: recursive types point back
  const Node* root_ = nullptr;
};

}  // namespace aimass::tables::binary
