r"""The real-data study's config (``experiments.real_data_study``'s default): the paper's settings on prepared pnw.

  python -m experiments.prepare --input=../shared/data/pnw --records=labels.csv --output=prepared/pnw
  python -m experiments.real_data_study --config=experiments/configs/pnw.py
  python -m experiments.train --config=experiments/configs/pnw.py --config.workdir=runs/pnw_study/ganet-seed0

Chronological split by event origin: train < 2020-07-01 <= validation < 2021-01-01 <= test.
"""

import ml_collections

from experiments.configs import paper


def get_config(model: str = 'ganet') -> ml_collections.ConfigDict:
  config = paper.get_config(model)
  config.dataset = 'prepared/pnw'
  config.split.by = 'origin_time'  # the study's years, whatever split column the prepared set holds
  config.split.validation_from = '2020-07-01'
  config.split.test_from = '2021-01-01'
  return config
