#include "common/tables/split_planner.h"

namespace aimass::tables {

bool IsSplittable(TableFormat format, io::Codec codec) {
  if (codec != io::Codec::kNone) return false;
  return format == TableFormat::kDelimited || format == TableFormat::kJsonLines;
}

std::vector<Split> PlanSplits(const std::vector<InputFile>& files, TableFormat format,
                              uint64_t split_bytes) {
  std::vector<Split> splits;
  for (size_t f = 0; f < files.size(); ++f) {
    const InputFile& file = files[f];
    if (file.size == 0) continue;
    Split split;
    split.file = static_cast<uint32_t>(f);
    if (!IsSplittable(format, file.codec) || split_bytes == 0) {
      split.index = static_cast<uint32_t>(splits.size());
      split.begin = 0;
      split.end = file.size;
      split.whole_file = true;
      splits.push_back(split);
      continue;
    }
    for (uint64_t begin = 0; begin < file.size; begin += split_bytes) {
      split.index = static_cast<uint32_t>(splits.size());
      split.begin = begin;
      split.end = file.size - begin > split_bytes ? begin + split_bytes : file.size;
      split.whole_file = false;
      splits.push_back(split);
    }
  }
  return splits;
}

}  // namespace aimass::tables
