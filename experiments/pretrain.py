r"""Self-supervised pretraining of GA-Net's encoder on unlabeled records (``ganet_jax.training.contrastive``).

  python -m experiments.prepare --input=../shared/data/pnw-unlabeled --records=records.csv --unlabeled \
      --bandpass=1,15 --window_s=40 --output=prepared/pnw-unlabeled-bp15-w40
  python -m experiments.pretrain --config=experiments/configs/small_data.py
  python -m experiments.train --config=experiments/configs/small_data.py \
      --config.init_from=runs/pretrain-pnw-unlabeled --config.workdir=runs/finetuned

Reads ``config.pretrain`` (dataset, workdir, epochs, batch_size, learning_rate,
weight_decay, temperature, projection_dim, seed, augmentation) and the encoder
``config.model``; the set's labels are not read, so any prepared set serves. Its
windows must be the classifier's (same window length, band and rate). Rerunning
with the same settings resumes from the last epoch.
"""

import pathlib

from absl import app

from experiments import configs, faults
from ganet_jax.data.dataset import load_records
from ganet_jax.errors import ConfigError
from ganet_jax.training.config import apply_overrides
from ganet_jax.training.experiment import experiment_config
from ganet_jax.training.contrastive import PretrainConfig, pretrain

CONFIG = configs.define_config_flag('small_data.py')


def pretrain_config(config) -> PretrainConfig:
  """The ``PretrainConfig`` of ``config.pretrain`` with the encoder of ``config.model``.

  Raises:
    ConfigError: naming ``--config.pretrain`` when the config has none or a field is bad.
  """
  if 'pretrain' not in config:
    raise ConfigError('pretrain', 'this config file has no pretrain section (see experiments/configs/small_data.py)')
  settings = experiment_config(config)
  fields = {k: v for k, v in config.pretrain.to_dict().items() if k not in ('dataset', 'workdir')}
  try:
    result = PretrainConfig(model=settings.model, model_overrides=settings.model_overrides, **fields)
  except TypeError as error:  # a field PretrainConfig does not have
    raise ConfigError('pretrain', str(error)) from error
  result.check()
  return result


def main(argv):
  with faults.one_line('pretraining'):
    _main(argv)


def _main(argv):
  configs.start(argv)
  config = CONFIG.value
  try:
    settings = pretrain_config(config)
    records = load_records(apply_overrides(config, {'dataset': config.pretrain.dataset}))
  except ConfigError as error:
    raise app.UsageError(str(error).replace('--config.dataset', '--config.pretrain.dataset')) from None
  workdir = pathlib.Path(config.pretrain.workdir)
  print(f'pretraining {settings.model} {settings.model_overrides or ""} on {len(records)} records of '
        f'{config.pretrain.dataset} (labels unused); writing to {workdir}', flush=True)
  try:
    history = pretrain(settings, records, workdir)
  except ValueError as error:
    raise app.UsageError(str(error)) from None
  except FloatingPointError as error:
    raise SystemExit(f'pretraining stopped: {error}') from None
  if history:
    print(f'done: NT-Xent loss {history[-1]["loss"]:.4f} after {history[-1]["epoch"]} epochs; '
          f'fine-tune with --config.init_from={workdir}', flush=True)


if __name__ == '__main__':
  app.run(main)
