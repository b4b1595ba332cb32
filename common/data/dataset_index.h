// A training dataset is an exported table (common/tables/): a directory tree of part files in any
// format batch inference reads. Its index is the table's listing, its splits (planned exactly as
// inference plans them) and the number of records in each, so the coordinator plans epochs in
// terms of splits and workers read each split with the same record readers inference uses.
//
// Counting reads every record once, through the same decoder the workers use, so a record that
// cannot be trained on (a feature that is not a number, a label outside [0, num_classes), a wrong
// number of features) is one error naming the file and line before any worker starts. The counts
// are cached in `<table>/_index.json`, keyed by the listing (paths, sizes, modification times)
// and the options that decide what a record is; a read-only table is indexed anew each time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config/train_config.h"
#include "common/env.h"
#include "common/status.h"
#include "common/tables/table.h"

namespace aimass::data {

struct DatasetSplit {
  tables::Split split;
  uint64_t records = 0;  // records of the split the job uses: all of them, unless data.limit
};

struct DatasetIndex {
  std::string root;                      // the table's directory
  tables::TableOptions table;            // feature_columns: the label column, then the features
  std::vector<tables::InputFile> files;
  std::vector<DatasetSplit> splits;
  uint32_t feature_count = 0;            // model input values per record, the label not counted
  uint32_t num_classes = 0;              // every label is an integer in [0, num_classes)

  uint64_t total_records() const;
  std::vector<uint64_t> split_records() const;
};

struct IndexOptions {
  uint32_t feature_count = 0;  // values per record the model takes (product of its input shape)
  uint32_t num_classes = 0;
  uint32_t threads = 0;        // splits counted at once; 0: one per core
  std::string model = "the model";  // how errors name it: "model 'mlp' (input shape 1x28x28)"
};

// Lists, splits and counts the table `source` describes. Errors name the file, the key or the
// record: no such directory, no _SUCCESS when required, no part file or no record at all, a
// label or feature column the files lack, a record that cannot be trained on.
Result<DatasetIndex> IndexDataset(const DatasetSourceConfig& source, const IndexOptions& options,
                                  Env& env);

// The feature columns of `source`, in model-input order: the configured ones, or (when none
// are configured) every column of its delimited table but the label and the id. Lists the
// table and reads one header for the latter. Online serving maps named records with it.
Result<std::vector<std::string>> FeatureColumns(const DatasetSourceConfig& source, Env& env);

// Keeps only the first `limit` records (in split order): later splits get no record, the split
// holding the limit is cut. 0 keeps everything.
void LimitRecords(uint64_t limit, DatasetIndex* index);

}  // namespace aimass::data
