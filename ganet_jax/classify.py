"""Classify real recordings with a trained run or ensemble: the practitioner's entry point.

  classifier = Classifier.from_checkpoint('runs/pnw')                 # one run folder
  classifier = Classifier.from_checkpoint(['runs/s0', 'runs/s1'])     # a seed ensemble: mean probability
  classifier = Classifier.pretrained('pnw')                           # weights shipped with the package
  p = classifier.classify_stream(obspy.read('station.mseed'), p_onset=UTCDateTime(...))

Every record (a file, or an in-memory Stream through ``ingest.prepare_stream``) goes
through ``ingest.prepare_record``, the very function that made the training windows,
with the window length taken from the checkpoint's input shape and the signal chain
(rate, detrend, band-pass, picker) from the settings its training set recorded, so a
record is preprocessed exactly as the training records were. Labels are not needed:
a given event type or label is kept for the output but never decides anything.

An ensemble's members must take the same input shape and preprocessing; members of
one architecture are evaluated together, one compiled call over their stacked variables
(``evaluation.predict.predict_ensemble``), members of another in a call of their own.
``export_pretrained`` writes an ensemble's inference variables (no optimizer state)
as a folder ``Classifier.pretrained`` loads (``ganet_jax.pretrained``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import obspy

from ganet_jax import conventions
from ganet_jax import pretrained as pretrained_lib
from ganet_jax.data import ingest
from ganet_jax.data import record_checks
from ganet_jax.data.ingest import PrepareOptions, PreparedRecord
from ganet_jax.data.records_table import InputRecord
from ganet_jax.errors import RecordRejected
from ganet_jax.evaluation.attention import record_attention
from ganet_jax.evaluation.predict import predict_ensemble, predict_probabilities, stack_variables
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


def _signal_chain(preprocessing: dict | None) -> dict | None:
  """The part of a training set's preprocessing settings that shapes a window (what members must share)."""
  if not preprocessing:
    return None
  return {'preprocess': {name: preprocessing.get('preprocess', {}).get(name) for name in ingest.SIGNAL_SETTINGS},
          'picker': preprocessing.get('picker')}


@dataclasses.dataclass(frozen=True)
class Member:
  """One trained network of a classifier.

  Attributes:
    model: the Linen module.
    variables: {'params': ..., 'batch_stats': ...}.
    name: its label in outputs (``p_tectonic_<name>`` columns).
    source: the run folder or pretrained file it came from, for messages.
    input_shape: (samples, channels) it takes.
    preprocessing: the training set's preprocessing settings (``ingest.settings``), or None.
    threshold: the threshold its run used.
    card: what ``export_pretrained`` records of it: model entry, seed, training settings and data.
  """
  model: Any
  variables: dict
  name: str
  source: str
  input_shape: tuple[int, int]
  preprocessing: dict | None = None
  threshold: float = 0.5
  card: dict = dataclasses.field(default_factory=dict)


class Classified(NamedTuple):
  """A classified record: the input, its prepared window, the ensemble's and each member's probability."""
  record: InputRecord
  prepared: PreparedRecord
  p_tectonic: float
  p_members: tuple[float, ...]


def _member_names(sources: Sequence[pathlib.Path]) -> list[str]:
  """Short distinct labels of run folders: their names, with parent folders where those repeat."""
  for depth in (1, 2, 3):
    names = ['-'.join(path.parts[-depth:]) for path in sources]
    if len(set(names)) == len(names):
      return names
  return [f'member{i}' for i in range(len(sources))]


def _load_run(workdir: pathlib.Path, which: str, name: str) -> Member:
  """One run folder as a member (raises FileNotFoundError / ValueError naming the path)."""
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
    model, variables, epoch = load_trained(workdir, which)
  except FileNotFoundError:
    raise  # names the missing checkpoint already
  except Exception as error:  # orbax reports damage and structure mismatches in several exception types
    detail = (str(error).strip().splitlines() or [''])[0][:200]
    raise ValueError(f'{workdir / "checkpoints" / which}: cannot restore the checkpoint: damaged, or saved by '
                     f'another architecture than {config_path} names ({saved["config"].get("model")!r}, '
                     f'overrides {saved["config"].get("model_overrides")}) ({type(error).__name__}: '
                     f'{detail})') from None
  data = {k: v for k, v in saved['data'].items() if k != 'preprocessing'}
  card = {'model': {'name': saved['config']['model'], 'overrides': saved['config'].get('model_overrides', {})},
          'seed': saved['config'].get('seed'), 'config': saved['config'], 'data': data,
          'source': str(workdir), 'checkpoint': which, 'epoch': epoch}
  return Member(model, variables, name, str(workdir), (samples, channels), saved['data'].get('preprocessing'),
                threshold, card)


def _check_members(members: Sequence[Member]) -> None:
  """Raises ValueError unless every member takes the same input shape, preprocessing and threshold."""
  first = members[0]
  for member in members[1:]:
    if member.input_shape != first.input_shape:
      raise ValueError(f'{member.source} takes {member.input_shape} records but {first.source} '
                       f'{first.input_shape}: an ensemble\'s members must take the same input')
    if _signal_chain(member.preprocessing) != _signal_chain(first.preprocessing):
      raise ValueError(f'{member.source} was trained on records preprocessed otherwise than {first.source}\'s '
                       f'({_signal_chain(member.preprocessing)} against {_signal_chain(first.preprocessing)}): '
                       'an ensemble\'s members must share the preprocessing (preprocess.json of their training set)')
    if member.threshold != first.threshold:
      raise ValueError(f'{member.source} uses threshold {member.threshold} but {first.source} {first.threshold}: '
                       'an ensemble has one threshold')


@dataclasses.dataclass
class Classifier:
  """Trained networks (one, or an ensemble) plus the preparation that matches their training windows.

  Attributes:
    members: the networks; a record's probability of tectonic is the mean of theirs.
    options: preparation options; their window length equals the members' input.
    threshold: records (and events) with probability of tectonic >= threshold are tectonic.
    source: the run folder(s) or pretrained ensemble, for messages.
    components: the components the model sees; the others are zero-filled
      (``keep_components``), e.g. 'Z' for a model trained on vertical-only records.
  """
  members: tuple[Member, ...]
  options: PrepareOptions
  threshold: float = 0.5
  source: str = ''
  components: str = conventions.COMPONENT_ORDER

  @classmethod
  def from_members(cls, members: Sequence[Member], *, options: PrepareOptions | None = None,
                   components: str = conventions.COMPONENT_ORDER, source: str = '') -> Classifier:
    """A classifier of ``members`` preparing records as their training set was prepared.

    Args:
      members: one or more members, of one input shape and preprocessing.
      options: preparation options (distance limit, padding...); their window
        length, rate, detrend, band-pass and picker are replaced by the training
        set's (``ingest.options_from_settings``).
      components: see the class attribute.
      source: for messages (default: the members' sources).

    Raises:
      ValueError: no members, or members whose input shape, preprocessing or threshold differ.
    """
    members = tuple(members)
    if not members:
      raise ValueError('a classifier needs at least one member')
    _check_members(members)
    samples, _ = members[0].input_shape
    # The training records' signal chain (rate, detrend, band-pass, picker), where the run recorded it.
    options = ingest.options_from_settings(members[0].preprocessing, options or PrepareOptions())
    rate = options.preprocess.sampling_rate
    preprocess = dataclasses.replace(options.preprocess, window_s=samples / rate)
    keep_components(np.zeros((1, 3)), components)  # checks the letters before any record is read
    # unlabeled: classification must not depend on (or be refused for) a missing or unknown event type
    return cls(members, dataclasses.replace(options, preprocess=preprocess, unlabeled=True), members[0].threshold,
               source or ','.join(m.source for m in members), components)

  @classmethod
  def from_checkpoint(cls, workdir: str | os.PathLike | Sequence[str | os.PathLike], *, which: str = LATEST,
                      options: PrepareOptions | None = None,
                      components: str = conventions.COMPONENT_ORDER) -> Classifier:
    """Load a run folder written by ``experiment.run``, or several as an ensemble.

    Args:
      workdir: the run folder (config.json + checkpoints/), or a sequence of them:
        a seed ensemble whose probability is the mean of its members'.
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
        config.json names (damaged, or saved by another model), its input is
        not (samples, 3), or members differ in input shape, preprocessing or threshold.
    """
    single = isinstance(workdir, (str, os.PathLike))
    folders = [pathlib.Path(workdir)] if single else [pathlib.Path(w) for w in workdir]
    if len(set(folders)) != len(folders):
      raise ValueError(f'a run folder is listed twice in {", ".join(map(str, folders))}')
    members = [_load_run(folder, which, name) for folder, name in zip(folders, _member_names(folders))]
    return cls.from_members(members, options=options, components=components)

  @classmethod
  def pretrained(cls, name: str, *, options: PrepareOptions | None = None,
                 components: str | None = None) -> Classifier:
    """An ensemble shipped with the package (``ganet_jax/pretrained/<name>``) or exported to a folder.

    Args:
      name: a shipped name (e.g. 'pnw'), or the folder ``export_pretrained`` wrote.
      options: preparation options, as for ``from_checkpoint``.
      components: the components the members see; default: the card's (e.g. 'Z'
        for networks trained on vertical-only records).

    Raises:
      ValueError: an unknown name (listing the shipped ones) or a damaged member file.
    """
    card, folder, loaded = pretrained_lib.read(name)
    preprocessing = card.get('preprocessing')
    members = [Member(model, variables, entry.get('name', f'member{i}'), str(folder / entry['file']),
                      tuple(card['input_shape']), preprocessing, float(card['threshold']), entry)
               for i, ((model, variables), entry) in enumerate(zip(loaded, card['members']))]
    return cls.from_members(members, options=options, components=components or card['components'],
                            source=str(folder))

  @functools.cached_property
  def _groups(self) -> list[tuple[Any, Any, list[int]]]:
    """(model, stacked variables or a single member's, member indices) per architecture."""
    groups: list[tuple[Any, list[int]]] = []
    for index, member in enumerate(self.members):
      for model, indices in groups:
        if model == member.model:
          indices.append(index)
          break
      else:
        groups.append((member.model, [index]))
    return [(model, stack_variables([self.members[i].variables for i in indices]) if len(indices) > 1
             else self.members[indices[0]].variables, indices) for model, indices in groups]

  def member_probabilities(self, windows: np.ndarray) -> np.ndarray:
    """(members, n) probability of tectonic of each member for prepared (n, samples, 3) windows.

    Members of one architecture run in one compiled call (``predict_ensemble``); a
    lone member runs exactly as a run's own evaluation (``predict_probabilities``).
    """
    windows = keep_components(windows, self.components)
    p = np.zeros((len(self.members), len(windows)), np.float32)
    for model, variables, indices in self._groups:
      if len(indices) == 1:
        p[indices[0]] = predict_probabilities(model, variables, windows)
      else:
        p[indices] = predict_ensemble(model, variables, windows)[0]
    return p

  def probabilities(self, windows: np.ndarray) -> np.ndarray:
    """Probability of tectonic (the members' mean) of prepared (n, samples, 3) windows."""
    return self.member_probabilities(windows).mean(axis=0)

  def prepare(self, record: InputRecord) -> PreparedRecord:
    """One input record's window, prepared as the training records were (labels ignored).

    Raises:
      RecordRejected: with the reason (unreadable file, too short after the P onset,
        no signal in the components the model needs...).
    """
    return self._seen(ingest.prepare_record(record, self.options))

  def _seen(self, prepared: PreparedRecord) -> PreparedRecord:
    """``prepared``, unless it lacks what the model needs (``record_checks.require_components``)."""
    record_checks.require_components(prepared.extra['channels_present'], self.components)
    return prepared

  def attention(self, record: InputRecord | PreparedRecord | np.ndarray, *, member: int = 0) -> dict[str, np.ndarray]:
    """A record's CBAM spatial-attention weights of every stage, on the record's time axis.

    Args:
      record: an input record (prepared first), a prepared record, or a (samples, 3) window.
      member: which member's attention (members are separate networks: their
        attention is not averaged).

    Returns:
      {stage: (samples,) weights in [0, 1]} in network order
      (``evaluation.attention.record_attention``); {} for a network without CBAM.
      ``evaluation.plots.plot_attention(window, weights, path)`` draws them.
    """
    if isinstance(record, InputRecord):
      record = self.prepare(record)
    window = record.window if isinstance(record, PreparedRecord) else np.asarray(record)
    chosen = self.members[member]
    return record_attention(chosen.model, chosen.variables, keep_components(window, self.components))

  def classify_records(self, records: Sequence[InputRecord], progress: Callable[[int, int, int], None] | None = None
                       ) -> tuple[list[Classified], list[dict[str, str]]]:
    """Classify input records; each one is either classified or listed with its reason.

    A record listed twice (same files, or same event, station and channel) is
    classified once and listed as a duplicate, so no event counts it twice.

    Args:
      records: the input records.
      progress: called as ``progress(done, prepared, unclassified)`` after each record.

    Returns:
      ([Classified(input record, prepared record, p_tectonic, p_members)],
       [{'source', 'record', 'file', 'reason'}]).
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
    p = self.member_probabilities(np.stack([r.window for _, r in prepared]))
    mean = p.mean(axis=0)
    return [Classified(record, ready, float(mean[i]), tuple(float(x) for x in p[:, i]))
            for i, (record, ready) in enumerate(prepared)], rejected

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
    prepared = self._seen(ingest.prepare_stream(stream, self.options, p_onset=p_onset,
                                                origin_time=origin_time or p_onset, **columns))
    return float(self.probabilities(prepared.window[None])[0])


def export_pretrained(run_folders: str | os.PathLike | Sequence[str | os.PathLike], destination: str | os.PathLike,
                      *, which: str = LATEST, components: str = conventions.COMPONENT_ORDER, description: str = '',
                      overwrite: bool = False) -> pathlib.Path:
  """Write run folders' inference variables as an ensemble ``Classifier.pretrained`` loads.

  Each member keeps its parameters and batch statistics only (no optimizer state),
  one ``flax.serialization`` msgpack file each, beside a ``card.json`` holding what
  classifying needs and what a reader should know: the input shape, threshold,
  components, the training set's preprocessing, ``description``, and per member the
  model and its fields, seed, training settings, training data (record counts and
  fingerprints) and source run. ``ganet_jax/pretrained/<name>`` ships with the package.

  Args:
    run_folders: one run folder or several (a seed ensemble), as for ``Classifier.from_checkpoint``.
    destination: the folder to write, e.g. ``ganet_jax.pretrained.PRETRAINED_ROOT / 'pnw'``.
    which: 'latest' or 'best' checkpoint of every run.
    components: the components the members see when loaded (e.g. 'Z' for
      networks trained on vertical-only records).
    description: free text for the card: training data, split, recipe, limits.
    overwrite: replace an existing ensemble folder.

  Returns:
    The folder written.

  Raises:
    FileNotFoundError, ValueError: as ``Classifier.from_checkpoint``; an existing destination.
  """
  classifier = Classifier.from_checkpoint(run_folders, which=which, components=components)
  first = classifier.members[0]
  card = {'input_shape': list(first.input_shape), 'threshold': classifier.threshold, 'components': components,
          'preprocessing': first.preprocessing, 'description': description,
          'members': [{'name': member.name, **member.card} for member in classifier.members]}
  return pretrained_lib.write(destination, json.loads(json.dumps(card)), [m.variables for m in classifier.members],
                              overwrite=overwrite)
