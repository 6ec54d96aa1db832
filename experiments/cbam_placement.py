r"""Table 3: GA-Net with CBAM at each of the seven combinations of input, ghost bottlenecks and flatten.

  python -m experiments.cbam_placement
  python -m experiments.cbam_placement --placements=g-bneck,g-bneck+flatten --config.seeds=0,1
  python -m experiments.cbam_placement --small      # CPU smoke run
"""

from absl import flags

from experiments import binary, study_flags
from ganet_jax import studies

# --placements name -> (GANet.cbam_positions, the paper's row label), in Table 3's order.
PLACEMENTS = {
    'input': (('input',), 'After input (Input)'),
    'g-bneck': (('bottleneck',), 'After each ghost bottleneck (G-bneck)'),
    'flatten': (('flatten',), 'Before the flatten operation (Flatten)'),
    'input+g-bneck': (('input', 'bottleneck'), 'Input+G-bneck'),
    'input+flatten': (('input', 'flatten'), 'Input+Flatten'),
    'g-bneck+flatten': (('bottleneck', 'flatten'), 'G-bneck+Flatten (ours)'),
    'input+g-bneck+flatten': (('input', 'bottleneck', 'flatten'), 'Input+G-bneck+Flatten'),
}

CONFIG = study_flags.define_config_flag()
flags.DEFINE_list('placements', list(PLACEMENTS), f'CBAM placements to compare, of: {", ".join(PLACEMENTS)}.')


def study():
  placements = study_flags.list_flag('placements', known=list(PLACEMENTS))
  train, test, dataset = study_flags.start()
  configurations = []
  for name in placements:
    positions, label = PLACEMENTS[name]
    config = study_flags.base_config('ganet', {'cbam_positions': positions})
    configurations.append(studies.Configuration(name=name, label=label, config=config, train=train))
  study_flags.run('cbam_placement', configurations, test, dataset,
                  title='Table 3. Results of GA-Net with different CBAM locations',
                  columns=('misclassified', 'accuracy'))


main = binary.main('cbam_placement', study)

if __name__ == '__main__':
  binary.run(main)
