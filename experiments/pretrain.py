r"""Self-supervised pretraining of GA-Net's encoder on unlabeled records (``ganet_jax.training.contrastive``).

  python -m experiments.prepare --input=../shared/data/pnw-unlabeled --records=records.csv --unlabeled \
      --bandpass=1,15 --window_s=40 --output=prepared/pnw-unlabeled-bp15-w40
  python -m experiments.pretrain --config=experiments/configs/small_data.py
  python -m experiments.train --config=experiments/configs/small_data.py \
      --config.init_from=runs/pretrain-pnw-unlabeled --config.workdir=runs/finetuned

Reads ``config.pretrain`` (dataset, workdir, epochs, batch_size, learning_rate,
weight_decay, temperature, projection_dim, seed, augmentation) and the encoder
``config.model``; the set's labels are not read, so any prepared set serves. Its
windows must be the classifier's (same window length, band and rate). Rerunning
with the same settings resumes from the last epoch.
"""

from experiments import binary, configs
from ganet_jax.training.from_config import pretrain

CONFIG = configs.define_config_flag('small_data.py')


def pretrain_and_report(config) -> None:
  """Pretrains the encoder (``from_config.pretrain``) and prints how to fine-tune from it."""
  history, workdir = pretrain(config, log=lambda line: print(line, flush=True))
  if history:
    print(f'done: NT-Xent loss {history[-1]["loss"]:.4f} after {history[-1]["epoch"]} epochs; '
          f'fine-tune with --config.init_from={workdir}', flush=True)


main = binary.main('pretraining', pretrain_and_report, config=CONFIG)

if __name__ == '__main__':
  binary.run(main)
