r"""Compare training recipes by event-grouped cross-validation over the years before the test split.

  python -m experiments.cross_validate --config=experiments/configs/small_data.py
  python -m experiments.cross_validate --config=experiments/configs/small_data.py \
      --config.cv.recipes=small_data,no_augmentation --config.cv.num_folds=3 --config.workdir=runs/cv

The config's ``cv`` entry names the recipes (``RECIPES`` of the config file: each a set
of field changes to the config), the folds, the sources validated on and the physics
baseline's feature sets and data set. Every (recipe, fold) is a run folder under
``<workdir>/<recipe>/fold_<k>``, so a rerun resumes (``--config.cv.seeds=0,1,2``: each fold
scored as the ensemble of three seeds, the others in ``fold_<k>_seed_<s>``); ``<workdir>/cv.md`` and
``cv.json`` hold the table (mean ± sample std over folds of record and event AUC and
balanced accuracy) and the recipe with the best mean event AUC. The test years are
never read.
"""

import pathlib
import sys

import ml_collections
from absl import app, flags

from experiments import configs, faults
from ganet_jax.errors import ConfigError
from ganet_jax.studies.cross_validation import cross_validate
from ganet_jax.training.config import MAX_SEED, check_integer

FLAGS = flags.FLAGS
CONFIG = configs.define_config_flag('small_data.py')


def _seeds(values) -> tuple[int, ...]:
  try:
    seeds = tuple(int(v) for v in values)
  except (TypeError, ValueError):
    raise app.UsageError(f'--config.cv.seeds={values!r}: integers, e.g. --config.cv.seeds=0,1,2') from None
  for seed in seeds:
    check_integer('cv.seeds', seed, minimum=0, maximum=MAX_SEED)
  return seeds


def main(argv):
  with faults.one_line('cross-validation'):
    _main(argv)


def _main(argv):
  configs.start(argv)
  config = CONFIG.value
  if 'cv' not in config:
    raise app.UsageError(f'--config={FLAGS["config"].config_filename}: has no cv entry (try experiments/configs/small_data.py)')
  workdir = pathlib.Path(config.workdir or 'runs/cv')
  physics = None
  if config.cv.physics_feature_sets:
    physics = ml_collections.ConfigDict(config.to_dict())
    physics.dataset = config.cv.physics_dataset
  try:
    check_integer('cv.num_folds', config.cv.num_folds, minimum=2)
    check_integer('cv.seed', config.cv.seed, minimum=0, maximum=MAX_SEED)
    recipes = configs.recipes(config, FLAGS['config'].config_filename, config.cv.recipes)
    results = cross_validate(recipes, num_folds=config.cv.num_folds, seed=config.cv.seed, workdir=workdir,
                             validate_sources=tuple(config.cv.validate_sources), physics_config=physics,
                             physics_feature_sets=tuple(config.cv.physics_feature_sets),
                             seeds=_seeds(config.cv.get('seeds', ())),
                             progress=FLAGS.progress)
  except ConfigError as error:
    raise app.UsageError(str(error)) from None
  except ValueError as error:  # too few events of a class for the folds, a run folder of other settings
    raise app.UsageError(f'--config.cv: {error}') from None
  print((workdir / 'cv.md').read_text(), flush=True)
  print(f'best recipe by mean event AUC: {results["best"]}', flush=True)


if __name__ == '__main__':
  sys.exit(app.run(main))
