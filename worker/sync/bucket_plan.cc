#include "worker/sync/bucket_plan.h"

namespace aimass::worker {

BucketPlan PlanBuckets(const std::vector<int64_t>& numels, int64_t cap, int64_t first_cap) {
  BucketPlan plan;
  plan.parameter_offsets.assign(numels.size(), 0);
  plan.bucket_of_parameter.assign(numels.size(), 0);
  auto cap_of = [&](size_t bucket) { return bucket == 0 && first_cap > 0 ? first_cap : cap; };
  for (size_t reversed = 0; reversed < numels.size(); ++reversed) {
    const size_t index = numels.size() - 1 - reversed;
    const int64_t numel = numels[index];
    if (plan.buckets.empty() || cap <= 0 ||
        plan.buckets.back().count + numel > cap_of(plan.buckets.size() - 1)) {
      plan.buckets.push_back(Bucket{plan.total, 0, 0});
    }
    Bucket& bucket = plan.buckets.back();
    plan.parameter_offsets[index] = plan.total;
    plan.bucket_of_parameter[index] = plan.buckets.size() - 1;
    bucket.count += numel;
    bucket.parameters += 1;
    plan.total += numel;
  }
  return plan;
}

}  // namespace aimass::worker
