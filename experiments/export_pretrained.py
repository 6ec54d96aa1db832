r"""Export trained runs' inference variables as a pretrained ensemble the package ships.

  python -m experiments.export_pretrained --checkpoint=runs/s0,runs/s1,runs/s2 --name=pnw \
      --components=Z --description="pnw + pnw-extra before 2020-07-01, recipe ..., figures ..."

Writes ganet_jax/pretrained/<name>/ (or --destination): card.json (input shape, threshold,
components, the training set's preprocessing, the description, and per member the model and
its fields, seed, training settings, training data, source run) and one member_<i>.msgpack
per run with its parameters and batch statistics only (no optimizer state). Then

  python -m experiments.classify --pretrained=<name> --input=... --records=... --output=...

or ``Classifier.pretrained('<name>')`` loads it.
"""

from __future__ import annotations

import pathlib
import sys

from absl import app, flags

from experiments import faults
from ganet_jax import pretrained
from ganet_jax.classify import export_pretrained
from ganet_jax.training.checkpoint import BEST, LATEST

FLAGS = flags.FLAGS
flags.DEFINE_list('checkpoint', None, 'Run folders to export (comma-separated): the ensemble\'s members.',
                  required=True)
flags.DEFINE_string('name', None, 'The ensemble\'s name: written to ganet_jax/pretrained/<name>/ '
                    '(Classifier.pretrained(name), experiments.classify --pretrained=name).')
flags.DEFINE_string('destination', None, 'Write to this folder instead of the package\'s.')
flags.DEFINE_enum('which', LATEST, [LATEST, BEST], "Checkpoint of every run: 'latest' or 'best' (by validation).")
flags.DEFINE_string('components', 'ZNE', "Components the members see when loaded: 'Z' for networks trained on "
                    'vertical-only records (the pnw ones).')
flags.DEFINE_string('description', '', 'Free text for the card: training data, split, recipe, figures, limits.')
flags.DEFINE_bool('overwrite', False, 'Replace an ensemble already at the destination.')
flags.mark_flags_as_mutual_exclusive(['name', 'destination'], required=True)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if FLAGS.name is not None and (not FLAGS.name or '/' in FLAGS.name or FLAGS.name.startswith('.')):
    raise app.UsageError(f'--name={FLAGS.name!r}: a plain folder name, e.g. pnw')
  destination = pathlib.Path(FLAGS.destination) if FLAGS.destination else pretrained.PRETRAINED_ROOT / FLAGS.name
  with faults.one_line('exporting'):
    try:
      folder = export_pretrained(FLAGS.checkpoint, destination, which=FLAGS.which, components=FLAGS.components,
                                 description=FLAGS.description, overwrite=FLAGS.overwrite)
    except (FileNotFoundError, ValueError) as error:
      raise app.UsageError(str(error)) from None
  size = sum(path.stat().st_size for path in folder.iterdir()) / 2**20
  print(f'{len(FLAGS.checkpoint)} members -> {folder} ({size:.1f} MiB)')


if __name__ == '__main__':
  sys.exit(app.run(main))
