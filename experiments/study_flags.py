"""What every study binary shares: the --config flag, small mode, the data split, running and provenance.

A study reads the same config as ``experiments.train`` (``--config``, default
``experiments/configs/paper.py``; ``--config.seeds`` gives its seeds) and uses its
training and test splits (records between split.validation_from and split.test_from,
if given, are left out). ``--small`` shrinks the config with the small recipe
(``experiments/configs/small.py``) and sets the binary's own flags to their small
values, in both cases except where given on the command line, so a whole study runs
on a CPU in about a minute; it is what the tests run.
"""

from __future__ import annotations

import datetime
import json
import pathlib
import sys
from typing import Any, Sequence

from absl import flags
from ml_collections import config_flags

from experiments import binary, configs
from experiments.configs import small as small_config
from ganet_jax import studies
from ganet_jax.data.dataset import dataset_identity, load_split
from ganet_jax.data.records import RecordSet
from ganet_jax.errors import ConfigError
from ganet_jax.studies.run import TABLE_FILE
from ganet_jax.training.config import MAX_SEED, ExperimentConfig, check_integer
from ganet_jax.training.experiment import experiment_config

FLAGS = flags.FLAGS
flags.DEFINE_bool('small', False, 'Tiny synthetic data, short records, one epoch, narrow GA-Net '
                  '(experiments/configs/small.py and the binary\'s small flag values): for CPU smoke runs and the '
                  'tests. Settings given explicitly still win.')


def define_config_flag(default: str = 'paper.py'):
  """The binary's --config flag, a file of experiments/configs/ by default (each binary calls it at import)."""
  return configs.define_config_flag(default)


def config():
  """The --config value (with small mode applied once ``start`` has run)."""
  return FLAGS.config


def start(small: dict[str, Any] | None = None) -> tuple[RecordSet, RecordSet, dict[str, Any]]:
  """A study's first step after ``binary.start``: small mode applied (with the binary's ``small`` flags), data split.

  Returns:
    (train, test, dataset identity).

  Raises:
    ConfigError: a bad seed or data set, naming it.
  """
  binary.checked_config(FLAGS.config, FLAGS['config'].config_filename)
  if FLAGS.small:
    small_config.shrink(FLAGS.config)
    FLAGS.config.update_from_flattened_dict(config_flags.get_override_values(FLAGS['config']))  # given ones win
    for name, value in (small or {}).items():
      if not FLAGS[name].present:
        FLAGS[name].value = value
  check_seeds('seeds', config().seeds)
  split = load_split(config())
  return split.train, split.test, dataset_identity(config())


def check_seeds(field: str, seeds) -> tuple[int, ...]:
  """``seeds`` as a tuple, each an integer seed (ConfigError naming ``--config.<field>`` otherwise); at least one."""
  seeds = tuple(seeds) if isinstance(seeds, (list, tuple)) else (seeds,)
  if not seeds:
    raise ConfigError(field, 'no seeds; give at least one, e.g. --config.seeds=0,1,2')
  for seed in seeds:
    check_integer(field, seed, minimum=0, maximum=MAX_SEED)
  return seeds


def list_flag(name: str, parse=str, known: Sequence[str] | None = None) -> list:
  """The list flag ``name``, each item through ``parse`` and, with ``known``, one of them (ValueError naming it otherwise)."""
  values = FLAGS[name].value
  unknown = [v for v in values if known is not None and v not in known]
  if unknown:
    raise ValueError(f'--{name}: unknown {unknown}; known: {", ".join(known)}')
  try:
    return [parse(v) for v in values]
  except ValueError as error:
    raise ValueError(f'--{name}={",".join(values)}: {error}') from None


def base_config(model: str | None = None, overrides: dict[str, Any] | None = None, **settings) -> ExperimentConfig:
  """The config's run settings for one of the study's rows (``experiment_config``; ConfigError on a bad setting).

  Args:
    model: a name in ``ganet_jax.models.MODELS``; None: ``config.model.name``.
    overrides: the row's constructor fields.
    **settings: other ``ExperimentConfig`` fields (e.g. ``loss``).
  """
  return experiment_config(config(), model=model, model_overrides=overrides, **settings)


def run(name: str, configurations: Sequence[studies.Configuration], test: RecordSet, dataset: dict[str, Any], *,
        columns: Sequence[str], figure: studies.Figure | None = None, title: str | None = None) -> dict[str, Any]:
  """Run the study in config.workdir with config.seeds, recording the config, flags and data set as provenance.

  Prints the table and every file and run folder the study wrote; a smoke run's (``smoke_run``)
  table and figure are stamped as such.
  """
  settings = config()
  workdir = pathlib.Path(settings.workdir or
                         f'runs/{name}-{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}')
  provenance = {'config': json.loads(settings.to_json_best_effort()), 'flags': _flag_values(), 'dataset': dataset}
  results = studies.run_study(name, configurations, test, seeds=list(settings.seeds), workdir=workdir,
                              provenance=provenance, columns=columns, figure=figure, title=title,
                              smoke_run=smoke_run(settings), progress=FLAGS.progress)
  print((workdir / TABLE_FILE).read_text(), flush=True)
  print('wrote:')
  for path in studies.study_outputs(workdir, results):
    print(f'  {path}/  (run folder)' if path.is_dir() else f'  {path}')
  return results


def smoke_run(settings) -> str | None:
  """The smoke-run stamp when the study's numbers cannot be the paper's, else None.

  A smoke run: --small, the small config file (experiments/configs/small.py), or synthetic data.
  """
  synthetic = settings.dataset == 'synthetic'
  small_file = pathlib.Path(FLAGS['config'].config_filename.split(':')[0]).name == 'small.py'
  if not (FLAGS.small or small_file or synthetic):
    return None
  epochs = f'{settings.epochs} epoch{"s" if settings.epochs != 1 else ""}'
  return studies.smoke_note(f'{"synthetic data" if synthetic else "small mode"}, {epochs}')


def _flag_values() -> dict[str, Any]:
  """The study's own flags (these and the binary's; not --config, absl's or orbax's) with the values in effect."""
  # absl files a __main__ module's flags under sys.argv[0].
  ours = lambda module: module == sys.argv[0] or module.split('.')[0] == 'experiments'
  return {flag.name: flag.value for module, module_flags in FLAGS.flags_by_module_dict().items() if ours(module)
          for flag in module_flags if flag.name != 'config' and not flag.name.startswith('config.')}
