r"""Table 1: GA-Net against the comparison networks, with their parameter counts.

  python -m experiments.compare_models
  python -m experiments.compare_models --models=capsnet,resnet,ganet --config.seeds=0,1,2
  python -m experiments.compare_models --small      # CPU smoke run (baselines at their full width)

Parameters are counted for the network as trained (its input length included:
some baselines' dense layers grow with it); Table 1's figure is beside it.
"""

from absl import flags

from experiments import binary, study_flags
from ganet_jax import studies
from ganet_jax.models import TABLE1_PARAMETERS, build_model
from ganet_jax.models.complexity import model_parameter_count

# --models name -> Table 1's row label, in Table 1's order.
LABELS = {'capsnet': 'CapsNet [1]', 'cnn_liu2020': 'CNN [10]', 'vgg': 'VGG [11]', 'resnet': 'ResNet [11]',
          'googlenet': 'GoogleNet [11]', 'cnn_barama2023': 'CNN [12]', 'cnn_zhu2023': 'CNN [13]',
          'ganet': 'GA-Net (ours)'}

CONFIG = study_flags.define_config_flag()
flags.DEFINE_list('models', list(LABELS), f'Networks to compare, of: {", ".join(LABELS)}.')


def _short(count: float) -> str:
  return f'{count / 1e6:.2f}M' if count >= 1e6 else f'{count / 1e3:.2f}K'


def study():
  models = study_flags.list_flag('models', known=list(LABELS))
  train, test, dataset = study_flags.start()
  configurations = []
  for model in models:
    config = study_flags.base_config(model)
    parameters = model_parameter_count(build_model(model, **config.model_overrides), (1, *train.waveforms.shape[1:]))
    configurations.append(studies.Configuration(
        name=model, label=LABELS[model], config=config, train=train,
        details={'Parameters': _short(parameters), 'Parameters (paper)': _short(TABLE1_PARAMETERS[model]),
                 'parameter_count': parameters}))
  study_flags.run('compare_models', configurations, test, dataset,
                  title='Table 1. Comparisons with state-of-the-art networks',
                  columns=('sensitivity', 'specificity', 'accuracy', 'Parameters', 'Parameters (paper)'))


main = binary.main('compare_models', study)

if __name__ == '__main__':
  binary.run(main)
