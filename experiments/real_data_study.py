r"""The real-data study: GA-Net learning from a few dozen real events, against honest references.

  python -m experiments.real_data_study --config=experiments/configs/small_data.py --export_pretrained=pnw-ganet

The config (default ``experiments/configs/small_data.py``) gives the recipe (its data
set, split, training fields, seeds) and a ``study`` entry. Every method is trained on
the training split (train < split.validation_from <= validation < split.test_from <=
test, by event) and evaluated on the test split:
  - GA-Net with the paper's settings (``paper.py``) on ``study.paper_dataset``;
  - each ``study.models`` network with the recipe, once per ``config.seeds`` seed
    (mean ± sample std over seeds), and GA-Net's seed ensemble (their mean
    probability, evaluated in one compiled call over the stacked members);
  - the physics baseline on ``study.physics_dataset`` with ``study.physics_features``
    (the feature set the cross-validation chose);
  - confound controls: P(tectonic) looked up from the station, the instrument or the
    year alone (``evaluation.controls``);
and writes <workdir>/study.json and study.md (record- and event-level tables, the
ensemble by station), attention figures of a few right and wrong test events
(<workdir>/attention/), and with ``--export_pretrained=NAME`` ships the ensemble's
inference variables as ``ganet_jax/pretrained/NAME`` (its card described with ``study.card_note``). Run folders
(<workdir>/<method>-seed<s>) resume. Nothing is chosen on the test split: the
recipe and the physics features come from ``experiments.cross_validate``, the
threshold is 0.5.
"""

from __future__ import annotations

import pathlib

from absl import flags

from experiments import binary, configs
from experiments.configs import pnw
from ganet_jax import pretrained
from ganet_jax.studies.real_data import Transfer, markdown, parse_transfer, study
from ganet_jax.training.config import apply_overrides

FLAGS = flags.FLAGS
CONFIG = configs.define_config_flag('small_data.py')
flags.DEFINE_list('transfer', [], 'name=prepared folder pairs (prepared like the recipe\'s data set) evaluated with '
                  'the recipe\'s GA-Net ensemble.')
flags.DEFINE_list('group_events_by_origin', ['eus-sac'], '--transfer sets without event ids whose records are '
                  'grouped into events by origin time rounded to the second (their per-file origins differ by '
                  'microseconds, so the ids prepare derives from them split one event into several).')
flags.DEFINE_string('transfer_components', 'Z', 'Components of the --transfer records kept, the others zero-filled: '
                    "'Z' shows 3-component records as the vertical-only training records looked.")
flags.DEFINE_string('export_pretrained', None, 'Ship the recipe\'s GA-Net seed ensemble as '
                    'ganet_jax/pretrained/<name> (replacing it).')


def study_and_report(config) -> None:
  """Runs the study of the config's recipe (``studies.real_data.study``) and prints its tables."""
  config_file = FLAGS['config'].config_filename
  if 'study' not in config:
    raise ValueError(f'--config: {config_file} has no study entry (try experiments/configs/small_data.py)')
  recipe = configs.recipes(config, config_file, config.study.recipe, field='study.recipe')[0].config
  paper = apply_overrides(pnw.get_config(), {'dataset': config.study.paper_dataset,
                                              'seeds': tuple(config.study.paper_seeds)})
  transfer = Transfer(parse_transfer(FLAGS.transfer), FLAGS.group_events_by_origin, FLAGS.transfer_components)
  export = pretrained.PRETRAINED_ROOT / FLAGS.export_pretrained if FLAGS.export_pretrained else None
  workdir = pathlib.Path(config.workdir or 'runs/pnw_study')
  report = study(recipe, paper, workdir, transfer=transfer, export=export, source=config_file,
                 progress=FLAGS.progress)
  print(markdown(report))
  print(f'-> {workdir / "study.json"}, {workdir / "study.md"}')


main = binary.main('real-data study', study_and_report, config=CONFIG)

if __name__ == '__main__':
  binary.run(main)
