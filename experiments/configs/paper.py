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

from ganet_jax.conventions import PAPER_LEARNING_RATE, THRESHOLD
from ganet_jax.training.config import NO_AUGMENTATION
from ganet_jax.training.experiment import model_config


def get_config(model: str = 'ganet') -> ml_collections.ConfigDict:
  """The paper's settings for ``model`` (a name in ``ganet_jax.models.MODELS``; the config file argument)."""
  config = ml_collections.ConfigDict()
  config.dataset = 'synthetic'  # or a prepared data-set folder (python -m experiments.prepare)
  config.synthetic = ml_collections.ConfigDict({'num_events': 55, 'samples': 10000, 'seed': 0})
  # by: None uses a prepared set's split column when it has one; 'split_column' or 'origin_time' (the times below)
  config.split = ml_collections.ConfigDict({'by': config_dict.placeholder(str),
                                            'validation_from': config_dict.placeholder(str),
                                            'test_from': '2017-01-01'})
  config.model = model_config(model)
  config.epochs = 15
  config.batch_size = 32
  config.learning_rate = PAPER_LEARNING_RATE
  config.loss = 'cross_entropy'  # or 'weighted_cross_entropy', 'focal'
  config.focal_gamma = 2.0
  config.seed = 0
  config.threshold = THRESHOLD
  config.num_devices = config_dict.placeholder(int)  # None: every accelerator, or one device on CPU
  config.compute_dtype = 'float32'  # or 'bfloat16'
  config.precise_batch_norm = True
  # The small-data recipe's fields (experiments/configs/small_data.py), off: the paper's protocol.
  config.weight_decay = 0.0  # > 0: AdamW
  config.lr_schedule = 'constant'  # or 'cosine'
  config.warmup_epochs = 0.0
  config.label_smoothing = 0.0
  config.balanced_sampling = False
  config.station_balanced_sampling = False  # within each class, every station drawn equally often
  config.augmentation = ml_collections.ConfigDict(NO_AUGMENTATION)  # fields of data.augment.Augmentation
  config.selection_metric = 'accuracy'  # validation figure of checkpoints/best
  config.evaluate_best = False  # test the best validation epoch instead of the last
  config.early_stopping_patience = 0  # 0: off
  config.init_from = ''  # a pretraining run folder (experiments.pretrain) to start the encoder from
  config.freeze_encoder = False  # with init_from: train only the classifier head
  config.grad_clip_norm = 0.0  # > 0: clip each step's gradients to this global L2 norm before Adam
  config.train_sources = ()  # train only on records of these `source`s (empty: all)
  config.seeds = (0, 1, 2)  # the study binaries: one run per seed and configuration
  config.workdir = config_dict.placeholder(str)  # None: the binary's default folder under runs/
  return config
