"""What the prepare binary and its Dask workers load as they start: only what preparing needs."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
# what a worker imports before its first partition (``prepare.cluster_for``), with the binary itself
PREPARE_IMPORTS = 'import sys; import experiments.prepare; import ganet_jax.data.prepare_shards'


def _loaded(modules: tuple[str, ...], then: str = '') -> list[str]:
  code = '; '.join(filter(None, (PREPARE_IMPORTS, then))) + f'; print(sorted(m for m in {modules!r} if m in sys.modules))'
  result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env={**os.environ, 'PYTHONPATH': str(ROOT)},
                          capture_output=True, text=True, check=True, timeout=120)
  return eval(result.stdout.strip().splitlines()[-1])


def test_preparing_records_never_loads_jax():
  assert _loaded(('jax', 'flax', 'optax', 'orbax')) == []


def test_signal_tools_load_only_when_a_record_needs_them():
  heavy = ('scipy.signal', 'scipy.ndimage', 'scipy.fft', 'obspy.signal', 'obspy.taup', 'matplotlib')
  assert _loaded(heavy) == []
  # the first filtered record loads them where they are used
  filtered = ('import numpy as np; from ganet_jax.data import dsp; '
              'dsp.bandpass(np.random.default_rng(0).normal(size=4000), 1.0, 15.0, 100.0, zerophase=True)')
  assert 'scipy.signal' in _loaded(heavy, filtered)
