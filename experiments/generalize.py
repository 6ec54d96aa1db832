r"""Compare methods by how they will be used: later years, unseen stations; pooled figures with intervals.

  python -m experiments.generalize --config=experiments/configs/generalization.py --config.workdir=runs/generalization

Writes ``<workdir>/generalization.md`` and ``.json`` (per-fold class counts, event
AUC of every method under every scheme, the forward folds and test years pooled with
95% event-resampling intervals, paired differences against the chosen physics
baseline, the methods chosen by the forward folds before the test years),
``<workdir>/predictions/<scheme>/<method>.csv`` (one probability per record) and a
run folder per network and fold under ``<workdir>/runs``; a rerun resumes.

With ``--export_pretrained=NAME`` the chosen method (``winner`` of generalization.json)
is refitted on every record of every year and shipped as ``ganet_jax/pretrained/NAME``
(``Classifier.pretrained(NAME)``, ``experiments.classify --pretrained=NAME``), whatever
its kind: a network (the ensemble of ``config.seeds``, trained in
``<workdir>/runs/<method>/all`` and ``all_seed_<s>``), or a physics feature model. The card holds the pooled forward figures with their intervals, the event rule
the forward folds chose (a learned rule fitted on the pooled forward predictions), the
data and preprocessing, and the limits. A stack of two methods has no shipped format:
its better part by the same rule is shipped instead, and the card says so.
"""

import pathlib

from absl import flags

from experiments import binary, configs
from ganet_jax import pretrained
from ganet_jax.studies.chosen_model import ship
from ganet_jax.studies.generalization import run_study

FLAGS = flags.FLAGS
CONFIG = configs.define_config_flag('generalization.py')
flags.DEFINE_string('export_pretrained', None, 'Ship the chosen method, refitted on every record, as '
                    'ganet_jax/pretrained/<name> (replacing a model of that name).')
flags.DEFINE_string('export_destination', None, 'With --export_pretrained: write to this folder instead of the '
                    'package\'s.')
flags.DEFINE_multi_string('limits', [], 'Further limits for the shipped model\'s card (repeat for several).')


def generalize(config) -> None:
  """Runs the study (``generalization.run_study``), prints its table, ships the chosen method if asked."""
  config_file = FLAGS['config'].config_filename
  if 'generalization' not in config:
    raise ValueError(f'--config={config_file}: has no generalization entry (try experiments/configs/generalization.py)')
  workdir = pathlib.Path(config.workdir or 'runs/generalization')
  recipes = configs.recipes(config, config_file, config.generalization.recipes, field='generalization.recipes')
  results = run_study(recipes, config.generalization, workdir, log=lambda line: print(line, flush=True))
  print((workdir / 'generalization.md').read_text(), flush=True)
  print(f'wrote {workdir / "generalization.md"}, {workdir / "generalization.json"}, {workdir / "predictions"}; '
        f'chosen: {results["winner"]}', flush=True)
  if FLAGS.export_pretrained:
    destination = pathlib.Path(FLAGS.export_destination or pretrained.PRETRAINED_ROOT / FLAGS.export_pretrained)
    print(f'shipped {ship(config, recipes, results, workdir, destination, FLAGS.limits)}', flush=True)


main = binary.main('generalization study', generalize, config=CONFIG)

if __name__ == '__main__':
  binary.run(main)
