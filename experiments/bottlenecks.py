r"""Fig. 5: GA-Net with 1 to 8 stacked ghost bottlenecks.

  python -m experiments.bottlenecks
  python -m experiments.bottlenecks --bottlenecks=3,4,5,6 --config.seeds=0,1,2
  python -m experiments.bottlenecks --small         # CPU smoke run (1, 2, 3 bottlenecks)
"""

from absl import flags

from experiments import binary, study_flags
from ganet_jax import studies
from ganet_jax.models import BOTTLENECKS, build_model
from ganet_jax.models.complexity import model_parameter_count

flags.DEFINE_list('bottlenecks', [str(n) for n in range(1, len(BOTTLENECKS) + 1)],
                  f'Numbers of stacked ghost bottlenecks, each in 1..{len(BOTTLENECKS)} (the paper: 5).')
FLAGS = flags.FLAGS
CONFIG = study_flags.define_config_flag()

SMALL = {'bottlenecks': ['1', '2', '3']}


def study():
  train, test, dataset = study_flags.start(SMALL)
  counts = study_flags.list_flag('bottlenecks', int)
  if not all(1 <= n <= len(BOTTLENECKS) for n in counts):
    raise ValueError(f'--bottlenecks={",".join(FLAGS.bottlenecks)}: each must be in 1..{len(BOTTLENECKS)}')
  configurations = []
  for n in counts:
    config = study_flags.base_config('ganet', {'num_bottlenecks': n})
    parameters = model_parameter_count(build_model('ganet', **config.model_overrides), (1, *train.waveforms.shape[1:]))
    configurations.append(studies.Configuration(name=f'bottlenecks_{n}', label=str(n), config=config, train=train,
                                              details={'Parameters': f'{parameters:,}'}))
  title = 'Results of different numbers of stacked ghost bottlenecks'
  study_flags.run('bottlenecks', configurations, test, dataset, title=f'Fig. 5. {title}',
                  columns=('Parameters', 'sensitivity', 'specificity', 'accuracy', 'auc'),
                  figure=studies.Figure(x_label='stacked ghost bottlenecks', title=title))


main = binary.main('bottlenecks', study)

if __name__ == '__main__':
  binary.run(main)
