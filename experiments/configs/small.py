r"""The small-data recipe: the whole path on a CPU in about a minute per binary; its numbers mean nothing.

  python -m experiments.train --config=experiments/configs/small.py
  python -m experiments.ablation --small      # the study binaries' shorthand for this file (see study_flags)

40 synthetic events of 256-sample records, one epoch, batch 4, learning rate 1e-3,
one seed, no precise-BatchNorm pass (one compiled program less per model), and
GA-Net narrowed to one bottleneck and a 16-wide head (1.57M -> 5.7K parameters);
other networks keep their width.
"""

import ml_collections

from experiments.configs import paper


def shrink(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """``config`` (changed in place) with the small recipe's settings."""
  config.synthetic.num_events = 40
  config.synthetic.samples = 256
  config.epochs = 1
  config.batch_size = 4
  config.learning_rate = 1e-3
  config.seeds = (0,)
  config.precise_batch_norm = False
  if config.model.name.startswith('ganet'):
    config.model.num_bottlenecks = 1
    config.model.head_features = 16
  return config


def get_config(model: str = 'ganet') -> ml_collections.ConfigDict:
  """The paper's config for ``model``, shrunk."""
  return shrink(paper.get_config(model))
