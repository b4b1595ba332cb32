// TFRecord files of tf.train.Example, as TensorFlow, tf.data and Spark's spark-tfrecord write
// them; read whole (a split covers its whole file), through io::OpenDecompressedStream, so
// `part-00000.tfrecord.gz` works too.
//
// Framing of every record: uint64 length (little-endian), uint32 masked CRC-32C of those 8
// bytes, `length` bytes of data, uint32 masked CRC-32C of the data. Records are numbered from 0
// in file order.
//  - a length whose CRC does not match, or a file that ends inside a record, is an error (the
//    framing is lost: nothing after it can be trusted); it names the file and the byte offset
//    of the record in the decompressed stream;
//  - a record whose data CRC does not match, or whose data is not a tf.train.Example, is a
//    BadRecord at "<relative_path>:record 7" with the record's bytes as `raw`.
//
// Fields of an Example:
//  - id_column names a feature whose first value is the id: bytes_list (the bytes as they are)
//    or int64_list (in decimal). Empty id_column: the id is "<relative_path>:<record index>".
//  - every feature column contributes all values of its float_list or int64_list (as floats),
//    in the order of TableOptions::feature_columns; a feature with no kind set contributes
//    none. A bytes_list feature column is a BadRecord.
//  - a name the Example lacks may be a partition key of the file (`dt=...`): its value is the
//    id, or one feature value (it must then be a number).
//  - a missing feature, an id feature with no value, or a total number of values other than a
//    nonzero TableOptions::feature_count is a BadRecord.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/status.h"
#include "common/tables/record_reader.h"
#include "common/tables/table.h"

namespace aimass::tables {

Result<std::unique_ptr<RecordReader>> OpenTfRecordReader(const InputFile& file,
                                                         const Split& split,
                                                         const TableOptions& options);

// CRC-32C (Castagnoli) of `size` bytes, as TFRecord framing uses it: Crc32c("123456789") is
// 0xE3069283.
uint32_t Crc32c(const void* data, size_t size);

// TFRecord's masked form of a CRC-32C: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t MaskedCrc32c(const void* data, size_t size);

}  // namespace aimass::tables
