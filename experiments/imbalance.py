r"""Section IV-E, Fig. 7: GA-Net trained on sets of increasing class imbalance.

  python -m experiments.imbalance --strategy=1          # 200/200, 400/200, 1000/200, 2000/200
  python -m experiments.imbalance --strategy=2          # 400 records: 200/200, 267/133, 333/67, 364/36
  python -m experiments.imbalance --strategy=1 --small  # CPU smoke run (--base=4, --total=22)

The sets are drawn from the training split (``ganet_jax.data.imbalance``), anew for
each seed; strategy 1's sets are nested within a seed. Every ratio is evaluated
on the same test split. The network is the config's (``--config=experiments/configs/imbalance.py:<model>``);
the default config, ``experiments/configs/imbalance.py``, is the paper's with 1500
synthetic events, enough records for strategy 1 at 10:1.
"""

from absl import flags
import numpy as np

from experiments import binary, study_flags
from ganet_jax import studies
from ganet_jax.conventions import NON_TECTONIC, TECTONIC
from ganet_jax.data import imbalance

FLAGS = flags.FLAGS
CONFIG = study_flags.define_config_flag('imbalance.py')
flags.DEFINE_enum('strategy', None, ['1', '2'], '1: increasing data set; 2: constant data set.')
flags.DEFINE_list('ratios', ['1', '2', '5', '10'], 'Tectonic : non-tectonic ratios (x:1), increasing.')
flags.DEFINE_integer('base', 200, 'Strategy 1: records of each class in the 1:1 set.', lower_bound=1)
flags.DEFINE_integer('total', 400, 'Strategy 2: records in every set.', lower_bound=2)
flags.mark_flag_as_required('strategy')

SMALL = {'base': 4, 'total': 22}
COUNTS = 'Training records (tectonic/non-tectonic)'
PANELS = {'1': ('(a)', 'Strategy 1: increasing dataset'), '2': ('(b)', 'Strategy 2: constant dataset')}


def _counts(labels) -> str:
  return f'{int(np.sum(labels == TECTONIC))}/{int(np.sum(labels == NON_TECTONIC))}'


def training_sets(labels, ratios, seed):
  """{ratio: indices into the training split} of --strategy for one seed."""
  if FLAGS.strategy == '1':
    return imbalance.strategy1_sets(labels, ratios, base=FLAGS.base, seed=seed)
  return imbalance.strategy2_sets(labels, ratios, total=FLAGS.total, seed=seed)


def study():
  pool, test, dataset = study_flags.start(SMALL)
  ratios = study_flags.list_flag('ratios', float)
  if ratios != sorted(set(ratios)) or ratios[0] <= 0:
    raise ValueError(f'--ratios={",".join(FLAGS.ratios)}: need distinct positive ratios in increasing order')
  try:  # the shortfall, if any, before anything trains
    first = training_sets(pool.labels, ratios, study_flags.config().seeds[0])
  except ValueError as error:
    raise ValueError(f'--config.dataset={study_flags.config().dataset} --strategy={FLAGS.strategy} '
                         f'(--base={FLAGS.base}, --total={FLAGS.total}, --ratios={",".join(FLAGS.ratios)}): '
                         f'training split: {error}') from error
  config = study_flags.base_config()
  configurations = [
      studies.Configuration(name=f'ratio_{ratio:g}', label=f'{ratio:g}:1', config=config,
                          train=lambda seed, ratio=ratio: pool.subset(training_sets(pool.labels, ratios, seed)[ratio]),
                          details={'ratio': ratio, COUNTS: _counts(pool.labels[first[ratio]])})
      for ratio in ratios]
  panel, title = PANELS[FLAGS.strategy]
  study_flags.run(f'imbalance_strategy{FLAGS.strategy}', configurations, test, dataset, title=f'Fig. 7 {panel} {title}',
                  columns=(COUNTS, 'sensitivity', 'specificity', 'accuracy', 'auc'),
                  figure=studies.Figure(x_label='tectonic : non-tectonic records in training', title=title))


main = binary.main('imbalance', study)

if __name__ == '__main__':
  binary.run(main)
