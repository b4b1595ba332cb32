#include "coordinator/service/monitor/training_profile.h"

#include <algorithm>

#include "common/data/dataset_index.h"
#include "common/data/split_decoder.h"
#include "models/model_catalog.h"

namespace aimass::service {

Result<data::DataProfile> ProfileTrainingData(const TrainConfig& train, Env& env, uint64_t max_records) {
  TrainConfig config = train;
  if (config.model.input_shape.empty()) config.model.input_shape = config.data.train.shape;
  AIMASS_RETURN_IF_ERROR(models::ResolveModelConfig(config.model));
  data::IndexOptions options;
  options.feature_count = static_cast<uint32_t>(models::ValuesPerSample(config.model.input_shape));
  options.num_classes = config.model.num_classes;
  options.threads = 1;  // the registering thread; a cached index costs nothing anyway
  AIMASS_ASSIGN_OR_RETURN(data::DatasetIndex index, data::IndexDataset(config.data.train, options, env));
  data::LimitRecords(config.data.limit, &index);

  const uint64_t total = index.total_records();
  const uint64_t stride = std::max<uint64_t>(1, (total + std::max<uint64_t>(1, max_records) - 1) /
                                                    std::max<uint64_t>(1, max_records));
  data::RecordBlock sample;
  sample.feature_count = index.feature_count;
  uint64_t position = 0;  // of the next decoded record in the whole table
  data::SplitDecodeOptions decode;
  decode.table = index.table;
  decode.num_classes = index.num_classes;
  for (const data::DatasetSplit& split : index.splits) {
    if (split.records == 0) continue;
    data::RecordBlock block;
    block.feature_count = index.feature_count;
    decode.max_records = split.records;
    AIMASS_RETURN_IF_ERROR(
        data::DecodeSplit(index.files[split.split.file], split.split, decode, &block).status());
    // Keeps every stride-th record of the table; each block is dropped once sampled, so memory
    // stays at one split plus the sample.
    for (size_t i = 0; i < block.size(); ++i, ++position) {
      if (position % stride != 0) continue;
      sample.labels.push_back(block.labels[i]);
      const float* values = block.record_features(i);
      sample.features.insert(sample.features.end(), values, values + block.feature_count);
    }
  }
  // Names from the table's columns (the label first); a format without names (IDX) numbers them.
  std::vector<std::string> names(index.table.feature_columns.begin() + std::min<size_t>(1, index.table.feature_columns.size()),
                                 index.table.feature_columns.end());
  if (names.size() != index.feature_count) {
    names.clear();
    for (uint32_t i = 0; i < index.feature_count; ++i) names.push_back("f" + std::to_string(i));
  }
  data::DataProfile profile =
      data::BuildProfile(names, sample.features.data(), sample.size(), sample.labels.data(), index.num_classes);
  profile.total_records = total;
  profile.label = config.data.train.label;
  return profile;
}

}  // namespace aimass::service
