r"""Export trained models as a pretrained model the package ships: networks or a physics feature model.

  python -m experiments.export_pretrained --checkpoint=runs/s0,runs/s1,runs/s2 --name=pnw \
      --components=Z --description="pnw + pnw-extra before 2020-07-01, recipe ..., figures ..." \
      --limits="Near chance on 2021 events" --aggregation=mean_logit
  python -m experiments.export_pretrained --physics=snr_shape --prepared=prepared/pnw-noise \
      --train_before=2021-01-01 --name=pnw-physics --limits="..."

Writes ganet_jax/pretrained/<name>/ (or --destination): card.json (kind, input shape,
threshold, components, the training set's preprocessing, the event aggregation rule, the
limits, the description, and per member what it is and was trained on) and one file per
member: member_<i>.msgpack with a run's parameters and batch statistics (no optimizer
state), or member_<i>.json with a physics model's feature set and regression. Then

  python -m experiments.classify --pretrained=<name> --input=... --records=... --output=...

or ``Classifier.pretrained('<name>')`` loads it.
"""

from __future__ import annotations

import pathlib

from absl import flags

from experiments import binary
from ganet_jax import pretrained
from ganet_jax.classify import export_pretrained
from ganet_jax.classify.export import fit_and_export_physics
from ganet_jax.evaluation import physics
from ganet_jax.training.checkpoint import BEST, LATEST

FLAGS = flags.FLAGS
flags.DEFINE_list('checkpoint', None, 'Run folders to export (comma-separated): the ensemble\'s members.')
flags.DEFINE_string('physics', None, 'Instead of --checkpoint: fit this physics feature set '
                    f'({", ".join(physics.FEATURE_SETS)}) on --prepared and export it.')
flags.DEFINE_string('prepared', None, 'With --physics: the prepared set (experiments.prepare) to fit on.')
flags.DEFINE_string('train_before', None, 'With --physics: fit on records whose origin is before this date '
                    '(YYYY-MM-DD); default: every record.')
flags.mark_flags_as_mutual_exclusive(['checkpoint', 'physics'], required=True)
flags.DEFINE_string('name', None, 'The model\'s name: written to ganet_jax/pretrained/<name>/ '
                    '(Classifier.pretrained(name), experiments.classify --pretrained=name).')
flags.DEFINE_string('destination', None, 'Write to this folder instead of the package\'s.')
flags.DEFINE_enum('which', LATEST, [LATEST, BEST], "Checkpoint of every run: 'latest' or 'best' (by validation).")
flags.DEFINE_string('components', None, "Components the members see when loaded: 'Z' for networks trained on "
                    'vertical-only records (the pnw ones). Default: ZNE for networks, Z for physics.')
flags.DEFINE_string('description', '', 'Free text for the card: training data, split, recipe, figures.')
flags.DEFINE_multi_string('limits', [], 'What the model should not be trusted for (repeat for several); shown '
                          'whenever it is loaded.')
flags.DEFINE_enum('aggregation', 'mean_probability', ['mean_probability', 'mean_logit'],
                  'How experiments.classify combines an event\'s records.')
flags.DEFINE_bool('overwrite', False, 'Replace a model already at the destination.')
flags.mark_flags_as_mutual_exclusive(['name', 'destination'], required=True)


def export() -> None:
  """Exports --checkpoint's runs (``export_pretrained``) or --physics fitted on --prepared; prints the folder."""
  if FLAGS.name is not None and (not FLAGS.name or '/' in FLAGS.name or FLAGS.name.startswith('.')):
    raise ValueError(f'--name={FLAGS.name!r}: a plain folder name, e.g. pnw')
  destination = pathlib.Path(FLAGS.destination) if FLAGS.destination else pretrained.PRETRAINED_ROOT / FLAGS.name
  card = {'description': FLAGS.description, 'limits': FLAGS.limits, 'aggregation': FLAGS.aggregation,
          'overwrite': FLAGS.overwrite}
  if FLAGS.physics:
    if not FLAGS.prepared:
      raise ValueError('--physics needs --prepared: the prepared set to fit on')
    folder = fit_and_export_physics(FLAGS.prepared, FLAGS.physics, destination, train_before=FLAGS.train_before,
                                    components=FLAGS.components or 'Z', **card)
  else:
    folder = export_pretrained(FLAGS.checkpoint, destination, which=FLAGS.which, components=FLAGS.components or 'ZNE',
                               **card)
  size = sum(path.stat().st_size for path in folder.iterdir()) / 2**20
  members = len(FLAGS.checkpoint) if FLAGS.checkpoint else 1
  print(f'{members} member{"s" if members > 1 else ""} -> {folder} ({size:.1f} MiB)')


main = binary.main('exporting', export)

if __name__ == '__main__':
  binary.run(main)
