r"""Train and evaluate a network; with no flags, GA-Net with the paper's settings on the built-in synthetic data.

  python -m experiments.train                       # the paper's 1e-5: learns slowly (README)
  python -m experiments.train --config.learning_rate=1e-3
  python -m experiments.train --config=experiments/configs/paper.py:cnn_zhu2023 --config.dataset=prepared/pnw \
      --config.split.test_from=2020-01-01 --config.workdir=runs/pnw

The settings are a config file (``--config``, default ``experiments/configs/paper.py``)
with ``--config.<field>`` overrides. The records are split chronologically by event
origin time: train < split.validation_from (when given) <= validation < split.test_from
<= test. Rerunning with the same settings and workdir resumes from the last checkpoint.
See ``ganet_jax.training.experiment`` for what the run folder holds.
"""

import datetime
import pathlib
import sys

from absl import app, flags

from experiments import configs, faults
from ganet_jax.data.dataset import load_split
from ganet_jax.errors import ConfigError
from ganet_jax.sharding import initialize_distributed, run_mesh
from ganet_jax.training.experiment import experiment_config, run

FLAGS = flags.FLAGS
CONFIG = configs.define_config_flag()
flags.DEFINE_string('coordinator_address', None, 'host:port of process 0 for a multi-process run '
                    '(or GANET_COORDINATOR); see ganet_jax.sharding.initialize_distributed.')
flags.DEFINE_integer('num_processes', None, 'Processes of a multi-process run (or GANET_NUM_PROCESSES).')
flags.DEFINE_integer('process_id', None, 'This process\'s index (or GANET_PROCESS_ID).')


def make_workdir(workdir: str | None) -> pathlib.Path:
  """The run folder, created and checked writable (raises UsageError naming --config.workdir)."""
  if workdir is None:
    workdir = f'runs/train-{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}'
  path = pathlib.Path(workdir)
  try:
    path.mkdir(parents=True, exist_ok=True)
    probe = path / '.write-test'
    probe.write_text('')
    probe.unlink()
  except OSError as error:
    raise app.UsageError(f'--config.workdir={workdir}: not writable ({error})') from error
  return path


def main(argv):
  with faults.one_line('training'):
    _main(argv)


def _main(argv):
  configs.start(argv)
  config = CONFIG.value
  initialize_distributed(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  try:
    settings = experiment_config(config)
    try:
      run_mesh(settings.num_devices, settings.batch_size)
    except ValueError as error:
      raise ConfigError('num_devices', str(error)) from error
    workdir = make_workdir(config.workdir)
    train, validation, test = load_split(config)
  except ConfigError as error:
    raise app.UsageError(str(error)) from None
  print(f'{settings.model}: {len(train)} training records {train.class_counts()} (tectonic, non-tectonic), '
        f'{len(test)} test records {test.class_counts()}; writing to {workdir}', flush=True)
  try:
    result = run(settings, train, test, workdir, validation=validation, progress=FLAGS.progress)
  except ValueError as error:  # too few records for a batch, a run folder of another run
    raise app.UsageError(str(error)) from None
  except FloatingPointError as error:  # names the epoch and step
    raise SystemExit(f'training stopped: {error}') from None
  print(f'test: accuracy {result["accuracy"]:.4f}  sensitivity {result["sensitivity"]:.4f}  '
        f'specificity {result["specificity"]:.4f}  AUC {result["auc"]:.4f}  '
        f'events {result["events"]["accuracy"]:.4f}; {workdir / "metrics.json"}', flush=True)


if __name__ == '__main__':
  sys.exit(app.run(main))
