"""Checks of a prepared record beyond its window: what a model needs of it.

``require_components`` refuses a record a model cannot see (its components missing
or flat).
"""

from __future__ import annotations

from ganet_jax.errors import RecordRejected

def require_components(channels_present: str, components: str) -> None:
  """Refuses a record that lacks signal in the components a model needs.

  A model that sees the vertical needs it (the P window is cut and picked on it);
  horizontals it sees may be missing, zero-filled as in training ('channel
  dropout'). A model that does not see the vertical needs every component it sees.

  Args:
    channels_present: the prepared record's components that carry signal
      (``PreparedRecord.extra['channels_present']``, e.g. 'ZN').
    components: the components the model sees (e.g. 'Z', 'ZNE').

  Raises:
    RecordRejected: naming the components missing, the model's and the record's.
  """
  needed = 'Z' if 'Z' in components else components
  missing = ''.join(c for c in needed if c not in channels_present)
  if missing:
    raise RecordRejected(f'no signal in {missing}, which the model needs (it sees {components}; the record '
                         f'carries {channels_present or "no component"}): not classified')
