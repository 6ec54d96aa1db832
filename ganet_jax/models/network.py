"""What GA-Net and Table 1's comparison networks share: their layer fields, and the layer factories built from them.

As in flax's ``examples/imagenet`` ResNet, a network takes its normalization and
convolution as module factories, builds its factories once per call with its dtypes
bound, and passes them down to its blocks. ``norm`` is a factory of normalization layers
(``ganet_jax.nn.layers``' docstring): ``BatchNorm`` by default, or e.g. ``nn.LayerNorm``,
or a partial with other constants. ``conv`` is called with ``flax.linen.Conv``'s
arguments: ``nn.Conv`` by default (GA-Net's default is ``ganet_jax.nn.Conv``), or e.g.
``functools.partial(nn.Conv, kernel_init=...)`` or a subclass; the keywords a partial
binds win over the network's. Each network's docstring says which of its convolutions
``conv`` builds.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganet_jax.nn.layers import BatchNorm, ModuleFactory, apply_norm, keeping_bound

__all__ = ['Layers', 'Network']


class Layers(NamedTuple):
  """One call's layer factories, dtypes bound.

  Attributes:
    conv: makes a convolution, with ``flax.linen.Conv``'s arguments.
    norm: ``norm(x, name=None)``: ``x`` through a new normalization layer (batch statistics
      in training).
    dense: makes a dense layer, with ``flax.linen.Dense``'s arguments.
  """
  conv: ModuleFactory
  norm: Callable[..., jax.Array]
  dense: ModuleFactory


class Network(nn.Module):
  """The fields of a network (GA-Net, a Table 1 network) that choose its layers and their dtypes.

  Attributes:
    norm: factory of the normalization layers (``BatchNorm``, flax's with Keras'
      constants, by default, as in the paper).
    conv: factory of the ordinary convolutions (``flax.linen.Conv`` by default).
    dtype, param_dtype: computation and parameter dtypes, as in ``flax.linen``.

  The keywords a ``norm`` or ``conv`` partial binds win over the network's
  (``ganet_jax.nn.keeping_bound``): ``functools.partial(nn.Conv, use_bias=True)`` gives
  every convolution ``conv`` builds a bias.
  """
  norm: ModuleFactory = BatchNorm
  conv: ModuleFactory = nn.Conv
  dtype: Any = None
  param_dtype: Any = jnp.float32

  def layers(self, *, train: bool) -> Layers:
    """The factories of one call (``train``: batch statistics in the normalization layers)."""
    return Layers(conv=keeping_bound(self.conv, dtype=self.dtype, param_dtype=self.param_dtype),
                  norm=functools.partial(apply_norm, self.norm, train=train, dtype=self.dtype,
                                         param_dtype=self.param_dtype),
                  dense=functools.partial(nn.Dense, dtype=self.dtype, param_dtype=self.param_dtype))
