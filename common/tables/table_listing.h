// ListTable: the part files of a table exported by Hive, Spark or Hadoop, as the coordinator
// plans splits over them.
//
// The export is a directory tree. Names starting with '_' or '.' are Hadoop's bookkeeping
// (`_SUCCESS`, `_temporary/`, `.part-00000.crc`) and are skipped, files and directories alike.
// Directories named `key=value` are Hive partitions: their values (Hive's %XX escapes undone)
// are attached to every file below them, outermost first. Other directories are walked too and
// add no partition.
//
// Confined (ListOptions::confine_to, set by the service): the root and every directory walked
// must resolve inside a data root before it is listed, and every part file before it is
// listed, so that a symbolic link leading out of the roots fails the listing (and the job, or
// the dataset's profile) before anything is read through it. The refusal names the entry by its
// path below the table root, never by where it leads. Readers check each file again when they
// open it (io::OpenForReading): the listing is checked by name, the open by descriptor.
#pragma once

#include <string>
#include <vector>

#include "common/env.h"
#include "common/status.h"
#include "common/tables/table.h"

namespace aimass::tables {

struct ListOptions {
  // The job that wrote the export creates `_SUCCESS` in the root when it commits; without it the
  // export may be partial or still being written.
  bool require_success = true;
  // Resolved data roots the table's files and directories must lie in; empty: not confined.
  std::vector<std::string> confine_to;
};

// Every part file below `root`, sorted by relative path (so the list, and the splits planned
// from it, are the same on every call). Errors: `root` missing or not a directory, no
// `_SUCCESS` when required, no part file at all, a directory that cannot be read.
Result<std::vector<InputFile>> ListTable(const std::string& root, const ListOptions& options,
                                         Env& env);

// True for Hadoop's bookkeeping names, which are not data: starting with '_' or '.', or empty.
bool IsHidden(const std::string& name);

// "dt=2026-11-22" -> {"dt", "2026-11-22"}; false when `name` is not of the form key=value.
// Hive's escapes (%3A, %2F, ...) are undone in key and value.
bool ParsePartitionDirectory(const std::string& name, std::string* key, std::string* value);

}  // namespace aimass::tables
