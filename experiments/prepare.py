r"""Prepare real records (or a SeisBench-format dataset) as a prepared data-set folder.

  python -m experiments.prepare --input=../shared/data/pnw --records=labels.csv \
      --output=/tmp/pnw_prepared
  python -m experiments.prepare --input=../shared/data/pnw --records=labels.csv \
      --input=../shared/data/pnw-extra --records=labels.csv --output=/tmp/pnw_all

Several --input (each with its --records and --source name, paired by position)
make one set; the manifest and rejection report say each record's source. Prints
the input, accepted and rejected counts (per source and in all) and the
rejections by kind of reason, each with a real example; the folder holds
waveforms.npy, manifest.csv, rejected.csv, preprocess.json, noise.npy with
--noise_s and, when files under an --input were not taken as waveforms,
skipped.csv (``ganet_jax.data.records``).

Noise-referenced inputs keep each record's pre-event noise and whiten the window by it:

  python -m experiments.prepare --input=../shared/data/pnw --records=labels.csv \
      --bandpass=1,15 --window_s=40 --noise_s=40 --normalization=noise_whiten --output=/tmp/pnw_whitened

The set is built in a temporary folder beside --output and moved into place when
complete: a failed, interrupted or killed run leaves the earlier set or nothing
(the temporary folder of a killed run is removed by the next). An existing set is
replaced only with --overwrite; a folder holding anything else is refused, and so
is an --output another run is writing. Every flag and path is checked before any
record is read.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import pathlib
import time
from typing import Mapping, Sequence

from absl import app
from absl import flags
import numpy as np
import obspy

from experiments import faults
from ganet_jax.data import catalog as catalog_lib
from ganet_jax.data import ingest
from ganet_jax.data import labels as labels_lib
from ganet_jax.data import outputs
from ganet_jax.data import picking
from ganet_jax.data import preprocess
from ganet_jax.data import records_table
from ganet_jax.data import seisbench
from ganet_jax.data import sources as sources_lib
from ganet_jax.data import splits
from ganet_jax.data import records as records_lib
from ganet_jax.data.records import RecordSet
from ganet_jax.data.records import save_prepared
from ganet_jax.progress import Progress

SKIPPED_FILE = 'skipped.csv'
OUTPUT_FILES = (records_lib.WAVEFORMS_FILE, records_lib.MANIFEST_FILE, records_lib.REJECTED_FILE,
                records_lib.PREPROCESS_FILE, records_lib.NOISE_FILE, SKIPPED_FILE)

FLAGS = flags.FLAGS
flags.DEFINE_multi_string('input', None, 'Folder of waveform files (or the SeisBench dataset folder); repeat '
                          'it to merge several inputs into one set.', required=True)
flags.DEFINE_multi_string('records', None, 'Records table CSV, relative to its --input or absolute, one per '
                          '--input in the same order; without it the files under --input are grouped into '
                          "records by station and event from their headers (SAC headers / --catalog give the event).")
flags.DEFINE_multi_string('source', None, "Name of each --input in the manifest's source column, in the same "
                          "order (default: the input folder's name).")
flags.DEFINE_string('output', None, 'Prepared data-set folder to write (new, empty, or an earlier set with '
                    '--overwrite).', required=True)
flags.DEFINE_bool('overwrite', False, 'Replace the prepared set already in --output.')
flags.DEFINE_enum('format', 'obspy', ['obspy', 'seisbench'], 'Input kind.')
flags.DEFINE_string('column_map', '', 'field=column pairs for the records table, e.g. '
                    '"event_id=evid,p_time=P". Fields: ' + ', '.join(records_table.COLUMN_CANDIDATES))
flags.DEFINE_string('event_type_map', '', 'Extra event-type decisions "type=known type or 0/1", e.g. '
                    '"nuclear explosion (DPRK)=nuclear explosion".')
flags.DEFINE_bool('unlabeled', False, 'Records of unknown type (a table without event type or label, e.g. '
                  'pnw-unlabeled): label -1, for self-supervised pretraining only (experiments.pretrain).')
flags.DEFINE_string('catalog', None, 'QuakeML catalog (event type, origin, P picks).')
flags.DEFINE_string('inventory', None, 'StationXML inventory (station coordinates).')
flags.DEFINE_float('window_s', 100.0, 'Window after the P onset, s (paper: 100).')
flags.DEFINE_float('sampling_rate', 100.0, 'Output rate, Hz (paper: 100).')
flags.DEFINE_integer('detrend_degree', 10, 'Polynomial detrend degree (paper: 10).')
flags.DEFINE_float('max_distance_km', 200.0, 'Epicentral distance limit, km (paper: 200); <= 0 disables it.')
flags.DEFINE_float('min_sampling_rate', 20.0, 'Lowest input rate accepted, Hz (lower ones are rejected).')
flags.DEFINE_float('max_gap_s', 0.1, 'Longest gap inside the window that is interpolated, s.')
flags.DEFINE_float('max_pad_s', 15.0, 'Longest tail shortfall of the window that is zero-padded, s.')
flags.DEFINE_string('bandpass', '', 'FREQMIN,FREQMAX in Hz (e.g. 1,20): zero-phase 4-corner Butterworth '
                    'band-pass of each record before its window is cut; empty (the paper) for none.')
flags.DEFINE_float('noise_s', 0.0, 'Seconds of pre-event noise kept per record (noise.npy, scaled as its '
                   'window; the manifest\'s noise_s column gives what was kept); 0 keeps none.')
flags.DEFINE_float('noise_gap_s', 5.0, 'The noise ends this many seconds before the earlier of the origin '
                   'time and the P onset.')
flags.DEFINE_enum('noise_fallback', 'reject', ['reject', 'shorter'], 'A record with less than --noise_s of '
                  'noise: reject it, or keep what it has (at least 10 s).')
flags.DEFINE_enum('normalization', 'standardise', ['standardise', 'noise_whiten'], 'standardise: zero mean, '
                  'unit std per channel (the paper); noise_whiten: divide the window\'s spectrum by the smoothed '
                  'amplitude spectrum of the record\'s own noise first (needs --noise_s > 0).')
flags.DEFINE_enum('p_fallback', 'travel_time', ['travel_time', 'none'], 'When no pick is given and '
                  'STA/LTA finds none: origin + the iasp91 P travel time (origin if the distance is unknown), '
                  'flagged in p_method; or reject the record.')
flags.DEFINE_float('sta_lta_threshold', 3.0, 'STA/LTA trigger ratio.')
flags.DEFINE_string('split', None, 'SeisBench format only: keep this split (train/dev/test).')
flags.DEFINE_list('split_boundaries', [], 'Chronological split: increasing origin-time boundaries '
                  '(e.g. 2017-01-01 for the paper\'s train < 2017 <= test); writes a split column.')
flags.DEFINE_list('split_names', ['train', 'test'], 'Names of the splits, one more than boundaries or fractions.')
flags.DEFINE_list('random_split', [], 'Seeded event-grouped random split: fractions of events, e.g. 0.8,0.2.')
flags.DEFINE_integer('split_seed', 0, 'Seed of --random_split.')
flags.DEFINE_bool('progress', None, 'Log records/s and the ETA (default: when stderr is a terminal); '
                  '--noprogress turns it off.')
flags.DEFINE_integer('progress_every', 100, 'With progress shown: a line every this many records.')


def _options() -> ingest.PrepareOptions:
  config = preprocess.PreprocessConfig(
      window_s=FLAGS.window_s, sampling_rate=FLAGS.sampling_rate, detrend_degree=FLAGS.detrend_degree,
      max_distance_km=preprocess.distance_limit(FLAGS.max_distance_km),
      min_sampling_rate=FLAGS.min_sampling_rate, max_gap_s=FLAGS.max_gap_s, max_pad_s=FLAGS.max_pad_s,
      bandpass=preprocess.parse_band(FLAGS.bandpass), noise_s=FLAGS.noise_s, noise_gap_s=FLAGS.noise_gap_s,
      noise_fallback=FLAGS.noise_fallback, normalization=FLAGS.normalization)
  catalog = _read_flag_file('catalog', catalog_lib.read_catalog, 'a QuakeML catalog')
  inventory = _read_flag_file('inventory', obspy.read_inventory, 'a StationXML inventory')
  return ingest.PrepareOptions(
      preprocess=config, picker=picking.PickerConfig(threshold=FLAGS.sta_lta_threshold),
      event_type_map=labels_lib.parse_mapping(FLAGS.event_type_map), p_fallback=FLAGS.p_fallback,
      catalog=catalog, inventory=inventory, unlabeled=FLAGS.unlabeled)


def _read_flag_file(flag: str, reader, what: str):
  """``reader(path)`` of the file named by --flag (None when unset), errors naming the flag."""
  path = getattr(FLAGS, flag)
  if not path:
    return None
  if not pathlib.Path(path).is_file():
    raise ValueError(f'--{flag}={path}: not a file')
  try:
    return reader(path)
  except Exception as error:  # ObsPy raises many types for a file of the wrong format
    raise ValueError(f'--{flag}={path}: not {what} ObsPy reads ({type(error).__name__}: {str(error)[:160]})') from None


def check_flags() -> None:
  """Checks the flags that are not checked where they are used, before any work.

  Raises:
    ValueError: naming the flag and what is wrong.
  """
  if FLAGS.progress_every < 1:
    raise ValueError(f'--progress_every={FLAGS.progress_every}: must be >= 1')
  if FLAGS.split_boundaries and FLAGS.random_split:
    raise ValueError('--split_boundaries and --random_split are exclusive')
  if FLAGS.split_boundaries:
    try:
      edges = np.asarray(FLAGS.split_boundaries, dtype='datetime64[ms]')
    except ValueError:
      raise ValueError(f'--split_boundaries={",".join(FLAGS.split_boundaries)}: not times (e.g. 2017-01-01)') from None
    if np.any(np.diff(edges) <= np.timedelta64(0, 'ms')):
      raise ValueError(f'--split_boundaries={",".join(FLAGS.split_boundaries)}: must increase')
    if len(FLAGS.split_names) != len(edges) + 1:
      raise ValueError(f'--split_names={",".join(FLAGS.split_names)}: {len(edges)} boundaries need '
                       f'{len(edges) + 1} names')
  if FLAGS.random_split:
    try:
      fractions = [float(f) for f in FLAGS.random_split]
    except ValueError:
      raise ValueError(f'--random_split={",".join(FLAGS.random_split)}: not numbers') from None
    if len(fractions) != len(FLAGS.split_names) or not np.isclose(sum(fractions), 1.0) or min(fractions) < 0:
      raise ValueError(f'--random_split={",".join(FLAGS.random_split)}: needs one fraction >= 0 per '
                       f'--split_names ({",".join(FLAGS.split_names)}), summing to 1')
  if FLAGS.split and FLAGS.format != 'seisbench':
    raise ValueError('--split keeps a split of a SeisBench dataset; use it with --format=seisbench')
  if FLAGS.noise_s and FLAGS.format == 'seisbench':
    raise ValueError(f'--noise_s={FLAGS.noise_s:g}: pre-event noise is kept for --format=obspy records only')


def sources_from_flags() -> list[sources_lib.Source]:
  """The --input/--records/--source triples, paired by position (``sources.resolve_sources``)."""
  return sources_lib.resolve_sources(FLAGS.input, FLAGS.records or [], FLAGS.source or [])


def input_records(source: sources_lib.Source, exclude: Sequence[pathlib.Path] = ()
                  ) -> tuple[list[records_table.InputRecord], list[dict[str, str]]]:
  """The source's input records and the files of its folder not taken (``sources.source_records``)."""
  return sources_lib.source_records(source, labels_lib.parse_mapping(FLAGS.column_map),
                                    labelled=not FLAGS.unlabeled, exclude=exclude)


def _progress(total: int | None):
  """The readers' ``progress(done, accepted, rejected)`` callback, shown as ``ganet_jax.progress`` lines."""
  shown = Progress(total, 'records', enabled=FLAGS.progress, label='prepare', every=FLAGS.progress_every)
  def report(done: int, accepted: int, rejected: int) -> None:
    faults.raise_if_interrupted()  # an interrupt a reader swallowed still stops the run
    shown.update(done - shown.count, note=f'{accepted} accepted, {rejected} rejected')
  return report


def prepare(sources: Sequence[sources_lib.Source], output: pathlib.Path) -> dict[str, object]:
  """Prepare the inputs of ``sources`` into one set in ``output`` and print the counts.

  The set is written to a temporary folder beside ``output`` and moved into place
  when complete (``outputs.staged_folder``).

  Returns:
    {'input', 'accepted', 'rejected', 'skipped'} counts in all, and 'sources': the
    input/accepted/rejected counts per source name.

  Raises:
    ValueError, FileNotFoundError: for bad flags, an unusable records table or event
      ids that clash between sources, naming the flag, file or event (bad records
      are rejections, not errors).
  """
  started = time.perf_counter()
  options = _options()
  outputs.check_output_folder(output, OUTPUT_FILES, overwrite=FLAGS.overwrite)
  exclude = [pathlib.Path(p) for p in (FLAGS.catalog, FLAGS.inventory) if p]
  inputs, inputs_per_source, skipped = [], {}, []
  if FLAGS.format == 'seisbench':
    if len(sources) != 1:
      raise ValueError('--format=seisbench reads one --input')
  else:
    for source in sources:
      found, passed_over = input_records(source, exclude)
      inputs += found
      skipped += passed_over
      inputs_per_source[source.name] = len(found)
      print(f'{source.name}: {len(found)} input records from {sum(len(r.files) for r in found)} files'
            + (f' ({len(passed_over)} other files skipped, listed in {SKIPPED_FILE})' if passed_over else ''),
            flush=True)
  with outputs.staged_folder(output) as stage:
    if FLAGS.format == 'seisbench':
      records, rejected = seisbench.read_dataset(sources[0].root, split=FLAGS.split,
                                                 event_type_map=options.event_type_map,
                                                 config=options.preprocess, progress=_progress(None))
      records, rejected = _tagged(records, rejected, sources[0].name)
      inputs_per_source = {sources[0].name: len(records or ()) + len(rejected)}
    else:
      # Windows go to disk as they come (memory stays bounded) and become waveforms.npy.
      records, rejected = ingest.prepare_records(inputs, options, progress=_progress(len(inputs)),
                                                 spool_path=stage / 'waveforms.spool')
    if records is None:
      print('no record accepted; writing only the rejection report')
      save_rejections_only(stage, rejected)
    else:
      if len(sources) > 1:
        splits.check_events_consistent(records)
      records = dataclasses.replace(with_split_column(records), preprocessing=ingest.settings(options))
      save_prepared(stage, records, rejected)
    if skipped:
      _write_csv(stage / SKIPPED_FILE, ('source', 'file', 'reason'), skipped)
    del records  # its waveforms may be a memmap of the spool, deleted next
    (stage / 'waveforms.spool').unlink(missing_ok=True)
  records = records_lib.load_prepared(output) if (output / records_lib.MANIFEST_FILE).exists() else None
  total = sum(inputs_per_source.values())
  counts = {'input': total, 'accepted': len(records) if records is not None else 0, 'rejected': len(rejected),
            'skipped': len(skipped), 'sources': per_source_counts(inputs_per_source, records, rejected)}
  _print_summary(counts, records, rejected, output, time.perf_counter() - started)
  return counts


def _tagged(records: RecordSet | None, rejected: list[dict[str, str]], name: str):
  """Records and rejection lines of a reader that knows no sources, given the source ``name``."""
  rejected = [{'source': name, **line} for line in rejected]
  if records is not None:
    records = dataclasses.replace(records, extra={**records.extra, 'source': np.full(len(records), name)})
  return records, rejected


def per_source_counts(inputs_per_source: Mapping[str, int], records: RecordSet | None,
                      rejected: Sequence[Mapping[str, str]]) -> dict[str, dict[str, int]]:
  """{source: {'input', 'accepted', 'rejected'}}.

  Raises:
    RuntimeError: when a source's accepted + rejected differs from its input (a bug, never bad data).
  """
  accepted = collections.Counter(records.sources) if records is not None else collections.Counter()
  refused = collections.Counter(line['source'] for line in rejected)
  counts = {}
  for name, n in inputs_per_source.items():
    counts[name] = {'input': n, 'accepted': accepted[name], 'rejected': refused[name]}
    if accepted[name] + refused[name] != n:
      raise RuntimeError(f'source {name}: {accepted[name]} accepted + {refused[name]} rejected != {n} input')
  return counts


def _print_summary(counts, records: RecordSet | None, rejected, output: pathlib.Path, elapsed: float) -> None:
  total = counts['input']
  print(f'input {total}: accepted {counts["accepted"]}, rejected {counts["rejected"]} '
        f'({elapsed:.1f} s, {total / max(elapsed, 1e-9):.1f} records/s) -> {output}')
  if len(counts['sources']) > 1:
    for name, c in counts['sources'].items():
      print(f'  source {name}: input {c["input"]}: accepted {c["accepted"]}, rejected {c["rejected"]}')
  if records is not None:
    if FLAGS.unlabeled:
      print(f'  accepted unlabeled (type unknown): {len(records)}')
    else:
      print(f'  accepted by class: tectonic {records.class_counts()[0]}, non-tectonic {records.class_counts()[1]}')
    if 'p_method' in records.extra:
      methods = collections.Counter(m.split(' ')[0] for m in records.extra['p_method'])
      print('  P onset methods: ' + ', '.join(f'{k} {v}' for k, v in methods.most_common()))
    if 'split' in records.extra:
      print('  split: ' + ', '.join(f'{k} {v}' for k, v in collections.Counter(records.extra['split']).items()))
  for kind in ingest.reason_kinds(rejected):
    print(f'  rejected {kind.count:5d}, e.g. {kind.example}')
  if counts['skipped']:
    print(f'  {counts["skipped"]} files under --input skipped (not waveforms), listed in {SKIPPED_FILE}')


def with_split_column(records: RecordSet) -> RecordSet:
  """``records`` with a 'split' column from the split flags (unchanged without them).

  Raises:
    ValueError: from the split functions (e.g. names not matching boundaries).
  """
  if FLAGS.split_boundaries:
    indices = splits.chronological_split(records, FLAGS.split_boundaries, FLAGS.split_names)
  elif FLAGS.random_split:
    indices = splits.event_grouped_random_split(records, [float(f) for f in FLAGS.random_split],
                                                seed=FLAGS.split_seed, names=FLAGS.split_names)
  else:
    return records
  column = np.empty(len(records), dtype=object)
  for name, index in indices.items():
    column[index] = name
  return dataclasses.replace(records, extra={**records.extra, 'split': column.astype(str)})


def save_rejections_only(output: pathlib.Path, rejected) -> None:
  """rejected.csv for a run where nothing was accepted (no waveforms to write)."""
  _write_csv(output / records_lib.REJECTED_FILE, ('source', 'record', 'file', 'reason'), rejected)


def _write_csv(path: pathlib.Path, columns: Sequence[str], rows) -> None:
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(columns))
    writer.writeheader()
    writer.writerows(rows)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  with faults.one_line('preparing'):
    try:
      check_flags()
      sources = sources_from_flags()
      # held from the output's check to its move into place: two runs on one --output never both write it
      with outputs.output_lock(FLAGS.output, flag='--output'):
        prepare(sources, pathlib.Path(FLAGS.output))
    except (ValueError, FileNotFoundError) as error:
      raise app.UsageError(str(error)) from None


if __name__ == '__main__':
  app.run(main)
