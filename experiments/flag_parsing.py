"""Flag-value parsers shared by the binaries (no flags defined here, so any binary may import it)."""

from __future__ import annotations

import json
from typing import Any

from absl import app


def model_overrides(text: str) -> dict[str, Any]:
  """--model_overrides as a dict of constructor fields (UsageError naming the flag otherwise)."""
  try:
    overrides = json.loads(text)
  except json.JSONDecodeError as error:
    raise app.UsageError(f'--model_overrides: not JSON ({error})') from error
  if not isinstance(overrides, dict):
    raise app.UsageError(f'--model_overrides: a JSON object is needed, got {text}')
  return overrides
