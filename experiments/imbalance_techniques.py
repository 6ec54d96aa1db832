r"""Table 4: GA-Net with time shifting, noise addition or focal loss against GA-Net as is.

Time shifting and noise addition copy minority-class training records
(``ganet_jax.data.augment.oversample_minority``, drawn anew per seed) until both classes
are equal; the test split is never augmented. Focal loss replaces cross-entropy.

  python -m experiments.imbalance_techniques
  python -m experiments.imbalance_techniques --max_shift_s=5 --snr_db=20 --config.focal_gamma=2
  python -m experiments.imbalance_techniques --small   # CPU smoke run
"""

import functools
from absl import flags

from experiments import binary, study_flags
from ganet_jax import studies
from ganet_jax.data import augment

flags.DEFINE_float('max_shift_s', 5.0, 'Time shifting: the largest delay, seconds (at most 5% of a small-mode record).',
                   lower_bound=0.01)
flags.DEFINE_float('snr_db', 20.0, 'Noise addition: signal-to-noise ratio of the added white noise, dB.')
FLAGS = flags.FLAGS
CONFIG = study_flags.define_config_flag()


def study():
  train, test, dataset = study_flags.start()
  rate = train.sampling_rate
  # Short small-mode records would be shifted out of the window: keep a delay under 5% of the record.
  max_shift_s = min(FLAGS.max_shift_s, train.waveforms.shape[1] / rate / 20)
  oversampled = lambda transform: lambda seed: augment.oversample_minority(train, transform, seed=seed)
  plain = study_flags.base_config('ganet')
  configurations = [
      studies.Configuration('time_shifting', 'Time shifting', plain,
                          oversampled(functools.partial(augment.time_shift, max_shift_s=max_shift_s,
                                                        sampling_rate=rate)),
                          details={'max_shift_s': round(max_shift_s, 3), 'sampling_rate': rate}),
      studies.Configuration('noise_addition', 'Noise addition', plain,
                          oversampled(functools.partial(augment.add_noise, snr_db=FLAGS.snr_db)),
                          details={'snr_db': FLAGS.snr_db}),
      studies.Configuration('focal_loss', 'Focal loss',
                          study_flags.base_config('ganet', loss='focal'), train,
                          details={'focal_gamma': study_flags.config().focal_gamma}),
      studies.Configuration('plain', 'GA-Net (ours)', plain, train),
  ]
  study_flags.run('imbalance_techniques', configurations, test, dataset,
                  title='Table 4. GA-Net results across various imbalance handling techniques',
                  columns=('sensitivity', 'specificity', 'accuracy'))


main = binary.main('imbalance_techniques', study)

if __name__ == '__main__':
  binary.run(main)
