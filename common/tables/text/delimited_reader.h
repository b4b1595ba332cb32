// The record reader for delimited text: CSV (','), TSV ('\t') and Hive's default text format
// ('\x01' between fields, "\N" for NULL), one record per line, LF or CRLF.
//
// Column names: with TableOptions::header the first non-empty line of every file names the
// columns and is never a record (a split that starts past byte 0 reads the file's first line
// separately to learn them); without, they are TableOptions::columns, or Spark's `_c0, _c1, ...`
// when that is empty (then a record needs at least as many fields as the highest `_cN` named,
// instead of exactly as many as there are columns). The id and feature columns may also name a
// partition key of the file's path; a partition used as a feature must hold a number.
//
// Quoting: with ',' as delimiter, RFC 4180 double-quoted fields are understood ("a,b" is one
// field, "" inside quotes is one quote; so is \" as Spark and OpenCSV write it). A '"' inside an
// unquoted field is a bad record. A quoted field that spans lines is NOT supported: every line
// is one record, so both halves of such a field are bad records (an unterminated quoted field,
// then a quote inside an unquoted field). Hive's text formats have no quoting, so with any other
// delimiter '"' is an ordinary character.
//
// Bad records (kBad): a feature field that is empty, "\N" or not a number, a record with the
// wrong number of fields, a malformed quoted field. Errors from Open: a configured column that
// is neither a column nor a partition key, a non-numeric partition used as a feature, a
// feature_count that does not match the number of feature columns, an unreadable header.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/tables/record_reader.h"
#include "common/tables/table.h"

namespace aimass::tables {

Result<std::unique_ptr<RecordReader>> OpenDelimitedReader(const InputFile& file,
                                                          const Split& split,
                                                          const TableOptions& options);

// The column names in the first non-empty line of `file` (a header line), split as records are;
// empty when the file has no non-empty line. Lets a caller learn a table's columns up front.
// A header line over `max_line_bytes` is an error (see LineReader). `confine_to`: the table's
// TableOptions::confine_to.
Result<std::vector<std::string>> ReadDelimitedHeader(
    const InputFile& file, char delimiter, uint64_t max_line_bytes = io::kDefaultMaxRecordBytes,
    const std::vector<std::string>& confine_to = {});

}  // namespace aimass::tables
