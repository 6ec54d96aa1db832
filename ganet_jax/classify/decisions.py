"""A classification's decisions: tectonic or not at the threshold, and events' probabilities by a rule."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ganet_jax.conventions import THRESHOLD
from ganet_jax.evaluation import aggregation


def decision(p_tectonic: float, threshold: float = THRESHOLD) -> str:
  """'tectonic' when ``p_tectonic >= threshold`` (the rule of ``metrics``), else 'non-tectonic'."""
  return 'tectonic' if p_tectonic >= threshold else 'non-tectonic'


def event_probabilities(event_ids: Sequence[str], p_tectonic: Sequence[float], rule: str = 'mean_probability',
                        learned_rule: aggregation.LearnedAggregation | None = None) -> tuple[list[str], np.ndarray]:
  """Each event's probability of tectonic from its records' (``evaluation.aggregation``).

  Args:
    event_ids: (n,) the records' events.
    p_tectonic: (n,) the records' probabilities.
    rule: 'mean_probability', 'mean_logit' or 'learned' (with ``learned_rule``).
    learned_rule: the fitted rule, for 'learned'.

  Returns:
    (events in order of first appearance, their probability of tectonic).
  """
  event_ids = [str(e) for e in event_ids]
  labels = np.zeros(len(event_ids), np.int32)  # the rules carry labels along; classification has none
  events, _, p = aggregation.aggregate(rule, np.asarray(event_ids, dtype=str), labels, p_tectonic,
                                       learned_rule=learned_rule)
  by_event = dict(zip(events.tolist(), p.tolist()))
  order = list(dict.fromkeys(event_ids))
  return order, np.array([by_event[event] for event in order], np.float64)
