// A table's description on the control plane: the coordinator lists and resolves a table once
// and sends it (proto::TableSpec) to every worker, which reads its splits with the same options.
// Used by batch inference and training alike. Torch-free.
#pragma once

#include <vector>

#include "common/tables/table.h"

namespace aimass::proto {
class TableSpec;
}  // namespace aimass::proto

namespace aimass::tables {

void EncodeTable(const TableOptions& options, const std::vector<InputFile>& files,
                 proto::TableSpec* spec);

// Inverse of EncodeTable (mtimes do not travel: workers do not need them).
void DecodeTable(const proto::TableSpec& spec, TableOptions* options, std::vector<InputFile>* files);

}  // namespace aimass::tables
