"""Model size: parameter counts and compute (multiply-accumulates, XLA FLOPs) of any Flax module."""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.extend
import jax.numpy as jnp

from ganet_jax.conventions import WINDOW_SAMPLES


def parameter_count(params: Any) -> int:
  """Number of scalars in a parameter pytree (Keras' "trainable params": BN scale/bias, not its statistics)."""
  return sum(int(leaf.size) for leaf in jax.tree.leaves(params))


def abstract_variables(model: nn.Module, input_shape: tuple[int, ...] = (1, WINDOW_SAMPLES, 3)) -> Any:
  """Shapes of ``model.init`` without allocating or computing anything."""
  return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(input_shape, jnp.float32)))


def model_parameter_count(model: nn.Module, input_shape: tuple[int, ...] = (1, WINDOW_SAMPLES, 3)) -> int:
  """Trainable parameters of ``model`` built for ``input_shape`` (default one 10000 x 3 record)."""
  return parameter_count(abstract_variables(model, input_shape)['params'])


# Multiplications inside this named scope are the taps of a depthwise convolution
# written as shifted slices (ganet_jax.nn.depthwise): one multiply-accumulate each.
DEPTHWISE_SCOPE = 'depthwise_conv1d'


def _size(aval) -> int:
  return math.prod(aval.shape)


def _eqn_macs(eqn, in_depthwise: bool) -> int:
  """Multiply-accumulates of one jaxpr equation that is a convolution, a matrix product or a depthwise tap."""
  name = eqn.primitive.name
  if name == 'dot_general':
    (lhs_contracting, _), _ = eqn.params['dimension_numbers']
    lhs = eqn.invars[0].aval
    return _size(eqn.outvars[0].aval) * math.prod(lhs.shape[d] for d in lhs_contracting)
  if name == 'conv_general_dilated':
    rhs = eqn.invars[1].aval
    out_features = rhs.shape[eqn.params['dimension_numbers'].rhs_spec[0]]
    # each output element sums kernel taps x (input channels / groups) products
    return _size(eqn.outvars[0].aval) * _size(rhs) // out_features
  if name == 'mul' and in_depthwise:
    return _size(eqn.outvars[0].aval)
  return 0


def jaxpr_macs(jaxpr, in_depthwise: bool = False) -> int:
  """Multiply-accumulates of the convolutions and matrix products in a (closed) jaxpr.

  Counts ``dot_general`` (dense layers, einsums), ``conv_general_dilated`` (any
  convolution, grouped ones by their group size) and the multiplications of
  depthwise convolutions traced under ``DEPTHWISE_SCOPE``; elementwise work
  (normalisation, activations, attention gating, pooling) is not counted, as in
  the usual MAC tables (thop, ptflops). Sub-jaxprs (jit, custom_jvp/vjp,
  remat) are entered; a ``scan`` body counts ``length`` times.

  Args:
    jaxpr: a ``jax.core.ClosedJaxpr`` or ``Jaxpr``, e.g. from ``jax.make_jaxpr``.
    in_depthwise: whether the caller's scope is already a depthwise convolution.

  Returns:
    The MAC count.
  """
  jaxpr = getattr(jaxpr, 'jaxpr', jaxpr)
  total = 0
  for eqn in jaxpr.eqns:
    inside = in_depthwise or DEPTHWISE_SCOPE in str(eqn.source_info.name_stack)
    total += _eqn_macs(eqn, inside)
    repeat = eqn.params.get('length', 1) if eqn.primitive.name == 'scan' else 1
    for value in eqn.params.values():
      for sub in (value if isinstance(value, (tuple, list)) else (value,)):
        if isinstance(sub, (jax.extend.core.ClosedJaxpr, jax.extend.core.Jaxpr)):
          total += repeat * jaxpr_macs(sub, inside)
  return total


def model_complexity(model: nn.Module, input_shape: tuple[int, ...] = (1, WINDOW_SAMPLES, 3),
                     call_kwargs: dict | None = None) -> dict:
  """Parameters, multiply-accumulates and XLA FLOPs of one inference forward pass.

  Nothing is allocated or compiled: MACs come from the traced jaxpr
  (``jaxpr_macs``) and FLOPs from XLA's cost analysis of the lowered,
  unoptimised HLO (which counts 2 per multiply-accumulate plus elementwise
  work).

  Args:
    model: a Linen module with ``__call__(x, *, train)``.
    input_shape: (batch, time, channels) of the forward pass.
    call_kwargs: keyword arguments of ``model.apply``; default ``{'train': False}``.

  Returns:
    Dict with 'parameters', 'macs' and 'xla_flops'.
  """
  variables = abstract_variables(model, input_shape)
  x = jax.ShapeDtypeStruct(input_shape, jnp.float32)
  call_kwargs = {'train': False} if call_kwargs is None else call_kwargs
  forward = lambda variables, x: model.apply(variables, x, **call_kwargs)
  macs = jaxpr_macs(jax.make_jaxpr(forward)(variables, x))
  flops = jax.jit(forward).lower(variables, x).cost_analysis()['flops']
  return {'parameters': parameter_count(variables['params']), 'macs': macs, 'xla_flops': int(flops)}
