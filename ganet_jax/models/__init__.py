"""Network families: GA-Net, its ablations and (with the baselines) Table 1's comparison networks.

``MODELS`` maps the ``--model`` flag's names to constructors; every entry builds a
Linen module taking ``(batch, time, channels)`` and ``train=`` and returning logits.
"""

import functools

from ganet_jax.models.ganet import BOTTLENECKS, CBAM_POSITIONS, BottleneckConfig, GANet

MODELS = {
    'ganet': GANet,
    'ganet_without_ghost': functools.partial(GANet, use_ghost=False),
    'ganet_without_cbam': functools.partial(GANet, cbam_positions=()),
}


def build_model(name: str, **overrides):
  """The model registered as ``name``, with constructor ``overrides``.

  Raises:
    ValueError: naming the unknown model and the known ones.
  """
  if name not in MODELS:
    raise ValueError(f'unknown model {name!r}; known models: {", ".join(sorted(MODELS))}')
  return MODELS[name](**overrides)
