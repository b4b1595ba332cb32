// IDX files (the format of MNIST and Fashion-MNIST): a magic number 0x0000TTNN (TT the value
// type: 0x08 unsigned byte, 0x09 signed byte, 0x0B int16, 0x0C int32, 0x0D float32,
// 0x0E float64; NN the number of dimensions), NN big-endian uint32 dimensions, then the values,
// big-endian, row-major. Read whole (a split covers its whole file) through
// io::OpenDecompressedStream, so `train-images-idx3-ubyte.gz` works.
//
// Every item of the first dimension is one record, numbered from 0: its features are all the
// item's values as floats (28x28 pixels: 784 values; a labels file, one dimension: one value).
// TableOptions::feature_columns does not apply and is ignored: an IDX file has no named fields.
//  - id_column empty: the id is "<relative_path>:<index>"; "index": the plain index ("7");
//    a partition key of the file: its value. Any other id_column is an error.
//  - a nonzero TableOptions::feature_count other than the item's number of values makes every
//    record a BadRecord at "<relative_path>:record 7", with the item's bytes as `raw`.
//  - a bad magic number or dimensions, a file that ends before its last item, or data after it,
//    is an error naming the file.
#pragma once

#include <memory>

#include "common/status.h"
#include "common/tables/record_reader.h"
#include "common/tables/table.h"

namespace aimass::tables {

Result<std::unique_ptr<RecordReader>> OpenIdxReader(const InputFile& file, const Split& split,
                                                    const TableOptions& options);

}  // namespace aimass::tables
