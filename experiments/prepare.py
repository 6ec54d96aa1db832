r"""Prepare real records (or a SeisBench-format dataset) as a prepared data-set folder.

  python -m experiments.prepare --input=../shared/data/pnw --records=labels.csv \
      --output=/tmp/pnw_prepared
  python -m experiments.prepare --input=../shared/data/pnw --records=labels.csv \
      --input=../shared/data/pnw-extra --records=labels.csv --output=/tmp/pnw_all

Several --input (each with its --records and --source name, paired by position)
make one set; the manifest and rejection report say each record's source. Prints
the input, accepted and rejected counts (per source and in all) and the
rejections by kind of reason, each with a real example; the folder holds
manifest.csv, rejected.csv, preprocess.json, shards.json, one shard-NNNNN/ per
partition of --partition_size records (its waveforms.npy, and noise.npy with
--noise_s) and, when files under an --input were not taken as waveforms,
skipped.csv (``ganet_jax.data.records``, ``ganet_jax.data.shards``). A killed run
resumes when run again with the same flags.

Noise-referenced inputs keep each record's pre-event noise and whiten the window by it:

  python -m experiments.prepare --input=../shared/data/pnw --records=labels.csv \
      --bandpass=1,15 --window_s=40 --noise_s=40 --normalization=noise_whiten --output=/tmp/pnw_whitened

The records are prepared in partitions of --partition_size on a local Dask cluster of
--workers processes (default: every core), or on a running cluster (--scheduler,
--scheduler_file); the set does not depend on either (docs/large_datasets.md).

The set is built in a temporary folder beside --output and moved into place when
complete: a failed, interrupted or killed run leaves the earlier set or nothing
(the temporary folder of a killed run is removed by the next). An existing set is
replaced only with --overwrite; a folder holding anything else is refused, and so
is an --output another run is writing. Every flag and path is checked before any
record is read.
"""

from ganet_jax.data import fork_server

if __name__ == '__main__':
  # the local workers' parent loads the preparation's modules on another core while this process loads its own
  fork_server.start(['ganet_jax.data.prepare', 'experiments.binary'])

from absl import flags

from experiments import binary, faults
from ganet_jax.data import records_table
from ganet_jax.data.prepare import FORMATS, P_FALLBACKS, PrepareRequest, prepare
from ganet_jax.data.preprocess import NOISE_FALLBACKS, NORMALIZATIONS, PreprocessConfig, distance_limit, parse_band

DEFAULTS = PreprocessConfig()
REQUEST = PrepareRequest()
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
flags.DEFINE_enum('format', REQUEST.format, list(FORMATS), 'Input kind.')
flags.DEFINE_string('column_map', '', 'field=column pairs for the records table, e.g. '
                    '"event_id=evid,p_time=P". Fields: ' + ', '.join(records_table.COLUMN_CANDIDATES))
flags.DEFINE_string('event_type_map', '', 'Extra event-type decisions "type=known type or 0/1", e.g. '
                    '"nuclear explosion (DPRK)=nuclear explosion".')
flags.DEFINE_bool('unlabeled', REQUEST.unlabeled, 'Records of unknown type (a table without event type or label, e.g. '
                  'pnw-unlabeled): label -1, for self-supervised pretraining only (experiments.pretrain).')
flags.DEFINE_string('catalog', None, 'QuakeML catalog (event type, origin, P picks).')
flags.DEFINE_string('inventory', None, 'StationXML inventory (station coordinates).')
flags.DEFINE_float('window_s', DEFAULTS.window_s, 'Window after the P onset, s (paper: 100).')
flags.DEFINE_float('sampling_rate', DEFAULTS.sampling_rate, 'Output rate, Hz (paper: 100).')
flags.DEFINE_integer('detrend_degree', DEFAULTS.detrend_degree, 'Polynomial detrend degree (paper: 10).')
flags.DEFINE_float('max_distance_km', DEFAULTS.max_distance_km, 'Epicentral distance limit, km (paper: 200); <= 0 disables it.')
flags.DEFINE_float('min_sampling_rate', DEFAULTS.min_sampling_rate, 'Lowest input rate accepted, Hz (lower ones are rejected).')
flags.DEFINE_float('max_gap_s', DEFAULTS.max_gap_s, 'Longest gap inside the window that is interpolated, s.')
flags.DEFINE_float('max_pad_s', DEFAULTS.max_pad_s, 'Longest tail shortfall of the window that is zero-padded, s.')
flags.DEFINE_string('bandpass', '', 'FREQMIN,FREQMAX in Hz (e.g. 1,20): zero-phase 4-corner Butterworth '
                    'band-pass of each record before its window is cut; empty (the paper) for none.')
flags.DEFINE_float('noise_s', DEFAULTS.noise_s, 'Seconds of pre-event noise kept per record (noise.npy, scaled as its '
                   'window; the manifest\'s noise_s column gives what was kept); 0 keeps none.')
flags.DEFINE_float('noise_gap_s', DEFAULTS.noise_gap_s, 'The noise ends this many seconds before the earlier of the origin '
                   'time and the P onset.')
flags.DEFINE_enum('noise_fallback', DEFAULTS.noise_fallback, list(NOISE_FALLBACKS), 'A record with less than --noise_s of '
                  'noise: reject it, or keep what it has (at least 10 s).')
flags.DEFINE_enum('normalization', DEFAULTS.normalization, list(NORMALIZATIONS), 'standardise: zero mean, '
                  'unit std per channel (the paper); noise_whiten: divide the window\'s spectrum by the smoothed '
                  'amplitude spectrum of the record\'s own noise first (needs --noise_s > 0).')
flags.DEFINE_enum('p_fallback', REQUEST.p_fallback, list(P_FALLBACKS), 'When no pick is given and '
                  'STA/LTA finds none: origin + the iasp91 P travel time (origin if the distance is unknown), '
                  'flagged in p_method; or reject the record.')
flags.DEFINE_float('sta_lta_threshold', REQUEST.sta_lta_threshold, 'STA/LTA trigger ratio.')
flags.DEFINE_string('split', None, 'SeisBench format only: keep this split (train/dev/test).')
flags.DEFINE_list('chunks', [], 'SeisBench format only: read these chunks of a chunked set (default: all).')
flags.DEFINE_list('split_boundaries', [], 'Chronological split: increasing origin-time boundaries '
                  '(e.g. 2017-01-01 for the paper\'s train < 2017 <= test); writes a split column.')
flags.DEFINE_list('split_names', list(REQUEST.split_names), 'Names of the splits, one more than boundaries or fractions.')
flags.DEFINE_list('random_split', [], 'Seeded event-grouped random split: fractions of events, e.g. 0.8,0.2.')
flags.DEFINE_integer('split_seed', REQUEST.split_seed, 'Seed of --random_split.')
flags.DEFINE_integer('progress_every', 100, 'With progress shown: a line every this many records.')
flags.DEFINE_integer('workers', None, 'Worker processes of the local Dask cluster that prepares the records '
                     '(default: the cores this process may use); a set of at most --partition_size records is prepared '
                     'in this process.')
flags.DEFINE_string('scheduler', None, 'Address of a running Dask scheduler to prepare on instead (e.g. '
                    'tcp://10.0.0.5:8786; dask scheduler + dask worker).')
flags.DEFINE_string('scheduler_file', None, 'Scheduler file of a running Dask scheduler to prepare on instead '
                    '(dask scheduler --scheduler-file, dask-jobqueue).')
flags.DEFINE_integer('partition_size', REQUEST.partition_size, 'Records per partition, the unit of work a '
                     'worker is given; the output does not depend on it or on the workers.')




def request() -> PrepareRequest:
  """The flags as a ``PrepareRequest`` (ValueError naming a flag out of range)."""
  return PrepareRequest(
      preprocess=PreprocessConfig(
          window_s=FLAGS.window_s, sampling_rate=FLAGS.sampling_rate, detrend_degree=FLAGS.detrend_degree,
          max_distance_km=distance_limit(FLAGS.max_distance_km), min_sampling_rate=FLAGS.min_sampling_rate,
          max_gap_s=FLAGS.max_gap_s, max_pad_s=FLAGS.max_pad_s, bandpass=parse_band(FLAGS.bandpass),
          noise_s=FLAGS.noise_s, noise_gap_s=FLAGS.noise_gap_s, noise_fallback=FLAGS.noise_fallback,
          normalization=FLAGS.normalization),
      format=FLAGS.format, column_map=FLAGS.column_map, event_type_map=FLAGS.event_type_map,
      unlabeled=FLAGS.unlabeled, catalog=FLAGS.catalog, inventory=FLAGS.inventory, p_fallback=FLAGS.p_fallback,
      sta_lta_threshold=FLAGS.sta_lta_threshold, split=FLAGS.split, chunks=tuple(FLAGS.chunks),
      split_boundaries=tuple(FLAGS.split_boundaries), split_names=tuple(FLAGS.split_names),
      random_split=tuple(FLAGS.random_split), split_seed=FLAGS.split_seed, overwrite=FLAGS.overwrite,
      workers=FLAGS.workers, scheduler=FLAGS.scheduler, scheduler_file=FLAGS.scheduler_file,
      partition_size=FLAGS.partition_size)


def prepare_inputs() -> None:
  """Prepares the --input folders into --output (``data.prepare.prepare``), printing the counts."""
  if FLAGS.progress_every < 1:
    raise ValueError(f'--progress_every={FLAGS.progress_every}: must be >= 1')
  prepare(FLAGS.input, FLAGS.records or [], FLAGS.source or [], FLAGS.output, request(), progress=FLAGS.progress,
          progress_every=FLAGS.progress_every, between_records=faults.raise_if_interrupted,
          log=lambda line: print(line, flush=True))


main = binary.main('preparing', prepare_inputs)

if __name__ == '__main__':
  binary.run(main)
