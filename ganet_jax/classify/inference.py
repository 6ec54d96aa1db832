"""What a classifier's members say of checked windows: each member's probability, a member's attention.

Members of one architecture are evaluated together, one compiled call over their
stacked variables (``evaluation.predict.predict_ensemble``); a lone member runs
exactly as a run's own evaluation (``predict_probabilities``); a physics member
computes its features from the window and, for a noise-referenced set, the noise.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ganet_jax.classify.members import Member
from ganet_jax.classify.preparation import keep_components
from ganet_jax.evaluation.attention import record_attention
from ganet_jax.evaluation.physics import FeatureModel
from ganet_jax.evaluation.predict import predict_ensemble, predict_probabilities, stack_variables

Group = tuple[Any, Any, list[int]]  # (model, stacked variables or a single member's, member indices)


def architecture_groups(members: Sequence[Member]) -> list[Group]:
  """(model, stacked variables or a single member's, member indices) per architecture, in first-seen order."""
  groups: list[tuple[Any, list[int]]] = []
  for index, member in enumerate(members):
    for model, indices in groups:
      if model == member.model:
        indices.append(index)
        break
    else:
      groups.append((member.model, [index]))
  return [(model, stack_variables([members[i].variables for i in indices]) if len(indices) > 1
           else members[indices[0]].variables, indices) for model, indices in groups]


def needs_noise(members: Sequence[Member]) -> bool:
  """Whether a member takes the records' pre-event noise (a noise-referenced physics model)."""
  return any(isinstance(m.model, FeatureModel) and m.model.needs_noise for m in members)


def member_probabilities(groups: Sequence[Group], count: int, windows: np.ndarray,
                         noise: np.ndarray | None) -> np.ndarray:
  """(count, n) probability of tectonic of each member for checked windows.

  Args:
    groups: the members' ``architecture_groups``.
    count: how many members.
    windows: (n, samples, 3) windows, checked (``inputs.checked_inputs``) and with
      the components the members do not see zero-filled (``keep_components``).
    noise: (n, noise samples, 3) pre-event noise, for a noise-referenced physics member.
  """
  p = np.zeros((count, len(windows)), np.float32)
  for model, variables, indices in groups:
    if isinstance(model, FeatureModel):
      p[indices[0]] = model.p_tectonic(windows, noise)
    elif len(indices) == 1:
      p[indices[0]] = predict_probabilities(model, variables, windows)
    else:
      p[indices] = predict_ensemble(model, variables, windows)[0]
  return p


def check_finite(p: np.ndarray, members: Sequence[Member], names: Sequence[str] | None = None) -> None:
  """Raises ValueError naming the first member and window whose probability (``member_probabilities``) is NaN or inf.

  A non-finite probability compares false with any threshold, so it would read as a
  decision; it means damaged variables or a window the member cannot take.
  """
  bad = np.argwhere(~np.isfinite(p))
  if len(bad):
    member, window = (int(i) for i in bad[0])
    name = names[window] if names is not None else f'window {window}'
    raise ValueError(f'{members[member].source} gives probability {p[member, window]} for {name} '
                     f'({len(bad)} non-finite in all): its variables hold NaN/inf or it cannot take this '
                     'input; no decision is made from it (check or re-export the model)')


def member_attention(member: Member, window: np.ndarray, components: str) -> dict[str, np.ndarray]:
  """A member's CBAM spatial-attention weights of a checked (samples, 3) window, per stage.

  Returns:
    {stage: (samples,) weights in [0, 1]} in network order
    (``evaluation.attention.record_attention``); {} for a physics member or a network without CBAM.
  """
  if isinstance(member.model, FeatureModel):
    return {}
  return record_attention(member.model, member.variables, keep_components(window, components))
