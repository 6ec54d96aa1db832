r"""Train and evaluate a network; with no flags, GA-Net with the paper's settings on the built-in synthetic data.

  python -m experiments.train                       # the paper's 1e-5: learns slowly (docs/binaries.md)
  python -m experiments.train --config.learning_rate=1e-3
  python -m experiments.train --config=experiments/configs/paper.py:cnn_zhu2023 --config.dataset=prepared/pnw \
      --config.split.test_from=2020-01-01 --config.workdir=runs/pnw

The settings are a config file (``--config``, default ``experiments/configs/paper.py``)
with ``--config.<field>`` overrides. A prepared set's own split column (``experiments.prepare
--split_boundaries`` or ``--random_split``) is the split when it has one, unless
``--config.split.by=origin_time``; otherwise the records are split chronologically by event
origin time: train < split.validation_from (when given) <= validation < split.test_from
<= test. The split taken is logged. Rerunning with the same settings and workdir resumes
from the last checkpoint.
See ``ganet_jax.training.experiment`` for what the run folder holds.
"""

from absl import flags

from experiments import binary, configs
from ganet_jax.sharding import initialize_distributed
from ganet_jax.training.from_config import train

FLAGS = flags.FLAGS
CONFIG = configs.define_config_flag()
flags.DEFINE_string('coordinator_address', None, 'host:port of process 0 for a multi-process run '
                    '(or GANET_COORDINATOR); see ganet_jax.sharding.initialize_distributed.')
flags.DEFINE_integer('num_processes', None, 'Processes of a multi-process run (or GANET_NUM_PROCESSES).')
flags.DEFINE_integer('process_id', None, 'This process\'s index (or GANET_PROCESS_ID).')


def train_and_report(config) -> None:
  """Joins a multi-process run if asked, trains and evaluates (``from_config.train``), prints the test metrics."""
  initialize_distributed(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  result, workdir = train(config, progress=FLAGS.progress, log=lambda line: print(line, flush=True))
  print(f'test: accuracy {result["accuracy"]:.4f}  sensitivity {result["sensitivity"]:.4f}  '
        f'specificity {result["specificity"]:.4f}  AUC {result["auc"]:.4f}  '
        f'events {result["events"]["accuracy"]:.4f}; {workdir / "metrics.json"}', flush=True)


main = binary.main('training', train_and_report, config=CONFIG)

if __name__ == '__main__':
  binary.run(main)
