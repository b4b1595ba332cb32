// From a table's configuration (TableInputConfig: format name, delimiter, header, columns) to the
// options its record readers take. Shared by every job that reads a table.
#pragma once

#include "common/config/table_input_config.h"
#include "common/status.h"
#include "common/tables/table.h"
#include "common/tables/table_listing.h"

namespace aimass::tables {

// Format, delimiter, header and columns; the caller fills the id and feature columns.
// Carries input.confine_to.
Result<TableOptions> TableOptionsFromInput(const TableInputConfig& input);

// How the table is listed: require_success and confine_to from `input`.
ListOptions ListOptionsFromInput(const TableInputConfig& input);

}  // namespace aimass::tables
