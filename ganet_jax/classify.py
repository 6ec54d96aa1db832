"""Classify real recordings with a trained run: the practitioner's entry point.

  classifier = Classifier.from_checkpoint('runs/pnw')
  p = classifier.classify_stream(obspy.read('station.mseed'), p_onset=UTCDateTime(...))

Every record (a file, or an in-memory Stream through ``ingest.prepare_stream``) goes
through ``ingest.prepare_record``, the very function that made the training windows,
with the window length taken from the checkpoint's input shape and the signal chain
(rate, detrend, band-pass, picker) from the settings its training set recorded, so a
record is preprocessed exactly as the training records were. Labels are not needed:
a given event type or label is kept for the output but never decides anything.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Callable, Sequence

import numpy as np
import obspy

from ganet_jax import conventions
from ganet_jax.data import ingest
from ganet_jax.data.ingest import PrepareOptions, PreparedRecord
from ganet_jax.data.records_table import InputRecord
from ganet_jax.errors import RecordRejected
from ganet_jax.evaluation.predict import predict_probabilities
from ganet_jax.training.checkpoint import LATEST
from ganet_jax.training.checkpoint import load_trained
from ganet_jax.training.config import CONFIG_FILE


def decision(p_tectonic: float, threshold: float = 0.5) -> str:
  """'tectonic' when ``p_tectonic >= threshold`` (the rule of ``metrics``), else 'non-tectonic'."""
  return 'tectonic' if p_tectonic >= threshold else 'non-tectonic'


def keep_components(waveforms: np.ndarray, components: str) -> np.ndarray:
  """``waveforms`` (..., 3) with the components not in ``components`` zero-filled.

  A model trained on vertical-only records (N and E zero-filled: 'channel dropout')
  should see 3-component records as it saw its training records: ``components='Z'``.

  Raises:
    ValueError: for a component letter outside ``conventions.COMPONENT_ORDER``.
  """
  unknown = set(components) - set(conventions.COMPONENT_ORDER)
  if unknown or not components:
    raise ValueError(f'components {components!r}: use letters of {conventions.COMPONENT_ORDER!r}')
  kept = np.array(waveforms, np.float32, copy=True)
  for slot, name in enumerate(conventions.COMPONENT_ORDER):
    if name not in components:
      kept[..., slot] = 0.0
  return kept


def unlabelled(record: InputRecord) -> InputRecord:
  """``record`` with its event type and label blanked to a placeholder.

  Classification must not depend on (or be refused for) a missing or unknown
  event type, so preparation sees label 0 and the caller keeps the real columns.
  """
  rows = tuple({**row, 'event_type': '', 'label': '0'} for row in record.rows)
  return dataclasses.replace(record, rows=rows)


@dataclasses.dataclass
class Classifier:
  """A trained model plus the preparation that matches its training windows.

  Attributes:
    model: the Linen module.
    variables: {'params': ..., 'batch_stats': ...}.
    options: preparation options; their window length equals the checkpoint's.
    threshold: records (and events) with probability of tectonic >= threshold are tectonic.
    source: the run folder, for messages.
    components: the components the model sees; the others are zero-filled
      (``keep_components``), e.g. 'Z' for a model trained on vertical-only records.
  """
  model: object
  variables: dict
  options: PrepareOptions
  threshold: float = 0.5
  source: str = ''
  components: str = conventions.COMPONENT_ORDER

  @classmethod
  def from_checkpoint(cls, workdir: str | pathlib.Path, *, which: str = LATEST,
                      options: PrepareOptions | None = None,
                      components: str = conventions.COMPONENT_ORDER) -> Classifier:
    """Load a run folder written by ``experiment.run``.

    Args:
      workdir: the run folder (config.json + checkpoints/).
      which: 'latest' (the last epoch: the paper's rule) or 'best' (by validation).
      options: preparation options (distance limit, padding...); their window
        length, rate, detrend, band-pass and picker are replaced by the training
        set's (``ingest.options_from_settings``).
      components: see the class attribute.

    Returns:
      The classifier.

    Raises:
      FileNotFoundError: no such folder, no config.json or no checkpoint, naming the path.
      ValueError: the checkpoint cannot be restored into the architecture its
        config.json names (damaged, or saved by another model), or its input is
        not (samples, 3).
    """
    workdir = pathlib.Path(workdir)
    config_path = workdir / CONFIG_FILE
    if not workdir.is_dir():
      raise FileNotFoundError(f'{workdir}: no such run folder')
    if not config_path.is_file():
      raise FileNotFoundError(f'{config_path}: missing; {workdir} is not a run folder written by experiments.train')
    try:
      saved = json.loads(config_path.read_text())
      samples, channels = saved['data']['input_shape']
      threshold = float(saved['config'].get('threshold', 0.5))
    except (ValueError, KeyError, TypeError) as error:
      raise ValueError(f'{config_path}: not a run configuration ({type(error).__name__}: {error})') from None
    if channels != len(conventions.COMPONENT_ORDER):
      raise ValueError(f'{config_path}: the model takes {channels} channels; classification prepares '
                       f'{len(conventions.COMPONENT_ORDER)} ({conventions.COMPONENT_ORDER})')
    try:
      model, variables, _ = load_trained(workdir, which)
    except FileNotFoundError:
      raise  # names the missing checkpoint already
    except Exception as error:  # orbax reports damage and structure mismatches in several exception types
      detail = (str(error).strip().splitlines() or [''])[0][:200]
      raise ValueError(f'{workdir / "checkpoints" / which}: cannot restore the checkpoint: damaged, or saved by '
                       f'another architecture than {config_path} names ({saved["config"].get("model")!r}, '
                       f'overrides {saved["config"].get("model_overrides")}) ({type(error).__name__}: '
                       f'{detail})') from None
    # The training records' signal chain (rate, detrend, band-pass, picker), where the run recorded it.
    options = ingest.options_from_settings(saved['data'].get('preprocessing'), options or PrepareOptions())
    rate = options.preprocess.sampling_rate
    preprocess = dataclasses.replace(options.preprocess, window_s=samples / rate)
    keep_components(np.zeros((1, 3)), components)  # checks the letters before any record is read
    return cls(model, variables, dataclasses.replace(options, preprocess=preprocess), threshold, str(workdir),
               components)

  def probabilities(self, windows: np.ndarray) -> np.ndarray:
    """Probability of tectonic of prepared (n, samples, 3) windows (components not kept zero-filled)."""
    return predict_probabilities(self.model, self.variables, keep_components(windows, self.components))

  def prepare(self, record: InputRecord) -> PreparedRecord:
    """One input record's window, prepared as the training records were (labels ignored).

    Raises:
      RecordRejected: with the reason (unreadable file, too short after the P onset...).
    """
    return ingest.prepare_record(unlabelled(record), self.options)

  def classify_records(self, records: Sequence[InputRecord], progress: Callable[[int, int, int], None] | None = None
                       ) -> tuple[list[tuple[InputRecord, PreparedRecord, float]], list[dict[str, str]]]:
    """Classify input records; each one is either classified or listed with its reason.

    A record listed twice (same files, or same event, station and channel) is
    classified once and listed as a duplicate, so no event counts it twice.

    Args:
      records: the input records.
      progress: called as ``progress(done, prepared, unclassified)`` after each record.

    Returns:
      ([(input record, prepared record, p_tectonic)], [{'source', 'record', 'file', 'reason'}]).
    """
    prepared, rejected = [], []
    duplicates = ingest.DuplicateCheck()
    for done, record in enumerate(records, 1):
      try:
        duplicates.check_files(record)
        ready = self.prepare(record)
        duplicates.check_record_id(record, ready.record_id)
        prepared.append((record, ready))
      except Exception as error:  # one bad file is a listed reason, never a crash
        reason = str(error) if isinstance(error, RecordRejected) else f'{type(error).__name__}: {error}'
        rejected.append(ingest.rejection_line(record, reason))
      if progress:
        progress(done, len(prepared), len(rejected))
    if not prepared:
      return [], rejected
    p = self.probabilities(np.stack([r.window for _, r in prepared]))
    return [(record, ready, float(pi)) for (record, ready), pi in zip(prepared, p)], rejected

  def classify_stream(self, stream: obspy.Stream, p_onset: obspy.UTCDateTime | None = None, *,
                      origin_time: obspy.UTCDateTime | None = None, **columns: str) -> float:
    """Probability of tectonic of one station's recording, prepared in memory.

    Args:
      stream: the station's traces (Z and, where present, N/E or 1/2; one
        component is zero-filled as in training: 'channel dropout').
      p_onset: the P onset; the window runs ``window_s`` from it. Without it the
        onset is picked as for training records (STA/LTA after ``origin_time``).
      origin_time: the event's origin (defaults to ``p_onset``).
      **columns: further records-table fields (e.g. ``distance_km='12.5'``).

    Returns:
      The probability of tectonic.

    Raises:
      RecordRejected: the stream cannot give a window (too few samples after the
        P onset, rate too low, all channels flat...), with the reason.
    """
    prepared = ingest.prepare_stream(stream, self.options, p_onset=p_onset,
                                     origin_time=origin_time or p_onset, label='0', **columns)
    return float(self.probabilities(prepared.window[None])[0])
