r"""Train and evaluate a network; with no flags, GA-Net on the built-in synthetic data.

  python -m experiments.train                       # the main job (~5-10 min on a 2-core CPU)
  python -m experiments.train --dataset=prepared/pnw --model=ganet --epochs=15 \
      --test_from=2020-01-01 --workdir=runs/pnw

The records are split chronologically by event origin time: train < --validation_from
(when given) <= validation < --test_from <= test. Rerunning with the same flags and
--workdir resumes from the last checkpoint. See ``ganet_jax.training.experiment`` for what
the run folder holds.
"""

import datetime
import pathlib
import sys

from absl import app, flags, logging

from experiments import flag_parsing
from ganet_jax.data.records import RecordSet, load_prepared
from ganet_jax.data.splits import chronological_split
from ganet_jax.data.synthetic import make_synthetic
from ganet_jax.models import MODELS
from ganet_jax.sharding import initialize_distributed
from ganet_jax.training.config import LOSSES, ExperimentConfig
from ganet_jax.training.experiment import run

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Run folder (default: a new runs/train-<UTC time>).')
flags.DEFINE_string('dataset', 'synthetic',
                    "'synthetic' (built in) or a prepared data-set folder (waveforms.npy + manifest.csv).")
flags.DEFINE_enum('model', 'ganet', sorted(MODELS), 'Network to train.')
flags.DEFINE_string('model_overrides', '{}', 'JSON object of model constructor fields, e.g. {"num_bottlenecks": 3}.')
flags.DEFINE_integer('epochs', 15, 'Training epochs (the paper: 15).', lower_bound=0)
flags.DEFINE_integer('batch_size', 32, 'Records per step.', lower_bound=1)
flags.DEFINE_float('learning_rate', 1e-5, 'Adam learning rate (the paper: 1e-5).', lower_bound=0)
flags.DEFINE_enum('loss', 'cross_entropy', LOSSES, 'Training loss.')
flags.DEFINE_float('focal_gamma', 2.0, 'Focal loss exponent (with --loss=focal).', lower_bound=0)
flags.DEFINE_integer('num_devices', None, 'Devices to spread each batch over (data parallel); default: every '
                     'accelerator, or 1 on CPU.', lower_bound=1)
flags.DEFINE_enum('compute_dtype', 'float32', ['float32', 'bfloat16'], 'bfloat16: mixed precision (float32 '
                  'parameters, optimizer state and loss).')
flags.DEFINE_string('coordinator_address', None, 'host:port of process 0 for a multi-process run '
                    '(or GANET_COORDINATOR); see ganet_jax.sharding.initialize_distributed.')
flags.DEFINE_integer('num_processes', None, 'Processes of a multi-process run (or GANET_NUM_PROCESSES).')
flags.DEFINE_integer('process_id', None, 'This process\'s index (or GANET_PROCESS_ID).')
flags.DEFINE_integer('seed', 0, 'Seed of initialisation, record order and dropout.')
flags.DEFINE_string('test_from', '2017-01-01', 'Events from this origin time on are the test split.')
flags.DEFINE_string('validation_from', None, 'Events from this time to --test_from are the validation split.')
flags.DEFINE_integer('synthetic_events', 55, 'Events of the synthetic data set.', lower_bound=1)
flags.DEFINE_integer('synthetic_samples', 10000, 'Samples per synthetic record.', lower_bound=16)
flags.DEFINE_integer('data_seed', 0, 'Seed of the synthetic data set.')


def load_records(dataset: str) -> RecordSet:
  """The synthetic set or a prepared folder (raises UsageError naming --dataset)."""
  if dataset == 'synthetic':
    return make_synthetic(FLAGS.synthetic_events, seed=FLAGS.data_seed, samples=FLAGS.synthetic_samples)
  if not pathlib.Path(dataset).is_dir():
    raise app.UsageError(f"--dataset={dataset}: not 'synthetic' and not a folder")
  try:
    return load_prepared(dataset)
  except (FileNotFoundError, ValueError) as error:
    raise app.UsageError(f'--dataset={dataset}: {error}') from error


def split_records(records: RecordSet) -> tuple[RecordSet, RecordSet, RecordSet | None]:
  """Chronological train / (validation) / test records (raises UsageError naming the flag)."""
  names = ('train', 'validation', 'test') if FLAGS.validation_from else ('train', 'test')
  boundaries = [FLAGS.validation_from, FLAGS.test_from] if FLAGS.validation_from else [FLAGS.test_from]
  try:
    splits = chronological_split(records, boundaries, names)
  except ValueError as error:
    raise app.UsageError(f'--test_from/--validation_from: {error}') from error
  for name, index in splits.items():
    if len(index) == 0:
      raise app.UsageError(f'--test_from={FLAGS.test_from} --validation_from={FLAGS.validation_from}: '
                           f'the {name} split has no records')
  validation = records.subset(splits['validation']) if 'validation' in splits else None
  return records.subset(splits['train']), records.subset(splits['test']), validation


def make_workdir(workdir: str | None) -> pathlib.Path:
  """The run folder, created and checked writable (raises UsageError naming --workdir)."""
  if workdir is None:
    workdir = f'runs/train-{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}'
  path = pathlib.Path(workdir)
  try:
    path.mkdir(parents=True, exist_ok=True)
    probe = path / '.write-test'
    probe.write_text('')
    probe.unlink()
  except OSError as error:
    raise app.UsageError(f'--workdir={workdir}: not writable ({error})') from error
  return path


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  overrides = flag_parsing.model_overrides(FLAGS.model_overrides)
  if not FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every file it writes at INFO
  initialize_distributed(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  workdir = make_workdir(FLAGS.workdir)
  train, test, validation = split_records(load_records(FLAGS.dataset))
  config = ExperimentConfig(model=FLAGS.model, model_overrides=overrides, epochs=FLAGS.epochs,
                            batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate, loss=FLAGS.loss,
                            focal_gamma=FLAGS.focal_gamma, seed=FLAGS.seed, num_devices=FLAGS.num_devices,
                            compute_dtype=FLAGS.compute_dtype)
  try:
    config.check()
    config.mesh()
  except ValueError as error:
    raise app.UsageError(str(error)) from error
  print(f'{FLAGS.model}: {len(train)} training records {train.class_counts()} (tectonic, non-tectonic), '
        f'{len(test)} test records {test.class_counts()}; writing to {workdir}', flush=True)
  try:
    result = run(config, train, test, workdir, validation=validation, log=lambda line: print(line, flush=True))
  except ValueError as error:  # too few records for a batch, a run folder of another run
    raise app.UsageError(str(error)) from None
  except FloatingPointError as error:  # names the epoch and step
    raise SystemExit(f'training stopped: {error}') from None
  print(f'test: accuracy {result["accuracy"]:.4f}  sensitivity {result["sensitivity"]:.4f}  '
        f'specificity {result["specificity"]:.4f}  AUC {result["auc"]:.4f}  '
        f'events {result["events"]["accuracy"]:.4f}; {workdir / "metrics.json"}', flush=True)


if __name__ == '__main__':
  sys.exit(app.run(main))
