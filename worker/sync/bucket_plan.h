// How gradients are grouped for allreduce. Backward produces the last layers' gradients first, so
// parameters are laid out in reverse registration order in one flat buffer and cut into
// contiguous buckets: a bucket can be reduced as soon as backward has filled it, while backward
// goes on with earlier layers. Torch-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace aimass::worker {

struct Bucket {
  int64_t offset = 0;  // first element in the flat buffer
  int64_t count = 0;   // elements
  size_t parameters = 0;
};

struct BucketPlan {
  std::vector<int64_t> parameter_offsets;  // by registration index
  std::vector<size_t> bucket_of_parameter; // by registration index
  std::vector<Bucket> buckets;             // in reduction order (buffer order)
  int64_t total = 0;
};

// `numels` in registration order. Buckets hold at most `cap` elements (the first at most
// `first_cap`, so the first allreduce starts early); a parameter larger than the cap gets a
// bucket of its own. cap <= 0: one bucket per parameter (the per-tensor path).
BucketPlan PlanBuckets(const std::vector<int64_t>& numels, int64_t cap, int64_t first_cap);

}  // namespace aimass::worker
