// Bounds for an Avro object container file, checked before libavro reads it.
//
// libavro trusts the lengths it reads: a block's byte size becomes a malloc before the block is
// read, a metadata value's length likewise, a snappy block's uncompressed length (a varint)
// becomes a buffer, and a deflate block is inflated into a buffer doubled until it fits. None of
// that can be checked through its API, so this walks the container first (header, metadata,
// then every block's count, size and sync marker, seeking over the data) and refuses:
//  - a metadata length or block size that is negative, past the end of the file or over the
//    record cap (TableOptions::max_record_bytes), and a block count that is negative or over it;
//  - a snappy block whose uncompressed length is over the cap;
//  - a deflate block that could inflate past the cap (one larger than cap / 1032, deflate's
//    largest ratio): it is inflated here, counting bytes only, and refused past the cap;
//  - a sync marker that does not match the header's;
//  - a header libavro would refuse (no magic, malformed metadata, a schema that does not parse,
//    an unknown codec): libavro 1.11 leaks the reader it was building on those paths.
// Errors name the file and byte offset. What stays libavro's: lengths inside a decoded block
// (bounded by the block, which is bounded by the cap; libavro's memory reader refuses lengths past
// the block's end) and lzma blocks, whose decoded size is not checked here.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "common/status.h"

namespace aimass::tables::binary {

// Walks the container in `file` (open for reading, at any position; left at an unspecified
// position). `name` prefixes errors. Reads the block headers and seeks over their data, so it
// costs little I/O for any file (deflate blocks larger than cap / 1032 are read in full).
Status CheckAvroContainer(std::FILE* file, const std::string& name, uint64_t max_record_bytes);

}  // namespace aimass::tables::binary
