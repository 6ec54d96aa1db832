"""What a training or pretraining run folder holds besides its checkpoints, and how a run resumes from it.

  config.json     the settings and the data's fingerprints (which records, and a hash of
                  their windows: ``fingerprint``, ``windows_hash``); a run restarted in the
                  folder must have the same, or it is refused (``write_or_check_settings``);
                  and under ``code`` the library version and git commit that made the folder
                  (``provenance.code_version``)
  epochs.jsonl    one JSON line per finished epoch (``read_history``, ``write_history``)
  checkpoints/    orbax checkpoints (``checkpoint.RunCheckpoints``)
  the test evaluation's files (``evaluation.reports.EVALUATION_FILES``), and in a
  study's run folders the ids of the records it trained on (``TRAIN_IDS_FILE``)

A run holds its folder (``held``) while it writes: a second run on the same folder,
and a folder holding anything a run does not write (a classifier's predictions, a
prepared set), are refused.

``resume`` restores the last checkpoint (``checkpoint.RunCheckpoints``) or starts a
fresh state, and keeps the epoch lines up to that checkpoint: the epochs after it are
redone, so an interrupted run ends where an uninterrupted one would.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import pathlib
from typing import Any, Callable, Collection, Iterator, Mapping, Sequence

import numpy as np

from ganet_jax import provenance
from ganet_jax.data import outputs
from ganet_jax.data.record_array import rows_in_chunks
from ganet_jax.data.records import RecordSet
from ganet_jax.evaluation.reports import EVALUATION_FILES, json_ready
from ganet_jax.training.checkpoint import RunCheckpoints
from ganet_jax.training.config import CONFIG_FILE
from ganet_jax.training.summaries import TENSORBOARD_DIR

EPOCHS_FILE = 'epochs.jsonl'
CHECKPOINTS_FOLDER = 'checkpoints'
TRAIN_IDS_FILE = 'train_record_ids.txt'
CODE_KEY = 'code'  # config.json's record of the code that made the folder
# What a folder written before config.json recorded its code was made by.
UNRECORDED_VERSION = '0.1.0'
RUN_FILES = (CONFIG_FILE, EPOCHS_FILE, CHECKPOINTS_FOLDER, TENSORBOARD_DIR, *EVALUATION_FILES, TRAIN_IDS_FILE)


@contextlib.contextmanager
def held(workdir: str | pathlib.Path, *, part: str = '') -> Iterator[pathlib.Path]:
  """``workdir`` created, checked to be a run folder and locked for the block (``outputs.output_lock``).

  Args:
    workdir: the run folder.
    part: this process's share of a multi-process run (each process locks its own).

  Yields:
    ``workdir`` as a path.

  Raises:
    ValueError: one line: the folder is being written by another run (``outputs.OutputBusy``),
      or holds files a run does not write.
  """
  workdir = pathlib.Path(workdir)
  with outputs.output_lock(workdir, part=part):
    check_run_folder(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    yield workdir


def check_run_folder(workdir: pathlib.Path) -> None:
  """Refuses a folder that is neither new, empty nor a run's: a run never writes over other outputs.

  Raises:
    ValueError: naming the folder and (some of) the files that are not a run's.
  """
  if workdir.exists() and not workdir.is_dir():
    raise ValueError(f'{workdir}: is a file, not a run folder')
  names = sorted(p.name for p in workdir.iterdir() if not p.name.startswith('.')) if workdir.is_dir() else []
  foreign = [name for name in names if name not in RUN_FILES]
  if names and CONFIG_FILE not in names:
    foreign = names  # a run writes config.json first: without it nothing here is a run's
  if foreign:
    raise ValueError(f'{workdir}: not a run folder (holds {", ".join(foreign[:3])}{", ..." if len(foreign) > 3 else ""}'
                     f'{"" if CONFIG_FILE in names else f" and no {CONFIG_FILE}"}); give a new or empty folder')


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


def windows_hash(records: RecordSet | None, *, chunk_bytes: int | None = None) -> str | None:
  """A hash of the bytes of ``records``' windows (and pre-event noise when kept), with their shapes.

  The arrays are read a chunk of records at a time, so a set on disk larger than
  memory hashes in bounded memory (BLAKE2b reads ~1 GB/s).

  Args:
    records: the records; None gives None (no such set).
    chunk_bytes: about how many bytes are read at once (``record_array.CHUNK_BYTES`` when None).

  Returns:
    16 hex digits.
  """
  if records is None:
    return None
  digest = hashlib.blake2b(digest_size=8)
  for array in (records.waveforms, records.noise):
    if array is None:
      digest.update(b'no array')
      continue
    digest.update(f'{np.dtype(array.dtype).str} {tuple(array.shape)}'.encode())
    for _, chunk in rows_in_chunks(array, chunk_bytes):
      digest.update(np.ascontiguousarray(chunk).data)
  return digest.hexdigest()


def write_or_check_settings(workdir: pathlib.Path, settings: Mapping[str, Any], *,
                            config_defaults: Mapping[str, Any] | None = None,
                            added_data: Collection[str] = (),
                            meaning_changes: Sequence[tuple[str, str, str]] = ()) -> None:
  """Write ``settings`` to ``workdir/config.json``, or check that a run already there has the same.

  The file also records the code that made the folder (``provenance.code_version``, under
  ``code``). Code differences alone do not refuse a resume: a folder is refused only
  where a setting in effect (off its default) changed meaning between the version that
  made it and this one (``meaning_changes``), since only then would a resumed or
  re-evaluated run mix two meanings of one setting.

  Args:
    workdir: the run folder.
    settings: JSON-able settings, data fingerprints included; tuples compare as the
      lists they read back as.
    config_defaults: the defaults of the ``'config'`` section: a field added to the
      settings since the folder's run was written reads as its default, also inside
      a field that is itself a mapping (e.g. the augmentation's fields).
    added_data: entries of the ``'data'`` section added since older run folders were
      written (e.g. ``'windows'``): a folder without one is checked on the rest and
      gains it, so its run still resumes and later changes are caught.
    meaning_changes: ``(version, field, what changed)`` per ``'config'`` field whose
      effect changed in library ``version`` (``config.MEANING_CHANGES``).

  Raises:
    ValueError: naming each differing setting, the file and what to do; or the setting
      whose meaning changed between the folder's code and this one.
  """
  settings = json.loads(json.dumps(dict(settings)))  # tuples -> lists, as they read back
  path = workdir / CONFIG_FILE
  if not path.exists():
    path.write_text(json.dumps({**settings, CODE_KEY: provenance.code_version()}, indent=2) + '\n')
    return
  previous = json.loads(path.read_text())
  made_by = previous.pop(CODE_KEY, None) or {'library_version': UNRECORDED_VERSION}
  gained = [key for key in added_data if key in settings.get('data', {}) and key not in previous.get('data', {})]
  for key in gained:
    previous.setdefault('data', {})[key] = settings['data'][key]
  if config_defaults is not None:
    defaults = json.loads(json.dumps(dict(config_defaults)))
    previous['config'] = _with_defaults(previous.get('config', {}), defaults)
    settings = {**settings, 'config': _with_defaults(settings.get('config', {}), defaults)}
  if previous != settings:
    changed = '; '.join(differences(previous, settings))
    raise ValueError(f'{workdir} holds a run with other settings or data ({changed} in {path}); '
                     f'use another workdir, or the same settings to resume')
  check_meaning_unchanged(path, made_by['library_version'], settings.get('config', {}),
                          json.loads(json.dumps(dict(config_defaults or {}))), meaning_changes)
  if gained:
    stored = json.loads(path.read_text())
    stored.setdefault('data', {}).update({key: settings['data'][key] for key in gained})
    path.write_text(json.dumps(stored, indent=2) + '\n')


def check_meaning_unchanged(path: pathlib.Path, made_by: str, config: Mapping[str, Any],
                            defaults: Mapping[str, Any], meaning_changes: Sequence[tuple[str, str, str]]) -> None:
  """Refuses a folder made by a library version on the other side of a change of a setting it uses.

  Args:
    path: the folder's config.json (for the message).
    made_by: the library version that made the folder.
    config: the run's settings; a field is in effect when it differs from ``defaults``.
    defaults: the settings' defaults (the meaning every version gave them).
    meaning_changes: ``(version, field, what changed)``: ``field`` means something else
      from library ``version`` on.

  Raises:
    ValueError: naming the field, its value, both versions and what changed.
  """
  current = provenance.version_tuple(provenance.code_version()['library_version'])
  for version, field, what in meaning_changes:
    changed_at = provenance.version_tuple(version)
    in_effect = field in config and config[field] != defaults.get(field)
    if in_effect and (provenance.version_tuple(made_by) < changed_at) != (current < changed_at):
      raise ValueError(f'{path}: made by ganet_jax {made_by} with --config.{field}={config[field]!r}, which '
                       f'means something else since {version} ({what}); resuming or re-evaluating it would mix the '
                       f'two: use another workdir')


def _with_defaults(values: Any, defaults: Any) -> Any:
  """``values`` with the keys it lacks taken from ``defaults``, mapping inside mapping."""
  if not (isinstance(values, dict) and isinstance(defaults, dict)):
    return values
  return {**defaults, **{key: _with_defaults(value, defaults.get(key)) for key, value in values.items()}}


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
