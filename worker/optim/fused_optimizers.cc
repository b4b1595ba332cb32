#include "worker/optim/fused_optimizers.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

#include "worker/optim/fused_kernels.h"

namespace aimass::worker {
namespace {

// Elements per task when a CPU update is split across the intra-op threads: large enough that
// a task streams for tens of microseconds.
constexpr int64_t kGrain = 1 << 15;

// The key of a parameter in an optimizer's state map, as LibTorch writes it: the printed
// TensorImpl address in LibTorch 1.x, the address itself in later versions.
template <typename Map>
typename Map::key_type StateKey(const Map& /*state*/, const torch::Tensor& parameter) {
  if constexpr (std::is_same_v<typename Map::key_type, std::string>) {
    std::ostringstream key;
    key << parameter.unsafeGetTensorImpl();
    return key.str();
  } else {
    return parameter.unsafeGetTensorImpl();
  }
}

template <typename StateType, typename Optimizer>
StateType* FindState(Optimizer& optimizer, const torch::Tensor& parameter) {
  auto& state = optimizer.state();
  auto found = state.find(StateKey(state, parameter));
  return found == state.end() ? nullptr : static_cast<StateType*>(found->second.get());
}

template <typename Optimizer>
void SetState(Optimizer& optimizer, const torch::Tensor& parameter,
              std::unique_ptr<torch::optim::OptimizerParamState> value) {
  auto& state = optimizer.state();
  state[StateKey(state, parameter)] = std::move(value);
}

bool SameStorageAt(const torch::Tensor& tensor, const torch::Tensor& flat, int64_t offset) {
  return tensor.defined() && tensor.data_ptr() == static_cast<const char*>(flat.data_ptr()) +
                                                     offset * static_cast<int64_t>(flat.element_size());
}

// A run: parameters adjacent in the flat buffer that share their state's progress (SGD: whether
// the momentum exists; Adam: the step count), updated by one call. Normally one run covers all.
struct Run {
  int64_t begin = 0;  // elements
  int64_t end = 0;
  int64_t progress = 0;
};

// Parameters in buffer order, cut where `progress` changes or the buffer has a gap.
std::vector<Run> RunsOf(const FlatLayout& layout, const std::vector<torch::Tensor>& parameters,
                        const std::vector<int64_t>& progress) {
  std::vector<size_t> order(parameters.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return layout.offsets[a] < layout.offsets[b]; });
  std::vector<Run> runs;
  for (size_t i : order) {
    const int64_t begin = layout.offsets[i];
    const int64_t end = begin + parameters[i].numel();
    if (!runs.empty() && runs.back().end == begin && runs.back().progress == progress[i]) {
      runs.back().end = end;
    } else {
      runs.push_back(Run{begin, end, progress[i]});
    }
  }
  return runs;
}

// Splits [begin, end) across the intra-op threads.
template <typename Body>
void ParallelRange(int64_t begin, int64_t end, const Body& body) {
  at::parallel_for(begin, end, kGrain, [&](int64_t from, int64_t to) { body(from, to); });
}

float* FloatsOf(const torch::Tensor& flat) { return flat.data_ptr<float>(); }

bool CpuFloat(const FlatLayout& layout) {
  return layout.parameters.device().is_cpu() && layout.parameters.scalar_type() == torch::kFloat32;
}

// What every fused optimizer keeps: the layout, its state in flat buffers, scratch space for
// the tensor-operation path.
struct FlatCore {
  FlatLayout layout;
  std::vector<torch::Tensor> state;    // flat state buffers, each like layout.parameters
  std::vector<torch::Tensor> scratch;  // the tensor-operation path's temporaries
  bool bound = false;

  // Whether the fused step applies to `groups` now.
  bool Usable(const std::vector<torch::optim::OptimizerParamGroup>& groups) const {
    if (!bound || groups.size() != 1) return false;
    const auto& parameters = groups[0].params();
    if (parameters.size() != layout.offsets.size()) return false;
    for (size_t i = 0; i < parameters.size(); ++i) {
      if (!IsFlatView(layout, i, parameters[i])) return false;
    }
    return true;
  }

  // The flat state buffer `k`'s view for parameter `i`, shaped like it.
  torch::Tensor StateView(size_t k, size_t i, const torch::Tensor& parameter) const {
    return state[k].narrow(0, layout.offsets[i], parameter.numel()).view(parameter.sizes());
  }

  // Moves state tensor `value` (a loaded one, or an earlier view) into buffer k at parameter i;
  // returns the view that replaces it.
  torch::Tensor Adopt(size_t k, size_t i, const torch::Tensor& parameter, const torch::Tensor& value) {
    torch::Tensor view = StateView(k, i, parameter);
    if (!SameStorageAt(value, state[k], layout.offsets[i])) view.copy_(value.detach());
    return view;
  }
};

Status CheckBindable(const std::vector<torch::optim::OptimizerParamGroup>& groups, const FlatLayout& layout) {
  if (groups.size() != 1) return Status::Error("fused optimizer: one parameter group is supported");
  if (groups[0].params().size() != layout.offsets.size()) {
    return Status::Error("fused optimizer: the layout has " + std::to_string(layout.offsets.size()) +
                         " parameters, the optimizer " + std::to_string(groups[0].params().size()));
  }
  for (size_t i = 0; i < layout.offsets.size(); ++i) {
    if (!IsFlatView(layout, i, groups[0].params()[i])) {
      return Status::Error("fused optimizer: parameter " + std::to_string(i) + " is not a view of the layout");
    }
  }
  return Status::Ok();
}

// For the time of a save, every state tensor is a standalone copy instead of a view of a flat
// buffer (so the archive is exactly what LibTorch's optimizer writes); the views come back when
// the guard goes, also when the save throws.
template <typename State>
class StandaloneState {
 public:
  template <typename Optimizer>
  explicit StandaloneState(Optimizer& optimizer) {
    for (auto& entry : optimizer.state()) {
      auto* state = static_cast<State*>(entry.second.get());
      kept_.push_back({state, Get(*state)});
      std::vector<torch::Tensor> copies;
      for (const torch::Tensor& tensor : kept_.back().second) copies.push_back(tensor.defined() ? tensor.clone() : tensor);
      Set(*state, copies);
    }
  }
  ~StandaloneState() {
    for (auto& [state, views] : kept_) Set(*state, views);
  }
  StandaloneState(const StandaloneState&) = delete;
  StandaloneState& operator=(const StandaloneState&) = delete;

 private:
  static std::vector<torch::Tensor> Get(State& state) {
    if constexpr (std::is_same_v<State, torch::optim::SGDParamState>) {
      return {state.momentum_buffer()};
    } else {
      return {state.exp_avg(), state.exp_avg_sq()};
    }
  }
  static void Set(State& state, const std::vector<torch::Tensor>& tensors) {
    if constexpr (std::is_same_v<State, torch::optim::SGDParamState>) {
      state.momentum_buffer(tensors[0]);
    } else {
      state.exp_avg(tensors[0]);
      state.exp_avg_sq(tensors[1]);
    }
  }
  std::vector<std::pair<State*, std::vector<torch::Tensor>>> kept_;
};

torch::Tensor RunClosure(const torch::optim::Optimizer::LossClosure& closure) {
  if (closure == nullptr) return {};
  at::AutoGradMode enable_grad(true);
  return closure();
}

// ---- Adam and AdamW: the same state, the same update but for the weight decay. ----

template <typename Base, typename Options, typename State>
torch::Tensor AdamFamilyStep(Base& optimizer, FlatCore& core, bool decoupled,
                             const torch::optim::Optimizer::LossClosure& closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = RunClosure(closure);
  auto& group = optimizer.param_groups()[0];
  const auto& options = static_cast<const Options&>(group.options());
  const auto& parameters = group.params();
  std::vector<int64_t> steps(parameters.size());
  for (size_t i = 0; i < parameters.size(); ++i) {
    State* state = FindState<State>(optimizer, parameters[i]);
    if (state == nullptr) {
      auto fresh = std::make_unique<State>();
      fresh->step(0);
      torch::Tensor exp_avg = core.StateView(0, i, parameters[i]);
      torch::Tensor exp_avg_sq = core.StateView(1, i, parameters[i]);
      exp_avg.zero_();
      exp_avg_sq.zero_();
      fresh->exp_avg(exp_avg);
      fresh->exp_avg_sq(exp_avg_sq);
      state = fresh.get();
      SetState(optimizer, parameters[i], std::move(fresh));
    } else if (!SameStorageAt(state->exp_avg(), core.state[0], core.layout.offsets[i]) ||
               !SameStorageAt(state->exp_avg_sq(), core.state[1], core.layout.offsets[i])) {
      state->exp_avg(core.Adopt(0, i, parameters[i], state->exp_avg()));
      state->exp_avg_sq(core.Adopt(1, i, parameters[i], state->exp_avg_sq()));
    }
    state->step(state->step() + 1);
    steps[i] = state->step();
  }
  const double beta1 = std::get<0>(options.betas());
  const double beta2 = std::get<1>(options.betas());
  const double lr = options.lr();
  const double weight_decay = options.weight_decay();
  for (const Run& run : RunsOf(core.layout, parameters, steps)) {
    const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(run.progress));
    const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(run.progress));
    const double step_size = lr / bias_correction1;
    kernels::AdamScalars scalars;
    scalars.beta1 = static_cast<float>(beta1);
    scalars.one_minus_beta1 = static_cast<float>(1 - beta1);
    scalars.beta2 = static_cast<float>(beta2);
    scalars.one_minus_beta2 = static_cast<float>(1 - beta2);
    scalars.eps = static_cast<float>(options.eps());
    scalars.sqrt_bias_correction2 = static_cast<float>(std::sqrt(bias_correction2));
    scalars.neg_step_size = static_cast<float>(-step_size);
    scalars.decoupled = decoupled;
    scalars.weight_decay = decoupled ? 0.0f : static_cast<float>(weight_decay);
    scalars.decay_factor = decoupled ? static_cast<float>(1 - lr * weight_decay) : 1.0f;
    const int64_t count = run.end - run.begin;
    if (CpuFloat(core.layout)) {
      float* p = FloatsOf(core.layout.parameters);
      const float* g = FloatsOf(core.layout.gradients);
      float* m = FloatsOf(core.state[0]);
      float* v = FloatsOf(core.state[1]);
      ParallelRange(run.begin, run.end, [&](int64_t from, int64_t to) {
        kernels::AdamUpdate(p + from, g + from, m + from, v + from, to - from, scalars);
      });
      continue;
    }
    // Whole-buffer tensor operations, in LibTorch's order, into preallocated scratch.
    torch::Tensor p = core.layout.parameters.narrow(0, run.begin, count);
    torch::Tensor g = core.scratch[0].narrow(0, run.begin, count);
    torch::Tensor denom = core.scratch[1].narrow(0, run.begin, count);
    torch::Tensor m = core.state[0].narrow(0, run.begin, count);
    torch::Tensor v = core.state[1].narrow(0, run.begin, count);
    g.copy_(core.layout.gradients.narrow(0, run.begin, count));
    if (decoupled && weight_decay != 0) p.mul_(1 - lr * weight_decay);
    if (!decoupled && weight_decay != 0) g.add_(p, weight_decay);
    m.mul_(beta1).add_(g, 1 - beta1);
    v.mul_(beta2).addcmul_(g, g, 1 - beta2);
    at::sqrt_out(denom, v);
    denom.div_(std::sqrt(bias_correction2)).add_(options.eps());
    p.addcdiv_(m, denom, -step_size);
  }
  return loss;
}

template <typename Base, typename State>
Status AdamFamilyBind(Base& optimizer, FlatCore& core, const FlatLayout& layout) {
  AIMASS_RETURN_IF_ERROR(CheckBindable(optimizer.param_groups(), layout));
  core.layout = layout;
  core.state = {torch::zeros_like(layout.parameters), torch::zeros_like(layout.parameters)};
  core.scratch.clear();
  if (!CpuFloat(layout)) core.scratch = {torch::empty_like(layout.parameters), torch::empty_like(layout.parameters)};
  const auto& parameters = optimizer.param_groups()[0].params();
  for (size_t i = 0; i < parameters.size(); ++i) {
    State* state = FindState<State>(optimizer, parameters[i]);
    if (state == nullptr) continue;
    if (state->max_exp_avg_sq().defined()) continue;  // AMSGrad: LibTorch's step keeps it
    state->exp_avg(core.Adopt(0, i, parameters[i], state->exp_avg()));
    state->exp_avg_sq(core.Adopt(1, i, parameters[i], state->exp_avg_sq()));
  }
  core.bound = true;
  return Status::Ok();
}

}  // namespace

// ---- SGD ----

struct FusedSGD::Flat : FlatCore {};

FusedSGD::FusedSGD(const std::vector<torch::Tensor>& parameters, torch::optim::SGDOptions options)
    : torch::optim::SGD(parameters, options), flat_(std::make_unique<Flat>()) {}

FusedSGD::~FusedSGD() = default;

Status FusedSGD::Bind(const FlatLayout& layout) {
  AIMASS_RETURN_IF_ERROR(CheckBindable(param_groups(), layout));
  flat_->layout = layout;
  flat_->state = {torch::zeros_like(layout.parameters)};
  flat_->scratch.clear();
  if (!CpuFloat(layout)) flat_->scratch = {torch::empty_like(layout.parameters)};
  const auto& parameters = param_groups()[0].params();
  for (size_t i = 0; i < parameters.size(); ++i) {
    auto* state = FindState<torch::optim::SGDParamState>(*this, parameters[i]);
    if (state != nullptr) state->momentum_buffer(flat_->Adopt(0, i, parameters[i], state->momentum_buffer()));
  }
  flat_->bound = true;
  return Status::Ok();
}

void FusedSGD::save(torch::serialize::OutputArchive& archive) const {
  auto& self = const_cast<FusedSGD&>(*this);  // the state is put back as it was
  StandaloneState<torch::optim::SGDParamState> copies(self);
  torch::optim::SGD::save(archive);
}

bool FusedSGD::fused() const { return flat_->Usable(param_groups()); }

void FusedSGD::load(torch::serialize::InputArchive& archive) {
  torch::optim::SGD::load(archive);
  if (flat_->bound) (void)Bind(flat_->layout);  // the loaded buffers move into the flat one
}

torch::Tensor FusedSGD::step(LossClosure closure) {
  if (!flat_->Usable(param_groups())) return torch::optim::SGD::step(std::move(closure));
  torch::NoGradGuard no_grad;
  torch::Tensor loss = RunClosure(closure);
  auto& group = param_groups()[0];
  const auto& options = static_cast<const torch::optim::SGDOptions&>(group.options());
  const auto& parameters = group.params();
  const double momentum = options.momentum();
  // progress: 1 where the momentum buffer exists (LibTorch starts it as the first gradient).
  std::vector<int64_t> started(parameters.size(), 0);
  if (momentum != 0) {
    for (size_t i = 0; i < parameters.size(); ++i) {
      auto* state = FindState<torch::optim::SGDParamState>(*this, parameters[i]);
      if (state == nullptr) continue;
      if (!SameStorageAt(state->momentum_buffer(), flat_->state[0], flat_->layout.offsets[i])) {
        state->momentum_buffer(flat_->Adopt(0, i, parameters[i], state->momentum_buffer()));
      }
      started[i] = 1;
    }
  }
  for (const Run& run : RunsOf(flat_->layout, parameters, started)) {
    kernels::SgdScalars scalars;
    scalars.lr = static_cast<float>(options.lr());
    scalars.momentum = static_cast<float>(momentum);
    scalars.dampening_complement = static_cast<float>(1 - options.dampening());
    scalars.weight_decay = static_cast<float>(options.weight_decay());
    scalars.nesterov = options.nesterov();
    scalars.first = run.progress == 0;
    const int64_t count = run.end - run.begin;
    if (CpuFloat(flat_->layout)) {
      float* p = FloatsOf(flat_->layout.parameters);
      const float* g = FloatsOf(flat_->layout.gradients);
      float* b = FloatsOf(flat_->state[0]);
      ParallelRange(run.begin, run.end, [&](int64_t from, int64_t to) {
        kernels::SgdUpdate(p + from, g + from, momentum != 0 ? b + from : nullptr, to - from, scalars);
      });
      continue;
    }
    // Whole-buffer tensor operations, in LibTorch's order, into preallocated scratch.
    torch::Tensor p = flat_->layout.parameters.narrow(0, run.begin, count);
    torch::Tensor d = flat_->scratch[0].narrow(0, run.begin, count);
    torch::Tensor b = flat_->state[0].narrow(0, run.begin, count);
    d.copy_(flat_->layout.gradients.narrow(0, run.begin, count));
    if (options.weight_decay() != 0) d.add_(p, options.weight_decay());
    if (momentum != 0) {
      if (scalars.first) {
        b.copy_(d);
      } else {
        b.mul_(momentum).add_(d, 1 - options.dampening());
      }
      if (options.nesterov()) {
        d.add_(b, momentum);
      } else {
        d = b;
      }
    }
    p.add_(d, -options.lr());
  }
  if (momentum != 0) {
    for (size_t i = 0; i < parameters.size(); ++i) {
      if (started[i]) continue;
      auto state = std::make_unique<torch::optim::SGDParamState>();
      state->momentum_buffer(flat_->StateView(0, i, parameters[i]));
      SetState(*this, parameters[i], std::move(state));
    }
  }
  return loss;
}

// ---- Adam ----

struct FusedAdam::Flat : FlatCore {};

FusedAdam::FusedAdam(const std::vector<torch::Tensor>& parameters, torch::optim::AdamOptions options)
    : torch::optim::Adam(parameters, options), flat_(std::make_unique<Flat>()) {}

FusedAdam::~FusedAdam() = default;

Status FusedAdam::Bind(const FlatLayout& layout) {
  return AdamFamilyBind<torch::optim::Adam, torch::optim::AdamParamState>(*this, *flat_, layout);
}

void FusedAdam::save(torch::serialize::OutputArchive& archive) const {
  auto& self = const_cast<FusedAdam&>(*this);
  StandaloneState<torch::optim::AdamParamState> copies(self);
  torch::optim::Adam::save(archive);
}

bool FusedAdam::fused() const {
  const auto& options = static_cast<const torch::optim::AdamOptions&>(param_groups()[0].options());
  return !options.amsgrad() && flat_->Usable(param_groups());
}

void FusedAdam::load(torch::serialize::InputArchive& archive) {
  torch::optim::Adam::load(archive);
  if (flat_->bound) (void)Bind(flat_->layout);
}

torch::Tensor FusedAdam::step(LossClosure closure) {
  if (!fused()) return torch::optim::Adam::step(std::move(closure));
  return AdamFamilyStep<torch::optim::Adam, torch::optim::AdamOptions, torch::optim::AdamParamState>(
      *this, *flat_, /*decoupled=*/false, closure);
}

// ---- AdamW ----

struct FusedAdamW::Flat : FlatCore {};

FusedAdamW::FusedAdamW(const std::vector<torch::Tensor>& parameters, torch::optim::AdamWOptions options)
    : torch::optim::AdamW(parameters, options), flat_(std::make_unique<Flat>()) {}

FusedAdamW::~FusedAdamW() = default;

Status FusedAdamW::Bind(const FlatLayout& layout) {
  return AdamFamilyBind<torch::optim::AdamW, torch::optim::AdamWParamState>(*this, *flat_, layout);
}

void FusedAdamW::save(torch::serialize::OutputArchive& archive) const {
  auto& self = const_cast<FusedAdamW&>(*this);
  StandaloneState<torch::optim::AdamWParamState> copies(self);
  torch::optim::AdamW::save(archive);
}

bool FusedAdamW::fused() const {
  const auto& options = static_cast<const torch::optim::AdamWOptions&>(param_groups()[0].options());
  return !options.amsgrad() && flat_->Usable(param_groups());
}

void FusedAdamW::load(torch::serialize::InputArchive& archive) {
  torch::optim::AdamW::load(archive);
  if (flat_->bound) (void)Bind(flat_->layout);
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
  if (!fused()) return torch::optim::AdamW::step(std::move(closure));
  return AdamFamilyStep<torch::optim::AdamW, torch::optim::AdamWOptions, torch::optim::AdamWParamState>(
      *this, *flat_, /*decoupled=*/true, closure);
}

}  // namespace aimass::worker
