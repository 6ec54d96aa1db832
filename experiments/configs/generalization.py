r"""The generalisation study: methods compared by how they are used, on later years and unseen stations.

  P="--input=../shared/data/pnw --records=labels.csv --input=../shared/data/pnw-extra --records=labels.csv"
  python -m experiments.prepare $P --bandpass=1,15 --window_s=40 --noise_s=40 --normalization=noise_whiten \
      --output=prepared/pnw-all-bp15-w40-nw
  python -m experiments.prepare $P --bandpass=1,15 --window_s=40 --noise_s=40 --output=prepared/pnw-all-bp15-w40-std
  python -m experiments.prepare $P --noise_s=40 --output=prepared/pnw-all-w100-noise
  python -m experiments.generalize --config=experiments/configs/generalization.py --config.workdir=runs/generalization

Schemes (``ganet_jax.studies.generalization``): rolling-origin ``forward`` folds
over every year of pnw + pnw-extra (fold k trains on the events before
``forward_origins[k]`` and predicts the years up to the next origin; the last fold
predicts the test years from 2021), ``station`` folds (validation stations never
seen in training) and the classic ``shuffled`` event-grouped folds, both over the
years before 2021.

The rule, fixed before any run: a method is chosen by its pooled event AUC over the
forward folds before 2021; within 0.005 of the best, by pooled event balanced
accuracy. The test years choose nothing.

Every GA-Net recipe is the small-data recipe (``small_data.py``: width 0.25,
AdamW at 1e-3 with cosine decay, label smoothing, class-balanced batches,
augmentation) for 20 epochs on 1-15 Hz, 40-s windows, with a fixed number of
epochs in every fold (nothing is selected on a fold's own records).
"""

import ml_collections

from experiments.configs import small_data

NOISE_WHITENED = 'prepared/pnw-all-bp15-w40-nw'

RECIPES = {
    # each window standardised: the station's response stays in the input
    'ganet_standardised': {'dataset': 'prepared/pnw-all-bp15-w40-std'},
    # each window whitened by the smoothed amplitude spectrum of its own pre-event noise, then standardised
    'ganet_noise_whitened': {'dataset': NOISE_WHITENED},
    # invariance to the recording: every station of a class drawn equally often
    'ganet_nw_station_balanced': {'dataset': NOISE_WHITENED, 'station_balanced_sampling': True},
    # invariance to the recording: 80% of training windows filtered by a random instrument-like response
    'ganet_nw_response_augmented': {'dataset': NOISE_WHITENED, 'augmentation.response_probability': 0.8},
    # fusion: GA-Net's pooled features and the window's level-free log band powers in one head
    'fusion_nw': {'dataset': NOISE_WHITENED, 'model.name': 'ganet_fusion'},
}


def get_config(model: str = 'ganet') -> ml_collections.ConfigDict:
  config = small_data.get_config(model)
  config.dataset = NOISE_WHITENED
  config.epochs = 20
  # One training seed per fold: every network's forward folds on a 2-core CPU in about an hour.
  # (0, 1, 2) scores each fold on the mean probability of three seeds, at three times the cost.
  config.seeds = (0,)
  config.generalization = ml_collections.ConfigDict({
      'recipes': tuple(RECIPES),
      # networks run under every scheme; the others run the forward folds only (CPU budget)
      'all_schemes_networks': ('ganet_standardised', 'ganet_noise_whitened'),
      'physics_dataset': 'prepared/pnw-all-w100-noise',
      # raw (the record's own level and the station's response) and referenced to the record's own noise
      'physics_feature_sets': ('ratios', 'bands', 'bands+ratios', 'snr_bands', 'snr_shape', 'snr_shape+ratios'),
      # shortcuts a method must beat: station novelty, instrument, station, era, magnitude and signal-to-noise level
      'controls': ('station novelty', 'instrument', 'station', 'era', 'magnitude', 'snr'),
      # forward blocks: [2007, 2012), [2012, 2015), [2015, 2018), [2018, 2020), 2020, and the test years from 2021
      'forward_origins': (2007, 2012, 2015, 2018, 2020, 2021),
      'min_train_events': 3,
      'test_from': 2021,
      'station_folds': 3,
      'shuffled_folds': 3,
      'seed': 0,
      'n_boot': 2000,
  })
  return config
