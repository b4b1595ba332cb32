#include "worker/optim/fused_optimizers.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
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

using StateMap = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;
using StateKey = StateMap::key_type;

// The key of a parameter in an optimizer's state map, as LibTorch writes it: the printed
// TensorImpl address in LibTorch 1.x, the address itself in later versions.
// (A template, so that the branch for the other LibTorch is not compiled.)
template <typename Key = StateKey>
Key KeyOf(const torch::Tensor& parameter) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream key;
    key << parameter.unsafeGetTensorImpl();
    return key.str();
  } else {
    return parameter.unsafeGetTensorImpl();
  }
}

bool SameStorageAt(const torch::Tensor& tensor, const torch::Tensor& flat, int64_t offset) {
  return tensor.defined() && tensor.data_ptr() == static_cast<const char*>(flat.data_ptr()) +
                                                     offset * static_cast<int64_t>(flat.element_size());
}

// A run: parameters adjacent in the flat buffer whose gradients are adjacent too and that share
// their state's progress (SGD: whether the momentum exists; Adam: the step count), updated by
// one call. Gradients live where the gradient synchronizer left them (a flat buffer, or a
// bucket's own tensor), so a model has a few runs.
struct Run {
  int64_t begin = 0;  // elements
  int64_t end = 0;
  int64_t progress = 0;
  char* gradient = nullptr;  // the gradient of element `begin`
};

// Splits [begin, end) across the intra-op threads; `body` returns whether the gradients of its
// range were finite. Returns whether all were.
template <typename Body>
bool ParallelRange(int64_t begin, int64_t end, const Body& body) {
  std::atomic<bool> finite{true};
  at::parallel_for(begin, end, kGrain, [&](int64_t from, int64_t to) {
    if (!body(from, to)) finite.store(false, std::memory_order_relaxed);
  });
  return finite.load(std::memory_order_relaxed);
}

float* FloatsOf(const torch::Tensor& flat) { return flat.data_ptr<float>(); }

// A run's gradients as one tensor, for the tensor-operation path (valid during the step).
torch::Tensor GradientsOf(const Run& run, const FlatLayout& layout) {
  return torch::from_blob(run.gradient, {run.end - run.begin}, layout.parameters.options());
}

bool CpuFloat(const FlatLayout& layout) {
  return layout.parameters.device().is_cpu() && layout.parameters.scalar_type() == torch::kFloat32;
}

torch::Tensor RunClosure(const torch::optim::Optimizer::LossClosure& closure) {
  if (closure == nullptr) return {};
  at::AutoGradMode enable_grad(true);
  return closure();
}

}  // namespace

namespace detail {

// What every fused optimizer keeps: the layout, its state in flat buffers, scratch space for the
// tensor-operation path, and what a step would otherwise recompute (state keys, buffer order,
// per-parameter progress), so that a step allocates nothing on the CPU path.
struct FlatCore {
  FlatLayout layout;
  std::vector<torch::Tensor> state;    // flat state buffers, each like layout.parameters
  std::vector<torch::Tensor> scratch;  // the tensor-operation path's temporaries
  std::vector<StateKey> keys;          // each parameter's key in the state map
  std::vector<size_t> order;           // parameters by offset
  std::vector<int64_t> progress;       // per parameter, filled by each step
  std::vector<Run> runs;               // filled by each step
  bool bound = false;

  // Checks the optimizer's groups against `flat`, allocates `buffers` flat state buffers and
  // `scratches` scratch buffers (those only off the CPU float path), caches keys and order.
  Status Bind(const std::vector<torch::optim::OptimizerParamGroup>& groups, const FlatLayout& flat,
              size_t buffers, size_t scratches) {
    if (groups.size() != 1) return Status::Error("fused optimizer: one parameter group is supported");
    const auto& parameters = groups[0].params();
    if (parameters.size() != flat.offsets.size()) {
      return Status::Error("fused optimizer: the layout has " + std::to_string(flat.offsets.size()) +
                           " parameters, the optimizer " + std::to_string(parameters.size()));
    }
    for (size_t i = 0; i < parameters.size(); ++i) {
      if (!IsFlatView(flat, i, parameters[i])) {
        return Status::Error("fused optimizer: parameter " + std::to_string(i) + " is not a view of the layout");
      }
    }
    layout = flat;
    state.clear();
    for (size_t k = 0; k < buffers; ++k) state.push_back(torch::zeros_like(flat.parameters));
    scratch.clear();
    for (size_t k = 0; k < scratches && !CpuFloat(flat); ++k) scratch.push_back(torch::empty_like(flat.parameters));
    keys.clear();
    for (const torch::Tensor& parameter : parameters) keys.push_back(KeyOf(parameter));
    order.resize(parameters.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return flat.offsets[a] < flat.offsets[b]; });
    progress.assign(parameters.size(), 0);
    runs.reserve(parameters.size());
    bound = true;
    return Status::Ok();
  }

  // Whether the parameters of `groups` are still the layout's.
  bool Usable(const std::vector<torch::optim::OptimizerParamGroup>& groups) const {
    if (!bound || groups.size() != 1) return false;
    const auto& parameters = groups[0].params();
    if (parameters.size() != layout.offsets.size()) return false;
    for (size_t i = 0; i < parameters.size(); ++i) {
      if (!IsFlatView(layout, i, parameters[i])) return false;
    }
    return true;
  }

  // Whether a fused step can run now: usable, and every parameter has a contiguous gradient of
  // the layout's dtype and device (LibTorch's step skips a parameter without one).
  bool Ready(const std::vector<torch::optim::OptimizerParamGroup>& groups) const {
    if (!Usable(groups)) return false;
    for (const torch::Tensor& parameter : groups[0].params()) {
      const torch::Tensor& gradient = parameter.grad();
      if (!gradient.defined() || !gradient.is_contiguous() ||
          gradient.scalar_type() != layout.parameters.scalar_type() ||
          gradient.device() != layout.parameters.device()) {
        return false;
      }
    }
    return true;
  }

  template <typename State>
  State* Find(StateMap& map, size_t i) const {
    auto found = map.find(keys[i]);
    return found == map.end() ? nullptr : static_cast<State*>(found->second.get());
  }

  // The flat state buffer `k`'s view for parameter `i`, shaped like it.
  torch::Tensor StateView(size_t k, size_t i, const torch::Tensor& parameter) const {
    return state[k].narrow(0, layout.offsets[i], parameter.numel()).view(parameter.sizes());
  }

  // State tensor `value` (a loaded one, or already the view) as buffer k's view at parameter i.
  torch::Tensor Adopt(size_t k, size_t i, const torch::Tensor& parameter, const torch::Tensor& value) const {
    if (SameStorageAt(value, state[k], layout.offsets[i])) return value;
    torch::Tensor view = StateView(k, i, parameter);
    view.copy_(value.detach());
    return view;
  }

  // Cuts the parameters, in buffer order, into runs where `progress` changes, the buffer has a
  // gap, or the gradients are not adjacent.
  const std::vector<Run>& Runs(const std::vector<torch::Tensor>& parameters) {
    runs.clear();
    const int64_t element_size = static_cast<int64_t>(layout.parameters.element_size());
    for (size_t i : order) {
      const int64_t begin = layout.offsets[i];
      const int64_t end = begin + parameters[i].numel();
      char* gradient = static_cast<char*>(parameters[i].grad().data_ptr());
      if (!runs.empty()) {
        Run& last = runs.back();
        if (last.end == begin && last.progress == progress[i] &&
            last.gradient + (last.end - last.begin) * element_size == gradient) {
          last.end = end;
          continue;
        }
      }
      runs.push_back(Run{begin, end, progress[i], gradient});
    }
    return runs;
  }
};

}  // namespace detail

// ---- SGD ----

FusedSGD::FusedSGD(const std::vector<torch::Tensor>& parameters, torch::optim::SGDOptions options)
    : torch::optim::SGD(parameters, options), flat_(std::make_unique<detail::FlatCore>()) {}

FusedSGD::~FusedSGD() = default;

Status FusedSGD::Bind(const FlatLayout& layout) {
  AIMASS_RETURN_IF_ERROR(flat_->Bind(param_groups(), layout, /*buffers=*/1, /*scratches=*/1));
  const auto& parameters = param_groups()[0].params();
  for (size_t i = 0; i < parameters.size(); ++i) {
    auto* state = flat_->Find<torch::optim::SGDParamState>(this->state(), i);
    if (state != nullptr) state->momentum_buffer(flat_->Adopt(0, i, parameters[i], state->momentum_buffer()));
  }
  return Status::Ok();
}

bool FusedSGD::fused() const { return flat_->Usable(param_groups()); }

void FusedSGD::load(torch::serialize::InputArchive& archive) {
  torch::optim::SGD::load(archive);
  if (flat_->bound) (void)Bind(flat_->layout);  // the loaded buffers move into the flat one
}

torch::Tensor FusedSGD::step(LossClosure closure) {
  last_check_ = GradientCheck::kUnchecked;
  if (!flat_->Ready(param_groups())) return torch::optim::SGD::step(std::move(closure));
  torch::NoGradGuard no_grad;
  torch::Tensor loss = RunClosure(closure);
  auto& group = param_groups()[0];
  const auto& options = static_cast<const torch::optim::SGDOptions&>(group.options());
  const auto& parameters = group.params();
  const double momentum = options.momentum();
  detail::FlatCore& core = *flat_;
  // progress: 1 where the momentum buffer exists (LibTorch starts it as the first gradient).
  for (size_t i = 0; i < parameters.size(); ++i) {
    auto* state = momentum != 0 ? core.Find<torch::optim::SGDParamState>(this->state(), i) : nullptr;
    if (state != nullptr) state->momentum_buffer(core.Adopt(0, i, parameters[i], state->momentum_buffer()));
    core.progress[i] = state != nullptr ? 1 : 0;
  }
  bool finite = true;
  for (const Run& run : core.Runs(parameters)) {
    kernels::SgdScalars scalars;
    scalars.lr = static_cast<float>(options.lr());
    scalars.momentum = static_cast<float>(momentum);
    scalars.dampening_complement = static_cast<float>(1 - options.dampening());
    scalars.weight_decay = static_cast<float>(options.weight_decay());
    scalars.nesterov = options.nesterov();
    scalars.first = run.progress == 0;
    if (CpuFloat(core.layout)) {
      float* p = FloatsOf(core.layout.parameters);
      const float* g = reinterpret_cast<const float*>(run.gradient);
      float* b = FloatsOf(core.state[0]);
      finite = ParallelRange(run.begin, run.end, [&](int64_t from, int64_t to) {
        return kernels::SgdUpdate(p + from, g + (from - run.begin), momentum != 0 ? b + from : nullptr,
                                  to - from, scalars);
      }) && finite;
      continue;
    }
    // Whole-buffer tensor operations, in LibTorch's order, into preallocated scratch.
    const int64_t count = run.end - run.begin;
    torch::Tensor p = core.layout.parameters.narrow(0, run.begin, count);
    torch::Tensor d = core.scratch[0].narrow(0, run.begin, count);
    torch::Tensor b = core.state[0].narrow(0, run.begin, count);
    d.copy_(GradientsOf(run, core.layout));
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
  if (CpuFloat(core.layout)) last_check_ = finite ? GradientCheck::kFinite : GradientCheck::kNonFinite;
  if (momentum != 0) {
    for (size_t i = 0; i < parameters.size(); ++i) {
      if (core.progress[i] != 0) continue;
      auto state = std::make_unique<torch::optim::SGDParamState>();
      state->momentum_buffer(core.StateView(0, i, parameters[i]));
      this->state()[core.keys[i]] = std::move(state);
    }
  }
  return loss;
}

// ---- Adam and AdamW ----

template <typename Base>
FusedAdamOf<Base>::FusedAdamOf(const std::vector<torch::Tensor>& parameters, Options options)
    : Base(parameters, options), flat_(std::make_unique<detail::FlatCore>()) {}

template <typename Base>
FusedAdamOf<Base>::~FusedAdamOf() = default;

template <typename Base>
using AdamStateOf = std::conditional_t<std::is_same_v<Base, torch::optim::Adam>, torch::optim::AdamParamState,
                                       torch::optim::AdamWParamState>;

template <typename Base>
Status FusedAdamOf<Base>::Bind(const FlatLayout& layout) {
  AIMASS_RETURN_IF_ERROR(flat_->Bind(this->param_groups(), layout, /*buffers=*/2, /*scratches=*/2));
  const auto& parameters = this->param_groups()[0].params();
  for (size_t i = 0; i < parameters.size(); ++i) {
    auto* state = flat_->template Find<AdamStateOf<Base>>(this->state(), i);
    if (state == nullptr || state->max_exp_avg_sq().defined()) continue;  // AMSGrad: LibTorch's step
    state->exp_avg(flat_->Adopt(0, i, parameters[i], state->exp_avg()));
    state->exp_avg_sq(flat_->Adopt(1, i, parameters[i], state->exp_avg_sq()));
  }
  return Status::Ok();
}

template <typename Base>
bool FusedAdamOf<Base>::fused() const {
  const auto& options = static_cast<const Options&>(this->param_groups()[0].options());
  return !options.amsgrad() && flat_->Usable(this->param_groups());
}

template <typename Base>
void FusedAdamOf<Base>::load(torch::serialize::InputArchive& archive) {
  Base::load(archive);
  if (flat_->bound) (void)Bind(flat_->layout);
}

template <typename Base>
torch::Tensor FusedAdamOf<Base>::step(typename Base::LossClosure closure) {
  this->last_check_ = GradientCheck::kUnchecked;
  auto& group = this->param_groups()[0];
  const auto& options = static_cast<const Options&>(group.options());
  // (fused() less the layout walk, which Ready repeats with the gradients.)
  if (options.amsgrad() || !flat_->Ready(this->param_groups())) return Base::step(std::move(closure));
  using State = AdamStateOf<Base>;
  constexpr bool decoupled = std::is_same_v<Base, torch::optim::AdamW>;
  torch::NoGradGuard no_grad;
  torch::Tensor loss = RunClosure(closure);
  const auto& parameters = group.params();
  detail::FlatCore& core = *flat_;
  for (size_t i = 0; i < parameters.size(); ++i) {
    State* state = core.template Find<State>(this->state(), i);
    if (state == nullptr) {
      auto fresh = std::make_unique<State>();
      fresh->step(0);
      fresh->exp_avg(core.StateView(0, i, parameters[i]).zero_());
      fresh->exp_avg_sq(core.StateView(1, i, parameters[i]).zero_());
      state = fresh.get();
      this->state()[core.keys[i]] = std::move(fresh);
    } else {
      state->exp_avg(core.Adopt(0, i, parameters[i], state->exp_avg()));
      state->exp_avg_sq(core.Adopt(1, i, parameters[i], state->exp_avg_sq()));
    }
    state->step(state->step() + 1);
    core.progress[i] = state->step();
  }
  const double beta1 = std::get<0>(options.betas());
  const double beta2 = std::get<1>(options.betas());
  const double lr = options.lr();
  const double weight_decay = options.weight_decay();
  bool finite = true;
  for (const Run& run : core.Runs(parameters)) {
    const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(run.progress));
    const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(run.progress));
    const double step_size = lr / bias_correction1;
    if (CpuFloat(core.layout)) {
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
      float* p = FloatsOf(core.layout.parameters);
      const float* g = reinterpret_cast<const float*>(run.gradient);
      float* m = FloatsOf(core.state[0]);
      float* v = FloatsOf(core.state[1]);
      finite = ParallelRange(run.begin, run.end, [&](int64_t from, int64_t to) {
        return kernels::AdamUpdate(p + from, g + (from - run.begin), m + from, v + from, to - from, scalars);
      }) && finite;
      continue;
    }
    // Whole-buffer tensor operations, in LibTorch's order, into preallocated scratch.
    const int64_t count = run.end - run.begin;
    torch::Tensor p = core.layout.parameters.narrow(0, run.begin, count);
    torch::Tensor g = core.scratch[0].narrow(0, run.begin, count);
    torch::Tensor denom = core.scratch[1].narrow(0, run.begin, count);
    torch::Tensor m = core.state[0].narrow(0, run.begin, count);
    torch::Tensor v = core.state[1].narrow(0, run.begin, count);
    g.copy_(GradientsOf(run, core.layout));
    if (decoupled && weight_decay != 0) p.mul_(1 - lr * weight_decay);
    if (!decoupled && weight_decay != 0) g.add_(p, weight_decay);
    m.mul_(beta1).add_(g, 1 - beta1);
    v.mul_(beta2).addcmul_(g, g, 1 - beta2);
    at::sqrt_out(denom, v);
    denom.div_(std::sqrt(bias_correction2)).add_(options.eps());
    p.addcdiv_(m, denom, -step_size);
  }
  if (CpuFloat(core.layout)) this->last_check_ = finite ? GradientCheck::kFinite : GradientCheck::kNonFinite;
  return loss;
}

template class FusedAdamOf<torch::optim::Adam>;
template class FusedAdamOf<torch::optim::AdamW>;

}  // namespace aimass::worker
