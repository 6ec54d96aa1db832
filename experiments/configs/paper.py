r"""The paper's protocol (GA-Net, IEEE Access 2024, Section III): every binary's default config.

  python -m experiments.train --config=experiments/configs/paper.py
  python -m experiments.train --config=experiments/configs/paper.py:cnn_zhu2023     # another network
  python -m experiments.train --config.learning_rate=1e-3 --config.model.num_bottlenecks=3

Adam at 1e-5, batch 32, 15 epochs, cross-entropy, threshold 0.5; chronological split
with the events from 2017-01-01 on as the test split (the paper's 2009-2016 train,
2017-2018 test). The data set defaults to the built-in synthetic one.
"""

import ml_collections
from ml_collections import config_dict

from ganet_jax.training.config import model_config


def get_config(model: str = 'ganet') -> ml_collections.ConfigDict:
  """The paper's settings for ``model`` (a name in ``ganet_jax.models.MODELS``; the config file argument)."""
  config = ml_collections.ConfigDict()
  config.dataset = 'synthetic'  # or a prepared data-set folder (python -m experiments.prepare)
  config.synthetic = ml_collections.ConfigDict({'num_events': 55, 'samples': 10000, 'seed': 0})
  config.split = ml_collections.ConfigDict({'validation_from': config_dict.placeholder(str),
                                            'test_from': '2017-01-01'})
  config.model = model_config(model)
  config.epochs = 15
  config.batch_size = 32
  config.learning_rate = 1e-5
  config.loss = 'cross_entropy'  # or 'weighted_cross_entropy', 'focal'
  config.focal_gamma = 2.0
  config.seed = 0
  config.threshold = 0.5
  config.num_devices = config_dict.placeholder(int)  # None: every accelerator, or one device on CPU
  config.compute_dtype = 'float32'  # or 'bfloat16'
  config.precise_batch_norm = True
  config.seeds = (0, 1, 2)  # the study binaries: one run per seed and configuration
  config.workdir = config_dict.placeholder(str)  # None: the binary's default folder under runs/
  return config
