// Avro object container files, as Hive's AvroSerDe, Spark and avro-tools write them; read whole
// (a split covers its whole file). The container is read here (avro_container.h: header, blocks,
// the block codecs null, deflate, snappy and lzma, every length checked against the file and
// TableOptions::max_record_bytes), each record's encoding is walked against the schema
// (avro_datum_check.h: every length, count and index inside the block), and only then the Avro C
// library (libavro, Debian's libavro-dev) decodes the record. A file compressed around the
// container (`part-0.avro.gz`) is rejected: Avro compresses inside.
//
// The file's schema must be a record. Records are numbered from 0 in file order.
//  - id_column names a field of type string, bytes, int or long (or a union of one of them
//    with null); empty id_column: the id is "<relative_path>:<record index>".
//  - every feature column is a field of type float, double, int, long or boolean, or an array
//    of them, contributing all its values as floats in the order of
//    TableOptions::feature_columns; unions of one such type with null are read through (Hive
//    writes ["null", T], Spark [T, "null"]).
//  - a name the schema lacks may be a partition key of the file: its value is the id, or one
//    feature value (it must then be a number).
//  - a null id or feature value, a field the schema lacks, a field of another type, or a total
//    number of values other than a nonzero TableOptions::feature_count is a BadRecord at
//    "<relative_path>:record 7"; its `raw` is the record as one line of Avro JSON (the binary
//    encoding of a record means nothing without the file's schema).
//  - a file that is not an Avro container, a corrupt or truncated block, or a record that does
//    not decode is an error naming the file (a Corruption); inside a block it also names the
//    record, the block's byte offset and the field ("part-0.avro: corrupt Avro file: record 1
//    (in the block at byte 183, 14 bytes into its data): field 'Id': string length -786432 is
//    negative").
#pragma once

#include <memory>

#include "common/status.h"
#include "common/tables/record_reader.h"
#include "common/tables/table.h"

namespace aimass::tables {

Result<std::unique_ptr<RecordReader>> OpenAvroReader(const InputFile& file, const Split& split,
                                                     const TableOptions& options);

}  // namespace aimass::tables
