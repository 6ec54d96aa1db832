r"""Classify real recordings with a trained run or ensemble: tectonic or not, per record and per event.

  python -m experiments.classify --checkpoint=runs/pnw --input=my_records/ \
      --records=table.csv --output=predictions.csv
  python -m experiments.classify --checkpoint=runs/s0,runs/s1,runs/s2 ...   # seed ensemble: mean probability
  python -m experiments.classify --pretrained=pnw ...                      # weights shipped with the package

Each input record (the rows of one station's files of one event in --records, or without a
table the files grouped the same way from their headers, the event and P onset then coming from
SAC headers) is prepared
exactly as the training records were (``ganet_jax.data.ingest``) and classified;
--components=Z shows 3-component records to a vertical-only model (e.g. the pnw study's)
as its training records looked. --input and --records are read as experiments.prepare
reads them (``ganet_jax.data.sources``): repeat --input for several folders, each with
its --records (absolute, or relative to its --input; file paths in it relative to the
--input too). A record the model cannot see (e.g. recorded at a rate whose Nyquist
frequency is below the band the model reads) is listed unclassified with the reason.
A run that records no preprocessing of its training records (trained on arrays) is
refused unless --allow_unrecorded_preprocessing; a table without rows is refused.
A pretrained model's stated limits are shown as a warning when it is loaded. A run in
which no input record could be classified exits with an error.
Writes:
  <output>                  one row per classified record: p_tectonic, decision, P onset...
                            (an ensemble adds p_tectonic_<member> columns; p_tectonic is their mean)
  <output stem>_events.csv  one row per event: its records' p_tectonic combined by the model's
                            event rule (a pretrained card's ``aggregation``; default their mean),
                            decision (records without an event id are grouped by origin time)
  <output stem>_unclassified.csv  one row per record that could not be classified, with the reason
"""

from __future__ import annotations

import pathlib
import sys

from absl import flags

from experiments import binary
from ganet_jax.classify.predictions import classify_files, nothing_classified
from ganet_jax.data import outputs, picking
from ganet_jax.data.ingest import PrepareOptions
from ganet_jax.data.prepare import P_FALLBACKS
from ganet_jax.data.preprocess import PreprocessConfig, distance_limit
from ganet_jax.training.checkpoint import BEST, LATEST

DEFAULTS = PreprocessConfig()
FLAGS = flags.FLAGS
flags.DEFINE_list('checkpoint', None, 'Run folder written by experiments.train (config.json + checkpoints/), or '
                  'several, comma-separated: a seed ensemble whose probability is the mean of its members\'.')
flags.DEFINE_string('pretrained', None, 'A pretrained model shipped with the package (e.g. pnw) or the folder '
                    'one was exported to (experiments.export_pretrained); instead of --checkpoint.')
flags.mark_flags_as_mutual_exclusive(['checkpoint', 'pretrained'], required=True)
flags.DEFINE_multi_string('input', None, 'Waveform files and/or folders (searched recursively); repeat it (or '
                          'separate by commas) for several. With --records: folders, one per table.', required=True)
flags.DEFINE_multi_string('records', None, 'Records table CSV, one per --input in the same order, as for '
                          'experiments.prepare: absolute or relative to its --input, and its file paths relative '
                          'to that --input unless absolute; columns as for experiments.prepare (event_id, '
                          'origin_time, p_time, coordinates...).')
flags.DEFINE_string('output', 'predictions.csv', 'Per-record predictions CSV to write (the event and '
                    'unclassified CSVs go beside it).')
flags.DEFINE_bool('overwrite', False, 'Replace predictions already at --output (and the CSVs beside it).')
flags.DEFINE_integer('progress_every', 100, 'Print progress (records/s, ETA) to stderr every this many records; '
                     'shown by default when stderr is a terminal, always when this flag is given.')
flags.DEFINE_enum('which', LATEST, [LATEST, BEST], "Checkpoint: 'latest' (last epoch) or 'best' (by validation).")
flags.DEFINE_string('column_map', '', 'field=column pairs for the records table, as for experiments.prepare.')
flags.DEFINE_float('max_distance_km', DEFAULTS.max_distance_km, 'Epicentral distance limit where known, km (training: 200); '
                   '<= 0 disables it.')
flags.DEFINE_float('max_pad_s', DEFAULTS.max_pad_s, 'Longest tail shortfall of the window that is zero-padded, s.')
flags.DEFINE_string('components', None, "Components the model sees, others zero-filled: 'Z' for a model "
                    'trained on vertical-only records (as the pnw study), so 3-component input looks like its '
                    "training. Default: ZNE, or a pretrained model's own.")
flags.DEFINE_bool('allow_unrecorded_preprocessing', False, 'Classify records with a run that records no '
                  'preprocessing of its training records (trained on arrays, e.g. the built-in synthetic set), '
                  'preparing them with the default settings; without it such a run is refused.')
flags.DEFINE_enum('p_fallback', PrepareOptions.p_fallback, list(P_FALLBACKS),
                  'Without a pick and an STA/LTA onset: origin (+ the iasp91 P travel time where the distance is '
                  'known) flagged, or reject.')


def split_inputs(values: list[str]) -> list[str]:
  """--input values, each possibly a comma-separated list, as one list of paths."""
  return [part for value in values for part in value.split(',') if part]


def options() -> PrepareOptions:
  """The preparation flags (the window length comes from the checkpoint)."""
  config = PreprocessConfig(max_distance_km=distance_limit(FLAGS.max_distance_km), max_pad_s=FLAGS.max_pad_s)
  return PrepareOptions(preprocess=config, picker=picking.PickerConfig(), p_fallback=FLAGS.p_fallback)


def progress_interval() -> int | None:
  """Records between progress lines: --progress_every when given, its default when stderr is a terminal, else none."""
  if FLAGS.progress_every < 1:
    raise ValueError(f'--progress_every={FLAGS.progress_every}: must be >= 1')
  if FLAGS['progress_every'].present or sys.stderr.isatty():
    return FLAGS.progress_every
  return None


def classify() -> None:
  """Classifies the inputs into --output and the CSVs beside it (``predictions.classify_files``); prints the counts."""
  output = pathlib.Path(FLAGS.output)
  # held from the outputs' check to their move into place: two runs on one --output never both write it
  with outputs.output_lock(FLAGS.output, flag='--output'):
    counts = classify_files(FLAGS.checkpoint, split_inputs(FLAGS.input), FLAGS.records, output, which=FLAGS.which,
                            options=options(), column_map=FLAGS.column_map, components=FLAGS.components,
                            overwrite=FLAGS.overwrite, progress_every=progress_interval(),
                            pretrained=FLAGS.pretrained,
                            allow_unrecorded_preprocessing=FLAGS.allow_unrecorded_preprocessing)
  print(f'{counts["input"]} input records: {counts["classified"]} classified ({counts["events"]} events), '
        f'{counts["unclassified"]} unclassified (reasons in {output.stem}_unclassified.csv) -> {output}')
  if counts['input'] and not counts['classified']:
    raise ValueError(nothing_classified(counts, output))


main = binary.main('classifying', classify)

if __name__ == '__main__':
  binary.run(main)
