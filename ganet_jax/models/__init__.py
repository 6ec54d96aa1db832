"""Network families: GA-Net, its ablations, GA-Net fused with band-spectrum features and Table 1's comparison networks.

``MODELS`` maps the names a config's ``model.name`` takes to constructors; every entry builds a
Linen module taking ``(batch, time, channels)`` and ``train=`` and returning logits.
``TABLE1_PARAMETERS`` holds the trainable-parameter counts Table 1 prints for them.
"""

import dataclasses
import functools
from typing import Any, Mapping

import jax.numpy as jnp

from ganet_jax.json_settings import as_tuples
from ganet_jax.models.capsnet import CapsNet1D
from ganet_jax.models.complexity import model_complexity, model_parameter_count, parameter_count
from ganet_jax.models.fusion import GANetFusion
from ganet_jax.models.ganet import BOTTLENECKS, CBAM_POSITIONS, BottleneckConfig, GANet
from ganet_jax.models.googlenet import GoogLeNet1D
from ganet_jax.models.plain_cnns import PlainCNN, cnn_barama2023, cnn_liu2020, cnn_zhu2023, vgg_jia2022
from ganet_jax.models.resnet import ResNet1D

__all__ = ['BOTTLENECKS', 'BottleneckConfig', 'CBAM_POSITIONS', 'CapsNet1D', 'GANet', 'GANetFusion', 'GoogLeNet1D',
           'MODELS', 'PlainCNN', 'ResNet1D', 'TABLE1_PARAMETERS', 'build_model', 'cnn_barama2023', 'cnn_liu2020',
           'cnn_zhu2023', 'head_parameters', 'model_complexity', 'model_fields', 'model_parameter_count', 'parameter_count',
           'vgg_jia2022']

MODELS = {
    'ganet': GANet,
    'ganet_without_ghost': functools.partial(GANet, use_ghost=False),
    'ganet_without_cbam': functools.partial(GANet, cbam_positions=()),
    'ganet_fusion': GANetFusion,
    'capsnet': CapsNet1D,
    'cnn_liu2020': cnn_liu2020,
    'vgg': vgg_jia2022,
    'resnet': ResNet1D,
    'googlenet': GoogLeNet1D,
    'cnn_barama2023': cnn_barama2023,
    'cnn_zhu2023': cnn_zhu2023,
}

# Table 1's "Parameters" column; 'vgg' is printed as 11.37K (see vgg_jia2022 on why that looks like a typo).
TABLE1_PARAMETERS = {
    'capsnet': 40.32e3,
    'cnn_liu2020': 1.36e6,
    'vgg': 11.37e3,
    'resnet': 7.13e6,
    'googlenet': 5.12e6,
    'cnn_barama2023': 5.20e6,
    'cnn_zhu2023': 80.06e3,
    'ganet': 1.57e6,
}


def build_model(name: str, **overrides):
  """The model registered as ``name``, with constructor ``overrides``.

  Raises:
    ValueError: naming the unknown model and the known ones.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> model = build_model('ganet')
    >>> model_parameter_count(model)  # Table 1: 1.57M
    1575317
    >>> logits = jax.eval_shape(lambda: model.init_with_output(jax.random.key(0), jnp.zeros((2, 10000, 3)))[0])
    >>> logits.shape  # (records, classes): tectonic, non-tectonic
    (2, 2)
  """
  if name not in MODELS:
    raise ValueError(f'unknown model {name!r}; known models: {", ".join(sorted(MODELS))}')
  return MODELS[name](**overrides)


def model_fields(name: str) -> dict[str, Any]:
  """The constructor fields of the model registered as ``name``, with their defaults.

  Only fields a config file or command line can hold: numbers, strings, booleans and
  tuples of them (GA-Net's ``bottlenecks`` table of ``BottleneckConfig`` rows is left out).

  Raises:
    ValueError: naming the unknown model and the known ones.
  """
  model = build_model(name)
  simple = lambda v: isinstance(v, (bool, int, float, str)) or (
      isinstance(v, tuple) and all(isinstance(x, (bool, int, float, str)) for x in v))
  return {f.name: getattr(model, f.name) for f in dataclasses.fields(model)
          if f.init and f.name not in ('parent', 'name') and simple(getattr(model, f.name))}


def head_parameters(name: str) -> tuple[str, ...]:
  """The top-level parameter entries of the model registered as ``name`` that read its encoder's features.

  A frozen encoder (``ExperimentConfig.freeze_encoder``) leaves exactly these to train.

  Raises:
    ValueError: an unknown model, or one without an encoder/head split (only GA-Net and
      its variants have a ``features`` encoder).
  """
  head = getattr(build_model(name), 'HEAD', None)
  if head is None:
    raise ValueError(f'model {name!r} has no pretrained-encoder/head split; GA-Net and its variants have one')
  return head


def model_kwargs(name: str, overrides: Mapping[str, Any], *, compute_dtype: str = 'float32') -> dict[str, Any]:
  """The constructor fields of a run's model: ``overrides``, plus ``dtype`` for mixed precision.

  A model with a ``dtype`` field (every registered one: GA-Net and Table 1's baselines) runs in ``compute_dtype``
  itself, the flax way: float32 parameters (``param_dtype``), each layer casting
  them and its input as it computes. (The train step's and ``predict_probabilities``'
  own ``compute_dtype``, a cast of the whole parameter tree, is for a module without
  such a field: a model of one's own built from the library's layers.) JSON's lists read back as tuples (a module's
  fields must hash: it is a static argument of the jitted steps).

  Args:
    name: a name in ``MODELS``.
    overrides: constructor fields, e.g. ``{'num_bottlenecks': 3}``.
    compute_dtype: 'float32' or 'bfloat16'.
  """
  kwargs = as_tuples(overrides)
  if compute_dtype != 'float32' and _takes_dtype(name):
    kwargs['dtype'] = jnp.dtype(compute_dtype)
  return kwargs


@functools.lru_cache(maxsize=None)
def _takes_dtype(name: str) -> bool:
  return name in MODELS and 'dtype' in {f.name for f in dataclasses.fields(build_model(name))}
