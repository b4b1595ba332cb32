// Profiles the training features of a train job (data_profile.h) at registration: the table
// the job trained on is read through the same data stack training used (common/data/
// dataset_index.h for the label and the feature columns, split_decoder.h for the records), so
// the profile describes exactly the values the model saw, before normalization.
//
// The profile is computed over at most `max_records` records, taken evenly across the whole
// table (every k-th record, k = ceil(records / max_records)), so that profiling stays a few
// seconds for large tables: Fashion-MNIST's 60,000 x 784 is read whole and profiled over
// 20,000 records (docs/service.md, "Data profiles, drift and datasets").
//
// Thread safety: a pure function of its arguments and the files.
#pragma once

#include <cstdint>

#include "common/config/train_config.h"
#include "common/data/data_profile.h"
#include "common/env.h"
#include "common/status.h"

namespace aimass::service {

constexpr uint64_t kDefaultProfileRecords = 20000;

// `config`: a train job's configuration with its paths already confined (submitted_job.h).
[[nodiscard]] Result<data::DataProfile> ProfileTrainingData(const TrainConfig& config, Env& env,
                                                            uint64_t max_records = kDefaultProfileRecords);

}  // namespace aimass::service
