r"""Compare methods by how they will be used: later years, unseen stations; pooled figures with intervals.

  python -m experiments.generalize --config=experiments/configs/generalization.py --config.workdir=runs/generalization

Writes ``<workdir>/generalization.md`` and ``.json`` (per-fold class counts, event
AUC of every method under every scheme, the forward folds and test years pooled with
95% event-resampling intervals, paired differences against the chosen physics
baseline, the methods chosen by the forward folds before the test years),
``<workdir>/predictions/<scheme>/<method>.csv`` (one probability per record) and a
run folder per network and fold under ``<workdir>/runs``; a rerun resumes.
"""

import pathlib
import sys

from absl import app, flags

from experiments import configs
from ganet_jax.errors import ConfigError
from ganet_jax.studies.generalization import run_study

FLAGS = flags.FLAGS
CONFIG = configs.define_config_flag('generalization.py')


def main(argv):
  configs.start(argv)
  config = CONFIG.value
  if 'generalization' not in config:
    raise app.UsageError(f'--config={FLAGS["config"].config_filename}: has no generalization entry '
                         f'(try experiments/configs/generalization.py)')
  workdir = pathlib.Path(config.workdir or 'runs/generalization')
  try:
    recipes = configs.recipes(config, FLAGS['config'].config_filename, config.generalization.recipes)
    results = run_study(recipes, config.generalization, workdir, log=lambda line: print(line, flush=True))
  except ConfigError as error:
    raise app.UsageError(str(error)) from None
  print((workdir / 'generalization.md').read_text(), flush=True)
  print(f'wrote {workdir / "generalization.md"}, {workdir / "generalization.json"}, {workdir / "predictions"}; '
        f'chosen: {results["winner"]}', flush=True)


if __name__ == '__main__':
  sys.exit(app.run(main))
