#include "common/config/train_spec_codec.h"

#include "common/aimass.pb.h"

namespace aimass {

void EncodeTrainConfig(const TrainConfig& config, proto::TrainSpec* spec) {
  spec->set_run_dir(config.run_dir);
  auto* model = spec->mutable_model();
  model->set_name(config.model.name);
  model->clear_input_shape();
  for (int64_t dim : config.model.input_shape) model->add_input_shape(dim);
  model->set_num_classes(config.model.num_classes);

  auto* optimizer = spec->mutable_optimizer();
  optimizer->set_name(config.optimizer.name);
  optimizer->set_lr(config.optimizer.lr);
  optimizer->set_momentum(config.optimizer.momentum);
  optimizer->set_nesterov(config.optimizer.nesterov);
  optimizer->set_dampening(config.optimizer.dampening);
  optimizer->set_weight_decay(config.optimizer.weight_decay);
  optimizer->set_beta1(config.optimizer.beta1);
  optimizer->set_beta2(config.optimizer.beta2);
  optimizer->set_eps(config.optimizer.eps);

  auto* schedule = spec->mutable_schedule();
  schedule->set_name(config.schedule.name);
  schedule->set_warmup_steps(config.schedule.warmup_steps);
  schedule->set_step_size(config.schedule.step_size);
  schedule->set_gamma(config.schedule.gamma);
  schedule->set_min_lr(config.schedule.min_lr);

  auto* normalize = spec->mutable_normalize();
  normalize->set_scale(config.data.normalize.scale);
  normalize->set_mean(config.data.normalize.mean);
  normalize->set_std(config.data.normalize.std);

  spec->set_batch_size(config.batch_size);
  spec->set_grad_accumulation(config.grad_accumulation);
  spec->set_seed(config.seed);
  spec->set_epochs(config.epochs);
  spec->set_log_every(config.log_every);
  spec->set_on_nonfinite(config.on_nonfinite);
  spec->set_checkpoint_every(config.checkpoint.every_steps);
  spec->set_checkpoint_every_seconds(config.checkpoint.every_seconds);
  spec->set_checkpoint_keep(config.checkpoint.keep);
  spec->set_device(config.worker.device);
  spec->set_threads(config.worker.threads);
  spec->set_backend(config.worker.backend);
  spec->set_prefetch_batches(config.data.prefetch_batches);
  spec->set_loader_threads(config.data.loader_threads);
  spec->set_cache_bytes(config.data.cache_bytes);
  spec->set_bucket_mb(config.gradient_sync.bucket_mb);
  spec->set_first_bucket_mb(config.gradient_sync.first_bucket_mb);
  spec->set_overlap(config.gradient_sync.overlap);
  spec->set_compression(config.gradient_sync.compression);
}

TrainConfig DecodeTrainConfig(const proto::TrainSpec& spec) {
  TrainConfig config;
  config.run_dir = spec.run_dir();
  config.model.name = spec.model().name();
  config.model.input_shape.assign(spec.model().input_shape().begin(),
                                  spec.model().input_shape().end());
  config.model.num_classes = spec.model().num_classes();

  config.optimizer.name = spec.optimizer().name();
  config.optimizer.lr = spec.optimizer().lr();
  config.optimizer.momentum = spec.optimizer().momentum();
  config.optimizer.nesterov = spec.optimizer().nesterov();
  config.optimizer.dampening = spec.optimizer().dampening();
  config.optimizer.weight_decay = spec.optimizer().weight_decay();
  config.optimizer.beta1 = spec.optimizer().beta1();
  config.optimizer.beta2 = spec.optimizer().beta2();
  config.optimizer.eps = spec.optimizer().eps();

  config.schedule.name = spec.schedule().name();
  config.schedule.warmup_steps = spec.schedule().warmup_steps();
  config.schedule.step_size = spec.schedule().step_size();
  config.schedule.gamma = spec.schedule().gamma();
  config.schedule.min_lr = spec.schedule().min_lr();

  config.data.normalize.scale = spec.normalize().scale();
  config.data.normalize.mean = spec.normalize().mean();
  config.data.normalize.std = spec.normalize().std();
  config.data.prefetch_batches = spec.prefetch_batches();
  config.data.loader_threads = spec.loader_threads();
  config.data.cache_bytes = spec.cache_bytes();

  config.batch_size = spec.batch_size();
  config.grad_accumulation = spec.grad_accumulation();
  config.seed = spec.seed();
  config.epochs = spec.epochs();
  config.log_every = spec.log_every();
  config.on_nonfinite = spec.on_nonfinite().empty() ? "fail" : spec.on_nonfinite();
  config.checkpoint.every_steps = spec.checkpoint_every();
  config.checkpoint.every_seconds = spec.checkpoint_every_seconds();
  config.checkpoint.keep = spec.checkpoint_keep();
  config.worker.device = spec.device();
  config.worker.threads = spec.threads();
  config.worker.backend = spec.backend();
  config.gradient_sync.bucket_mb = spec.bucket_mb();
  config.gradient_sync.first_bucket_mb = spec.first_bucket_mb();
  config.gradient_sync.overlap = spec.overlap();
  config.gradient_sync.compression = spec.compression();
  return config;
}

}  // namespace aimass
