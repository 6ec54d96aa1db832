r"""The imbalance study's config (``experiments.imbalance``'s default): the paper's, with 1500 synthetic events.

Strategy 1 at 10:1 draws 2000 tectonic and 200 non-tectonic records from the
training split; the paper's 55-event synthetic set holds far fewer.
"""

import ml_collections

from experiments.configs import paper


def get_config(model: str = 'ganet') -> ml_collections.ConfigDict:
  config = paper.get_config(model)
  config.synthetic.num_events = 1500
  return config
