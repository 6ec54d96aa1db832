"""Per-example classification losses: cross-entropy, class-weighted cross-entropy, focal loss.

Each takes ``(logits, labels)`` positionally, options keyword-only, and returns one
loss per example (the caller averages), as optax's losses do.
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax


def cross_entropy(logits: jax.Array, labels: jax.Array, *, label_smoothing: float = 0.0) -> jax.Array:
  """Softmax cross-entropy with integer labels: ``-sum_c t_c log softmax(logits)_c``.

  The target ``t`` is the one-hot label, or with ``label_smoothing`` = e the smoothed
  ``(1 - e) one_hot + e / num_classes`` (Szegedy et al., 2016), which keeps a small
  training set from being fitted with ever larger logits.

  Args:
    logits: (..., num_classes) unnormalised log-probabilities.
    labels: (...) integer class indices.
    label_smoothing: e in [0, 1).

  Returns:
    (...) per-example losses.

  Examples:
    >>> import jax.numpy as jnp
    >>> logits, labels = jnp.array([[2.0, 0.0]]), jnp.array([0])
    >>> round(float(cross_entropy(logits, labels)[0]), 4)  # -log softmax([2, 0])[0]
    0.1269
    >>> round(float(cross_entropy(logits, labels, label_smoothing=0.2)[0]), 4)  # 0.1 of the target on class 1
    0.3269
  """
  if not label_smoothing:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype), label_smoothing)
  return optax.softmax_cross_entropy(logits, targets)


def weighted_cross_entropy(logits: jax.Array, labels: jax.Array, *,
                           class_weights: Sequence[float] | jax.Array, label_smoothing: float = 0.0) -> jax.Array:
  """Class-weighted softmax cross-entropy: ``w[label] * cross_entropy``.

  With ``w_c = n / (num_classes * n_c)`` (``balanced_class_weights``) each class
  contributes equally to the mean loss, one of the paper's answers to imbalance.

  Args:
    logits: (..., num_classes) unnormalised log-probabilities.
    labels: (...) integer class indices.
    class_weights: (num_classes,) weight of each class.
    label_smoothing: as in ``cross_entropy``.

  Returns:
    (...) per-example losses.

  Examples:
    >>> import jax.numpy as jnp
    >>> loss = weighted_cross_entropy(jnp.zeros((2, 2)), jnp.array([0, 1]), class_weights=[1.0, 3.0])
    >>> [round(float(v), 4) for v in loss]  # log 2, three times over for class 1
    [0.6931, 2.0794]
  """
  weights = jnp.asarray(class_weights, logits.dtype)[labels]
  return weights * cross_entropy(logits, labels, label_smoothing=label_smoothing)


def focal_loss(logits: jax.Array, labels: jax.Array, *, gamma: float = 2.0,
               alpha: Sequence[float] | jax.Array | None = None) -> jax.Array:
  """Softmax focal loss (Lin et al., 2017), the paper's Table 4 variant.

  ``FL = -alpha[label] * (1 - p_t) ** gamma * log p_t`` with ``p_t = softmax(logits)[label]``.
  ``gamma = 0`` and no ``alpha`` give cross-entropy. (optax's ``sigmoid_focal_loss``
  is the one-vs-all sigmoid form; this is the multi-class softmax form.)

  Args:
    logits: (..., num_classes) unnormalised log-probabilities.
    labels: (...) integer class indices.
    gamma: focusing exponent, >= 0.
    alpha: optional (num_classes,) class weights.

  Returns:
    (...) per-example losses.

  Reference:
    T.-Y. Lin et al., "Focal loss for dense object detection", ICCV 2017.

  Examples:
    >>> import jax.numpy as jnp
    >>> logits, labels = jnp.array([[2.0, 0.0]]), jnp.array([0])
    >>> bool(jnp.allclose(focal_loss(logits, labels, gamma=0.0), cross_entropy(logits, labels)))
    True
    >>> round(float(focal_loss(logits, labels)[0]), 4)  # (1 - p_t) ** 2 shrinks an easy record's loss
    0.0018
  """
  log_probs = jax.nn.log_softmax(logits)
  is_label = jax.nn.one_hot(labels, logits.shape[-1], dtype=bool)
  log_p = jnp.sum(jnp.where(is_label, log_probs, 0.0), axis=-1)
  # (1 - p_t) ** gamma in log space: log(1 - p_t) is the log-sum of the other classes'
  # probabilities, finite for finite logits, so the gradient stays finite for every
  # gamma even where p_t rounds to 1 (where (1 - p) ** gamma has an infinite slope).
  log_not_p = jax.nn.logsumexp(jnp.where(is_label, -jnp.inf, log_probs), axis=-1)
  loss = -jnp.exp(gamma * log_not_p) * log_p
  if alpha is not None:
    loss = jnp.asarray(alpha, logits.dtype)[labels] * loss
  return loss


@functools.lru_cache(maxsize=None)
def loss_function(name: str, *, label_smoothing: float = 0.0, focal_gamma: float = 2.0,
                  class_weights: tuple[float, ...] | None = None) -> Callable[[jax.Array, jax.Array], jax.Array]:
  """The per-example loss ``(logits, labels) -> (batch,)`` named ``name``, with its options bound.

  One object per setting: the loss is a static argument of the jitted train step, and
  ``functools.partial`` objects compare by identity, so a new object per run would
  compile the step again for every run of the same setting.

  Args:
    name: 'cross_entropy', 'weighted_cross_entropy' or 'focal'.
    label_smoothing: e of ``cross_entropy``, for both cross-entropy losses.
    focal_gamma: ``focal_loss``'s gamma.
    class_weights: ``weighted_cross_entropy``'s weights (``balanced_class_weights``), as a tuple.

  Raises:
    ValueError: an unknown ``name``, smoothing with the focal loss, or weights missing for
      (or given to a loss other than) 'weighted_cross_entropy'.
  """
  if (class_weights is None) != (name != 'weighted_cross_entropy'):
    raise ValueError(f'class_weights go with the weighted_cross_entropy loss, and only with it (loss {name!r})')
  if name == 'cross_entropy':
    return functools.partial(cross_entropy, label_smoothing=label_smoothing)
  if name == 'weighted_cross_entropy':
    return functools.partial(weighted_cross_entropy, class_weights=class_weights, label_smoothing=label_smoothing)
  if name == 'focal':
    if label_smoothing:
      raise ValueError('label smoothing applies to the cross-entropy losses, not focal')
    return functools.partial(focal_loss, gamma=focal_gamma)
  raise ValueError(f'unknown loss {name!r}; known: cross_entropy, weighted_cross_entropy, focal')


def balanced_class_weights(labels, num_classes: int = 2) -> list[float]:
  """``n / (num_classes * n_c)`` per class; a class absent from ``labels`` gets weight 0.

  Raises:
    ValueError: if ``labels`` is empty.

  Examples:
    >>> balanced_class_weights([0, 0, 0, 1])
    [0.6666666666666666, 2.0]
  """
  counts = np.bincount(np.asarray(labels, np.int64), minlength=num_classes)
  if int(counts.sum()) == 0:
    raise ValueError('balanced_class_weights needs at least one label')
  return [float(counts.sum()) / (num_classes * int(c)) if c else 0.0 for c in counts]
