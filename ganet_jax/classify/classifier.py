"""The classifier: trained networks (one, or an ensemble) plus the preparation that matches their training.

  classifier = Classifier.from_checkpoint('runs/pnw')                 # one run folder
  classifier = Classifier.from_checkpoint(['runs/s0', 'runs/s1'])     # a seed ensemble: mean probability
  classifier = Classifier.pretrained('pnw')                           # weights shipped with the package
  p = classifier.classify_stream(obspy.read('station.mseed'), p_onset=UTCDateTime(...))

Members come from ``members`` (run folders, pretrained models of any kind), their records
are prepared by ``preparation``, what they say of the windows comes from ``inference``
(one compiled call per architecture) and events are decided by ``decisions``.

Every entry point refuses what the members cannot see, saying what they expect:
windows of another length, rate or preprocessing, NaN/inf samples (``inputs``), records
recorded at a rate too low for the members' band (``preparation``).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Callable, NamedTuple, Sequence

from absl import logging
import numpy as np
import obspy

from ganet_jax import conventions
from ganet_jax.classify import decisions
from ganet_jax.classify import inference
from ganet_jax.classify import inputs
from ganet_jax.classify import members as members_lib
from ganet_jax.classify import model_folder
from ganet_jax.classify import preparation
from ganet_jax.classify.members import Member
from ganet_jax.classify.preparation import check_components, keep_components, options_for
from ganet_jax.data import ingest
from ganet_jax.data import splits
from ganet_jax.data.ingest import PrepareOptions, PreparedRecord
from ganet_jax.data.records import RecordSet
from ganet_jax.data.records_table import InputRecord
from ganet_jax.evaluation import aggregation
from ganet_jax.training.checkpoint import LATEST


# Records of a RecordSet classified at a time: a multiple of the default batch size,
# so the batches (and the probabilities) are those of the whole set at once.
RECORDSET_CHUNK = 256


class Classified(NamedTuple):
  """A classified record: the input, its prepared window, the ensemble's and each member's probability."""
  record: InputRecord
  prepared: PreparedRecord
  p_tectonic: float
  p_members: tuple[float, ...]


@dataclasses.dataclass
class Classifier:
  """Trained models (one, or an ensemble) plus the preparation that matches their training windows.

  Attributes:
    members: the networks or physics models; a record's probability of tectonic is the mean of theirs.
    options: preparation options; their window length equals the members' input.
    threshold: records (and events) with probability of tectonic >= threshold are tectonic.
    source: the run folder(s) or pretrained model, for messages.
    components: the components the model sees; the others are zero-filled
      (``keep_components``), e.g. 'Z' for a model trained on vertical-only records.
    card: a pretrained model's card (``model_folder``): its description,
      limits, figures; {} for run folders.
    aggregation: the rule combining an event's records (``evaluation.aggregation``):
      'mean_probability' unless the card names another.
    learned_aggregation: the fitted rule when ``aggregation == 'learned'``.
    allow_unrecorded_preprocessing: prepare records with the default settings even
      when the members record no preprocessing of their training records (see
      ``check_recorded_preprocessing``); off, such members classify arrays only.
  """
  members: tuple[Member, ...]
  options: PrepareOptions
  threshold: float = conventions.THRESHOLD
  source: str = ''
  components: str = conventions.COMPONENT_ORDER
  card: dict = dataclasses.field(default_factory=dict)
  aggregation: str = 'mean_probability'
  learned_aggregation: aggregation.LearnedAggregation | None = None
  allow_unrecorded_preprocessing: bool = False

  @classmethod
  def from_members(cls, members: Sequence[Member], *, options: PrepareOptions | None = None,
                   components: str = conventions.COMPONENT_ORDER, source: str = '',
                   allow_unrecorded_preprocessing: bool = False) -> Classifier:
    """A classifier of ``members`` preparing records as their training set was prepared.

    Args:
      members: one or more members, of one input shape and preprocessing.
      options: preparation options (distance limit, padding...); their window
        length, rate, detrend, band-pass and picker are replaced by the training
        set's (``preparation.options_for``).
      components: see the class attribute.
      source: for messages (default: the members' sources).
      allow_unrecorded_preprocessing: see the class attribute.

    Raises:
      ValueError: no members, or members whose input shape, preprocessing or threshold differ.
    """
    members = tuple(members)
    members_lib.check_members(members)
    check_components(components)  # before any record is read
    return cls(members, options_for(members[0], options), members[0].threshold,
               source or ','.join(m.source for m in members), components,
               allow_unrecorded_preprocessing=allow_unrecorded_preprocessing)

  @classmethod
  def from_checkpoint(cls, workdir: str | os.PathLike | Sequence[str | os.PathLike], *, which: str = LATEST,
                      options: PrepareOptions | None = None, components: str = conventions.COMPONENT_ORDER,
                      allow_unrecorded_preprocessing: bool = False) -> Classifier:
    """Load a run folder written by ``experiment.run``, or several as an ensemble.

    Args:
      workdir: the run folder (config.json + checkpoints/), or a sequence of them:
        a seed ensemble whose probability is the mean of its members'.
      which: 'latest' (the last epoch: the paper's rule) or 'best' (by validation).
      options: preparation options (distance limit, padding...); their window
        length, rate, detrend, band-pass and picker are replaced by the training
        set's (``preparation.options_for``).
      components: see the class attribute.
      allow_unrecorded_preprocessing: see the class attribute.

    Returns:
      The classifier.

    Raises:
      FileNotFoundError: no such folder, no config.json or no checkpoint, naming the path.
      ValueError: a folder listed twice; the checkpoint cannot be restored into the
        architecture its config.json names (damaged, or saved by another model), its
        input is not (samples, 3), or members differ in input shape, preprocessing or threshold.
    """
    return cls.from_members(members_lib.load_runs(workdir, which), options=options, components=components,
                            allow_unrecorded_preprocessing=allow_unrecorded_preprocessing)

  @classmethod
  def pretrained(cls, name: str, *, options: PrepareOptions | None = None,
                 components: str | None = None, allow_unrecorded_preprocessing: bool = False) -> Classifier:
    """A model shipped with the package (``ganet_jax/pretrained/<name>``) or exported to a folder.

    Any kind the format holds (``model_folder``): networks of any registered
    architecture, or a physics feature model. The card's limits are logged as a
    warning and kept in ``classifier.card``; its event aggregation rule is applied
    by ``event_probabilities``.

    Args:
      name: a shipped name (e.g. 'pnw'), or the folder ``export_pretrained`` or
        ``export_physics_pretrained`` wrote.
      options: preparation options, as for ``from_checkpoint``.
      components: the components the members see; default: the card's (e.g. 'Z'
        for networks trained on vertical-only records).
      allow_unrecorded_preprocessing: see the class attribute.

    Raises:
      ValueError: an unknown name (listing the shipped ones), a damaged member file,
        or a card this version cannot apply (kind, aggregation rule).
    """
    members, card, folder = members_lib.load_pretrained(name)
    classifier = cls.from_members(members, options=options, components=components or card['components'],
                                  source=str(folder), allow_unrecorded_preprocessing=allow_unrecorded_preprocessing)
    rule, learned = model_folder.aggregation_rule(card)
    classifier = dataclasses.replace(classifier, card=card, aggregation=rule, learned_aggregation=learned)
    for limit in classifier.limits:
      logging.warning('model card of %s: %s', folder.name, limit)
    return classifier

  @property
  def limits(self) -> list[str]:
    """The limits the model card states (``model_folder.card_limits``); [] for run folders."""
    return model_folder.card_limits(self.card)

  @functools.cached_property
  def _groups(self) -> list[inference.Group]:
    """(model, stacked variables or a single member's, member indices) per architecture."""
    return inference.architecture_groups(self.members)

  def member_probabilities(self, windows: np.ndarray | RecordSet, *, noise: np.ndarray | None = None,
                           sampling_rate: float | None = None, names: Sequence[str] | None = None) -> np.ndarray:
    """(members, n) probability of tectonic of each member for prepared windows.

    Members of one architecture run in one compiled call (``predict_ensemble``); a
    lone member runs exactly as a run's own evaluation (``predict_probabilities``).

    Args:
      windows: (n, samples, 3) windows prepared as the members' training records, or a
        ``RecordSet`` (its rate, preprocessing and noise are checked and used).
      noise: (n, noise samples, 3) pre-event noise of the windows, for a physics member
        of a noise-referenced feature set.
      sampling_rate: the windows' rate in Hz, when known: refused unless the members'.
      names: the windows' names in messages (default 'window <index>').

    Raises:
      ValueError: windows of another shape, rate or preprocessing, NaN/inf samples,
        or missing noise a member needs, saying what was expected; a member giving a
        non-finite probability, naming the member and the window (never a decision).
    """
    if isinstance(windows, RecordSet) and len(windows) > RECORDSET_CHUNK:
      # a prepared set on disk is read a chunk at a time, never whole
      return np.concatenate([
          self.member_probabilities(windows.subset(np.arange(first, min(first + RECORDSET_CHUNK, len(windows)))),
                                    noise=None if noise is None else noise[first:first + RECORDSET_CHUNK],
                                    sampling_rate=sampling_rate,
                                    names=None if names is None else names[first:first + RECORDSET_CHUNK])
          for first in range(0, len(windows), RECORDSET_CHUNK)], axis=1)
    windows, noise = self._checked(windows, noise, sampling_rate)
    p = inference.member_probabilities(self._groups, len(self.members), keep_components(windows, self.components),
                                       noise)
    inference.check_finite(p, self.members, names)
    return p

  def probabilities(self, windows: np.ndarray | RecordSet, *, noise: np.ndarray | None = None,
                    sampling_rate: float | None = None) -> np.ndarray:
    """Probability of tectonic (the members' mean) of prepared windows (arguments as ``member_probabilities``)."""
    return self.member_probabilities(windows, noise=noise, sampling_rate=sampling_rate).mean(axis=0)

  @property
  def needs_noise(self) -> bool:
    """Whether a member takes the records' pre-event noise (a noise-referenced physics model)."""
    return inference.needs_noise(self.members)

  def _checked(self, windows, noise, sampling_rate) -> tuple[np.ndarray, np.ndarray | None]:
    """The windows and noise as arrays, refused unless the members can take them (``inputs.checked_inputs``)."""
    return inputs.checked_inputs(windows, noise, sampling_rate, self.members[0], self.options.preprocess,
                                 needs_noise=self.needs_noise, source=self.source, components=self.components)

  def event_probabilities(self, event_ids: Sequence[str], p_tectonic: Sequence[float]
                          ) -> tuple[list[str], np.ndarray]:
    """Each event's probability of tectonic by the model's ``aggregation`` rule (``decisions.event_probabilities``)."""
    return decisions.event_probabilities(event_ids, p_tectonic, self.aggregation, self.learned_aggregation)

  def check_recorded_preprocessing(self) -> None:
    """Refuses to prepare records for members that record no preprocessing of their training records.

    A run trained on arrays (the built-in synthetic set, windows made elsewhere)
    says nothing of how its windows were made: records prepared with the default
    settings would be classified on windows unlike any it saw, without a word.

    Raises:
      ValueError: naming the source and what to do, unless ``allow_unrecorded_preprocessing``.
    """
    if self.members[0].preprocessing or self.allow_unrecorded_preprocessing:
      return
    window = self.options.preprocess
    raise ValueError(f'{self.source}: records no preprocessing of its training records (trained on arrays, e.g. '
                     f'the built-in synthetic set): records prepared for it ({window.window_s:g} s windows at '
                     f'{window.sampling_rate:g} Hz, default settings) would be unlike anything it saw. Train on '
                     'a set made by experiments.prepare, or pass allow_unrecorded_preprocessing=True '
                     '(--allow_unrecorded_preprocessing) to classify them anyway')

  def prepare(self, record: InputRecord) -> PreparedRecord:
    """One input record's window, prepared as the training records were (labels ignored).

    Raises:
      RecordRejected: with the reason (unreadable file, too short after the P onset,
        no signal in the components the model needs...).
      ValueError: members that record no preprocessing (``check_recorded_preprocessing``).
    """
    self.check_recorded_preprocessing()
    return self._seen(ingest.prepare_record(record, self.options))

  def _seen(self, prepared: PreparedRecord) -> PreparedRecord:
    """``prepared``, unless the members cannot see it (``preparation.check_prepared``)."""
    return preparation.check_prepared(prepared, preparation.needed_band(self.members, self.options.preprocess),
                                      self.components)

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
    window = record.window if isinstance(record, PreparedRecord) else record
    if np.ndim(window) != 2:
      raise ValueError(f'attention takes one (samples, 3) window; got shape {np.shape(window)}')
    window = self._checked(np.asarray(window)[None], None, None)[0][0]
    return inference.member_attention(self.members[member], window, self.components)

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

    Raises:
      ValueError: members that record no preprocessing (``check_recorded_preprocessing``);
        one event id naming records of two events (origins apart, e.g. two
        tables numbering their events alike: ``splits.check_event_ids``), as
        ``experiments.prepare`` refuses them; a member giving a non-finite probability,
        naming the record.
    """
    self.check_recorded_preprocessing()
    prepared, rejected = ingest.prepare_or_reject(records, self.options, keep=lambda record, ready: (record, ready),
                                                  progress=progress, prepare=lambda record, _: self.prepare(record))
    if not prepared:
      return [], rejected
    splits.check_event_ids([ready.event_id for _, ready in prepared],
                           [np.datetime64(ready.origin_time.datetime, 'ms') for _, ready in prepared],
                           sources=[record.source for record, _ in prepared])
    preparation.warn_unchecked_distances([ready for _, ready in prepared], self.options.preprocess.max_distance_km)
    noise = np.stack([r.noise for _, r in prepared]) if self.needs_noise else None
    p = self.member_probabilities(np.stack([r.window for _, r in prepared]), noise=noise,
                                  names=[f'record {ready.record_id} ({record.file_names or record.source})'
                                         for record, ready in prepared])
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
        P onset, rate too low or too low for the members' band, all channels flat...),
        with the reason.
      ValueError: members that record no preprocessing (``check_recorded_preprocessing``).
    """
    self.check_recorded_preprocessing()
    prepared = self._seen(ingest.prepare_stream(stream, self.options, p_onset=p_onset,
                                                origin_time=origin_time or p_onset, **columns))
    preparation.warn_unchecked_distances([prepared], self.options.preprocess.max_distance_km)
    noise = prepared.noise[None] if self.needs_noise else None
    return float(self.probabilities(prepared.window[None], noise=noise)[0])

