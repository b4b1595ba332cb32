#include "common/data/plan_wire.h"

#include "common/aimass.pb.h"
#include "common/tables/table_wire.h"

namespace aimass::data {

void EncodeDataset(const DatasetIndex& index, proto::DatasetSpec* spec) {
  tables::EncodeTable(index.table, index.files, spec->mutable_table());
  spec->clear_splits();
  for (const DatasetSplit& split : index.splits) {
    proto::SplitSpec* out = spec->add_splits();
    out->set_file(split.split.file);
    out->set_begin(split.split.begin);
    out->set_end(split.split.end);
    out->set_whole_file(split.split.whole_file);
    out->set_records(split.records);
  }
  spec->set_feature_count(index.feature_count);
  spec->set_num_classes(index.num_classes);
}

DatasetIndex DecodeDataset(const proto::DatasetSpec& spec) {
  DatasetIndex index;
  tables::DecodeTable(spec.table(), &index.table, &index.files);
  for (int i = 0; i < spec.splits_size(); ++i) {
    const proto::SplitSpec& split = spec.splits(i);
    index.splits.push_back(DatasetSplit{
        tables::Split{static_cast<uint32_t>(i), split.file(), split.begin(), split.end(), split.whole_file()},
        split.records()});
  }
  index.feature_count = spec.feature_count();
  index.num_classes = spec.num_classes();
  return index;
}

void EncodeEpochPlan(const EpochPlan& plan, uint64_t start_step, proto::EpochPlan* out) {
  out->set_epoch(plan.epoch);
  out->set_start_step(start_step);
  out->set_steps(plan.steps);
  out->set_samples(plan.samples_per_worker);
  out->set_samples_per_step(plan.samples_per_step);
  out->mutable_split_order()->Assign(plan.split_order.begin(), plan.split_order.end());
  out->set_seed(plan.seed);
  out->set_shuffle(plan.shuffle);
  out->set_shuffle_window(plan.shuffle_window);
  out->set_workers(plan.workers);
}

EpochPlan DecodeEpochPlan(const proto::EpochPlan& in) {
  EpochPlan plan;
  plan.epoch = in.epoch();
  plan.steps = in.steps();
  plan.samples_per_worker = in.samples();
  plan.samples_per_step = in.samples_per_step();
  plan.split_order.assign(in.split_order().begin(), in.split_order().end());
  plan.seed = in.seed();
  plan.shuffle = in.shuffle();
  plan.shuffle_window = in.shuffle_window();
  plan.workers = in.workers();
  return plan;
}

}  // namespace aimass::data
