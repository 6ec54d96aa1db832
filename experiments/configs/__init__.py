r"""The binaries' config files (ml_collections, as flax/examples and big_vision) and the flag that reads them.

  --config=experiments/configs/paper.py               the paper's protocol (the default)
  --config=experiments/configs/paper.py:cnn_zhu2023   the same with another network of ganet_jax.models.MODELS
  --config=experiments/configs/small.py               the small-data recipe: CPU smoke runs, the tests
  --config=experiments/configs/pnw.py                 the real-data study's data set and split
  --config.learning_rate=1e-3 --config.model.num_bottlenecks=3 --config.dataset=prepared/pnw

Every file's ``get_config(model)`` returns a ``ConfigDict`` with the fields listed in
``ganet_jax.training.config``; ``experiment_config`` makes the run's settings of it and
``ganet_jax.data.dataset.load_split`` its data.
"""

from __future__ import annotations

import pathlib

from ml_collections import config_flags

CONFIG_DIR = pathlib.Path(__file__).resolve().parent


def define_config_flag(default: str = 'paper.py'):
  """``--config``: a config file of this folder by default (``default``), overridable field by field."""
  return config_flags.DEFINE_config_file(
      'config', str(CONFIG_DIR / default),
      f'Config file (default experiments/configs/{default}; "path:model" picks another network); override its '
      'fields with --config.<field>=value, e.g. --config.learning_rate=1e-3 --config.model.num_bottlenecks=3.',
      lock_config=True)

