r"""Table 2: GA-Net without ghost modules, without CBAM, and complete.

  python -m experiments.ablation
  python -m experiments.ablation --config.dataset=prepared/pnw --config.seeds=0,1,2,3,4
  python -m experiments.ablation --small            # CPU smoke run
"""


from experiments import binary, study_flags
from ganet_jax import studies

CONFIG = study_flags.define_config_flag()

# (model, the paper's row label); "w/o GM": ordinary convolutions of the same widths.
VARIANTS = (('ganet_without_ghost', 'GA-Net (w/o GM)'), ('ganet_without_cbam', 'GA-Net (w/o CBAM)'),
            ('ganet', 'GA-Net (ours)'))


def study():
  train, test, dataset = study_flags.start()
  configurations = [studies.Configuration(name=model, label=label, config=study_flags.base_config(model), train=train)
                    for model, label in VARIANTS]
  study_flags.run('ablation', configurations, test, dataset, title='Table 2. The ablation study results',
                  columns=('sensitivity', 'specificity', 'accuracy'))


main = binary.main('ablation', study)

if __name__ == '__main__':
  binary.run(main)
