"""What a training or pretraining run folder holds besides its checkpoints, and how a run resumes from it.

  config.json     the settings and the data's fingerprint; a run restarted in the folder
                  must have the same, or it is refused (``write_or_check_settings``)
  epochs.jsonl    one JSON line per finished epoch (``read_history``, ``write_history``)

``resume`` restores the last checkpoint (``checkpoint.RunCheckpoints``) or starts a
fresh state, and keeps the epoch lines up to that checkpoint: the epochs after it are
redone, so an interrupted run ends where an uninterrupted one would.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Any, Callable, Mapping, Sequence

from ganet_jax.data.records import RecordSet
from ganet_jax.evaluation.reports import json_ready
from ganet_jax.training.checkpoint import RunCheckpoints
from ganet_jax.training.config import CONFIG_FILE

EPOCHS_FILE = 'epochs.jsonl'


def fingerprint(records: RecordSet | None, *, columns: Sequence[str] = ('record_ids', 'labels'),
                extra: Mapping[str, Any] | None = None) -> str | None:
  """A short hash of ``records``' identity: which records, in which order, with which labels.

  Args:
    records: the records; None gives None (no such set).
    columns: the ``RecordSet`` columns hashed, in order.
    extra: more content the fingerprint covers (e.g. the settings that prepared the
      windows), hashed as sorted JSON after the columns; None adds nothing.

  Returns:
    16 hex digits.
  """
  if records is None:
    return None
  digest = hashlib.sha256()
  for column in columns:
    digest.update('\n'.join(map(str, getattr(records, column))).encode())
  if extra is not None:
    digest.update(json.dumps(json_ready(dict(extra)), sort_keys=True).encode())
  return digest.hexdigest()[:16]


def write_or_check_settings(workdir: pathlib.Path, settings: Mapping[str, Any], *,
                            config_defaults: Mapping[str, Any] | None = None) -> None:
  """Write ``settings`` to ``workdir/config.json``, or check that a run already there has the same.

  Args:
    workdir: the run folder.
    settings: JSON-able settings, data fingerprints included; tuples compare as the
      lists they read back as.
    config_defaults: the defaults of the ``'config'`` section: a field added to the
      settings since the folder's run was written reads as its default.

  Raises:
    ValueError: naming each differing setting, the file and what to do.
  """
  settings = json.loads(json.dumps(dict(settings)))  # tuples -> lists, as they read back
  path = workdir / CONFIG_FILE
  if not path.exists():
    path.write_text(json.dumps(settings, indent=2) + '\n')
    return
  previous = json.loads(path.read_text())
  if config_defaults is not None:
    defaults = json.loads(json.dumps(dict(config_defaults)))
    previous['config'] = {**defaults, **previous.get('config', {})}
  if previous != settings:
    changed = '; '.join(differences(previous, settings))
    raise ValueError(f'{workdir} holds a run with other settings or data ({changed} in {path}); '
                     f'use another workdir, or the same settings to resume')


def differences(before: Any, after: Any, where: str = '') -> list[str]:
  """'key.path: old -> new' for each setting that differs between two JSON-like values."""
  if isinstance(before, dict) and isinstance(after, dict):
    return [line for key in sorted(set(before) | set(after), key=str)
            for line in differences(before.get(key), after.get(key), f'{where}.{key}' if where else str(key))]
  return [] if before == after else [f'{where}: {before!r} -> {after!r}']


def resume(checkpoints: RunCheckpoints, target: Any, start: Callable[[], Any], workdir: pathlib.Path,
           log: Callable[[str], None]) -> tuple[Any, int, list[dict]]:
  """The state to train from, the first epoch to train, and the history of the epochs before it.

  Args:
    checkpoints: the run folder's checkpoints.
    target: the state's structure (``jax.eval_shape`` of ``start``), to restore into.
    start: makes a fresh state when there is no checkpoint.
    workdir: the run folder.
    log: told when a checkpoint is resumed from.
  """
  restored = checkpoints.restore(target)
  if restored is None:
    return start(), 1, []
  state, last_epoch = restored[0], restored[1]['epoch']
  log(f'resuming from the checkpoint of epoch {last_epoch} in {workdir}')
  return state, last_epoch + 1, read_history(workdir, through_epoch=last_epoch)


def read_history(workdir: pathlib.Path, *, through_epoch: int) -> list[dict]:
  """The epoch lines of ``workdir/epochs.jsonl`` up to ``through_epoch`` (none when the file is absent)."""
  path = workdir / EPOCHS_FILE
  if not path.exists():
    return []
  # Lines past the last checkpoint belong to epochs the resumed run will redo.
  return [line for line in map(json.loads, path.read_text().splitlines()) if line['epoch'] <= through_epoch]


def write_history(workdir: pathlib.Path, history: Sequence[Mapping[str, Any]]) -> None:
  """``workdir/epochs.jsonl``: one JSON line per epoch (NaN as null)."""
  (workdir / EPOCHS_FILE).write_text(''.join(json.dumps(json_ready(h)) + '\n' for h in history))
