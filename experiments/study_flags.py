"""Flags and helpers every study binary shares: data, split, training settings, seeds, small mode.

The split is experiments/train.py's: chronological by event origin time, events
from --test_from on are the test split. --small swaps in tiny settings (see
``SMALL``) for every flag not given on the command line, so a whole study runs
on a CPU in about a minute; it is what the tests run.
"""

from __future__ import annotations

import datetime
import pathlib
import sys
from typing import Any, Sequence

from absl import app, flags, logging

from experiments import flag_parsing
from ganet_jax import studies
from ganet_jax.data.records import RecordSet, load_prepared
from ganet_jax.data.splits import chronological_split
from ganet_jax.data.synthetic import make_synthetic
from ganet_jax.training.config import ExperimentConfig

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Study folder (default: a new runs/<study>-<UTC time>); rerun to resume.')
flags.DEFINE_string('dataset', 'synthetic',
                    "'synthetic' (built in) or a prepared data-set folder (waveforms.npy + manifest.csv).")
flags.DEFINE_integer('epochs', 15, 'Training epochs (the paper: 15).', lower_bound=0)
flags.DEFINE_integer('batch_size', 32, 'Records per step.', lower_bound=1)
flags.DEFINE_float('learning_rate', 1e-5, 'Adam learning rate (the paper: 1e-5).', lower_bound=0)
flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds: one run per seed and configuration (mean and spread reported).')
flags.DEFINE_string('test_from', '2017-01-01', 'Events from this origin time on are the test split.')
flags.DEFINE_string('model_overrides', '{}',
                    'JSON object of model constructor fields applied to every GA-Net variant, '
                    'e.g. {"head_features": 64}.')
flags.DEFINE_integer('synthetic_events', 60, 'Events of the synthetic data set.', lower_bound=1)
flags.DEFINE_integer('synthetic_samples', 10000, 'Samples per synthetic record.', lower_bound=16)
flags.DEFINE_integer('data_seed', 0, 'Seed of the synthetic data set.')
flags.DEFINE_string('compilation_cache', None,
                    'Folder of the persistent XLA compilation cache (default: <workdir>/compilation_cache; '
                    "'' turns it off).")
flags.DEFINE_bool('small', False, 'Tiny synthetic data, short records, one epoch, narrow GA-Net: '
                  'for CPU smoke runs and the tests. Flags given explicitly still win.')

# Small mode: the value each flag takes unless it is given on the command line.
SMALL = {'epochs': 1, 'batch_size': 4, 'learning_rate': 1e-3, 'seeds': ['0'], 'synthetic_events': 40,
         'synthetic_samples': 256}
# A narrow GA-Net for small mode: one bottleneck and a 16-wide head (1.57M -> 5.7K parameters at 256 samples).
SMALL_GANET = {'num_bottlenecks': 1, 'head_features': 16}


def apply_small_mode(extra: dict[str, Any] | None = None) -> None:
  """With --small, set the ``SMALL`` (and a binary's ``extra``) values of every flag not given explicitly."""
  if not FLAGS.small:
    return
  for name, value in {**SMALL, **(extra or {})}.items():
    if not FLAGS[name].present:
      FLAGS[name].value = value


def start(argv: Sequence[str], small: dict[str, Any] | None = None) -> tuple[RecordSet, RecordSet, dict[str, Any]]:
  """A binary's first step: no stray arguments, small mode applied (with the binary's ``small`` values), data split.

  Returns:
    ``load_split()``'s (train, test, dataset identity).
  """
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  apply_small_mode(small)
  return load_split()


def list_flag(name: str, parse=str, known: Sequence[str] | None = None) -> list:
  """The list flag ``name``, each item through ``parse`` and, with ``known``, one of them (UsageError otherwise)."""
  values = FLAGS[name].value
  unknown = [v for v in values if known is not None and v not in known]
  if unknown:
    raise app.UsageError(f'--{name}: unknown {unknown}; known: {", ".join(known)}')
  try:
    return [parse(v) for v in values]
  except ValueError as error:
    raise app.UsageError(f'--{name}={",".join(values)}: {error}') from error


def seeds() -> list[int]:
  """--seeds as integers (raises UsageError naming the flag)."""
  return list_flag('seeds', int)


def ganet_overrides() -> dict[str, Any]:
  """Constructor fields for GA-Net variants: the small-mode narrowing, then --model_overrides."""
  return {**(SMALL_GANET if FLAGS.small else {}), **flag_parsing.model_overrides(FLAGS.model_overrides)}


def base_config(model: str = 'ganet', overrides: dict[str, Any] | None = None, **settings) -> ExperimentConfig:
  """The flags' training settings for ``model``.

  Args:
    model: a name in ``ganet_jax.models.MODELS``.
    overrides: the study's constructor fields, on top of ``ganet_overrides()`` for GA-Net variants.
    **settings: other ``ExperimentConfig`` fields (e.g. ``loss``).
  """
  overrides = {**(ganet_overrides() if model.startswith('ganet') else {}), **(overrides or {})}
  # Small mode: no precise BatchNorm pass, one compiled program less per model (the tests compile many).
  settings.setdefault('precise_batch_norm', not FLAGS.small)
  return ExperimentConfig(model=model, model_overrides=overrides, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size,
                          learning_rate=FLAGS.learning_rate, **settings)


def load_split() -> tuple[RecordSet, RecordSet, dict[str, Any]]:
  """(train, test, dataset identity) from --dataset and --test_from (raises UsageError naming the flag)."""
  if FLAGS.dataset == 'synthetic':
    settings = dict(num_events=FLAGS.synthetic_events, seed=FLAGS.data_seed, samples=FLAGS.synthetic_samples)
    records = make_synthetic(**settings)
  else:
    if not pathlib.Path(FLAGS.dataset).is_dir():
      raise app.UsageError(f"--dataset={FLAGS.dataset}: not 'synthetic' and not a folder")
    settings = {}
    try:
      records = load_prepared(FLAGS.dataset)
    except (FileNotFoundError, ValueError) as error:
      raise app.UsageError(f'--dataset={FLAGS.dataset}: {error}') from error
  try:
    splits = chronological_split(records, [FLAGS.test_from], ('train', 'test'))
  except ValueError as error:
    raise app.UsageError(f'--test_from={FLAGS.test_from}: {error}') from error
  for name, index in splits.items():
    if len(index) == 0:
      raise app.UsageError(f'--test_from={FLAGS.test_from}: the {name} split of --dataset={FLAGS.dataset} is empty')
  identity = studies.dataset_identity(FLAGS.dataset, **settings)
  return records.subset(splits['train']), records.subset(splits['test']), identity


def run(name: str, configurations: Sequence[studies.Configuration], test: RecordSet, dataset: dict[str, Any], *,
        columns: Sequence[str], figure: studies.Figure | None = None, title: str | None = None) -> dict[str, Any]:
  """Run the study in --workdir with --seeds, recording the flags and the data set as provenance."""
  if not FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every file it writes at INFO
  workdir = pathlib.Path(FLAGS.workdir or f'runs/{name}-{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}')
  cache = workdir / 'compilation_cache' if FLAGS.compilation_cache is None else FLAGS.compilation_cache
  if cache:
    studies.use_compilation_cache(cache)
  provenance = {'flags': _flag_values(), 'dataset': dataset}
  return studies.run_study(name, configurations, test, seeds=seeds(), workdir=workdir, provenance=provenance,
                         columns=columns, figure=figure, title=title, log=lambda line: print(line, flush=True))


def _flag_values() -> dict[str, Any]:
  """The study's flags (these and the binary's; not absl's or orbax's) with the values in effect."""
  # absl files a __main__ module's flags under sys.argv[0].
  ours = lambda module: module == sys.argv[0] or module.split('.')[0] == 'experiments'
  return {flag.name: flag.value for module, module_flags in FLAGS.flags_by_module_dict().items() if ours(module)
          for flag in module_flags}
