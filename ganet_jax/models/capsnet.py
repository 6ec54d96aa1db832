"""CapsNet [1] of Table 1: a 1-D capsule network with dynamic routing.

Saad, Soliman, Chen, Amin & Abdelhafiez, "Discriminating earthquakes from quarry
blasts using capsule neural network", IEEE GRSL 19, 2022 (Table 1: 40.32K
parameters). The routing follows Sabour, Frosst & Hinton (NeurIPS 2017):
convolutional features, a convolutional primary-capsule layer whose vectors are
squashed, class capsules reached by routing-by-agreement, and the class
capsules' lengths as the output. Assumed here (the GA-Net paper gives only the
count): two conv(24 then 48 filters, 9 taps, stride 4) + BN + ReLU layers
(10000 -> 625 samples); primary capsules from a conv(9 taps, stride 4) with 8
capsule types of 8 dimensions (157 positions x 8 types = 1256 capsules); the
transformation matrices into the 2 class capsules of 16 dimensions are shared
over time positions (one 8 x 16 matrix per capsule type and class), which is
what keeps a capsule network this small on a 10000-sample input; 3 routing
iterations; no reconstruction decoder (it adds no weights to the classifier
at test time). That gives 40,992 parameters on a 10000 x 3 input (Table 1:
40.32K, 1.7% off).

The class-capsule lengths ``p`` lie in (0, 1); the model returns their log-odds
``log p - log(1 - p)`` as logits, a monotone map, so that the project's softmax
cross-entropy trains it like the other networks (the reference used the margin
loss on ``p`` directly).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype

from ganet_jax.models.network import Network


def squash(s: jax.Array, axis: int = -1, eps: float = 1e-7) -> jax.Array:
  """Sabour et al.'s eq. 1: ``|s|^2 / (1 + |s|^2) * s / |s|`` (length in [0, 1), direction kept)."""
  squared = jnp.sum(s * s, axis=axis, keepdims=True)
  return squared / (1 + squared) * s / jnp.sqrt(squared + eps)


def route(predictions: jax.Array, iterations: int) -> jax.Array:
  """Routing by agreement (Sabour et al., procedure 1).

  Args:
    predictions: (batch, input_capsules, classes, dims) votes u_hat.
    iterations: routing iterations (>= 1).

  Returns:
    (batch, classes, dims) squashed class capsules.
  """
  logits = jnp.zeros(predictions.shape[:3], predictions.dtype)
  for i in range(iterations):
    coupling = jax.nn.softmax(logits, axis=-1)
    capsules = squash(jnp.einsum('bnc,bncd->bcd', coupling, predictions))
    if i + 1 < iterations:
      logits = logits + jnp.einsum('bncd,bcd->bnc', predictions, capsules)
  return capsules


class CapsNet1D(Network):
  """Conv features, primary capsules, routed class capsules.

  Attributes:
    num_classes: class capsules.
    conv_features: filters of the two feature convolutions.
    kernel_size, strides: of every convolution.
    capsule_types, capsule_dims: primary capsules per position and their length.
    class_dims: length of each class capsule.
    routing_iterations: routing-by-agreement iterations.
    (``Network``'s): norm; conv, which builds every convolution (features and primary capsules);
      dtype, param_dtype.
  """
  num_classes: int = 2
  conv_features: tuple[int, int] = (24, 48)
  kernel_size: int = 9
  strides: int = 4
  capsule_types: int = 8
  capsule_dims: int = 8
  class_dims: int = 16
  routing_iterations: int = 3

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    """Logits (batch, num_classes): log-odds of the class-capsule lengths."""
    layers = self.layers(train=train)
    conv = lambda features, name: layers.conv(features, (self.kernel_size,), strides=(self.strides,), padding='SAME',
                                              name=name)
    for i, features in enumerate(self.conv_features):
      x = nn.relu(layers.norm(conv(features, f'conv{i}')(x), name=f'bn{i}'))
    primary = conv(self.capsule_types * self.capsule_dims, 'primary_capsules')(x)
    primary = squash(primary.reshape(*primary.shape[:2], self.capsule_types, self.capsule_dims))
    weights = self.param('class_capsule_weights', nn.initializers.normal(0.05),
                         (self.capsule_types, self.num_classes, self.capsule_dims, self.class_dims), self.param_dtype)
    primary, weights = promote_dtype(primary, weights, dtype=self.dtype)
    votes = jnp.einsum('btki,kcio->btkco', primary, weights)
    votes = votes.reshape(votes.shape[0], -1, self.num_classes, self.class_dims)
    lengths = jnp.linalg.norm(route(votes, self.routing_iterations), axis=-1)
    # in float32: 1 - 1e-6 is 1 in bfloat16, and its log-odds infinite
    lengths = jnp.clip(lengths.astype(jnp.float32), 1e-6, 1 - 1e-6)
    return (jnp.log(lengths) - jnp.log1p(-lengths)).astype(votes.dtype)
