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

from absl import flags

from experiments import binary, configs
from ganet_jax.studies.cross_validation import cross_validate_config

FLAGS = flags.FLAGS
CONFIG = configs.define_config_flag('small_data.py')


def cross_validate_and_report(config) -> None:
  """Cross-validates the config's ``cv.recipes`` (``cross_validate_config``) and prints the table."""
  config_file = FLAGS['config'].config_filename
  if 'cv' not in config:
    raise ValueError(f'--config={config_file}: has no cv entry (try experiments/configs/small_data.py)')
  recipes = configs.recipes(config, config_file, config.cv.recipes)
  results, workdir = cross_validate_config(config, recipes, progress=FLAGS.progress)
  print((workdir / 'cv.md').read_text(), flush=True)
  print(f'best recipe by mean event AUC: {results["best"]}', flush=True)


main = binary.main('cross-validation', cross_validate_and_report, config=CONFIG)

if __name__ == '__main__':
  binary.run(main)
