"""A package's names load on first use: the shared ``__getattr__``/``__dir__`` and what it keeps out of a process."""

import pathlib
import subprocess
import sys
import types

import pytest

from ganet_jax.lazy_loading import lazy_exports

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _package(exports):
  package = types.ModuleType('package')
  package.__getattr__, package.__dir__ = lazy_exports(vars(package), exports)
  return package


def test_a_name_loads_from_its_module_once_and_stays():
  package = _package({'OrderedDict': 'collections', 'dedent': 'textwrap'})
  import collections
  assert 'OrderedDict' not in vars(package)
  assert package.OrderedDict is collections.OrderedDict
  assert vars(package)['OrderedDict'] is collections.OrderedDict  # later reads are plain attribute reads
  assert {'OrderedDict', 'dedent'} <= set(dir(package)) and len(dir(package)) == len(set(dir(package)))


def test_an_unknown_name_is_an_attribute_error_naming_the_package():
  with pytest.raises(AttributeError, match="module 'package' has no attribute 'Missing'"):
    _package({'dedent': 'textwrap'}).Missing
  assert not hasattr(_package({}), 'dedent')


def test_the_packages_exports_resolve_and_the_data_package_imports_no_jax():
  # a fresh interpreter: this one has imported JAX long ago
  code = ('import sys, ganet_jax, ganet_jax.data\n'
          'loaded = lambda: sorted(m for m in ("jax", "flax", "obspy.signal", "matplotlib.pyplot") if m in sys.modules)\n'
          'assert not loaded(), loaded()\n'
          'ganet_jax.data.RecordSet, ganet_jax.data.load_prepared\n'
          'assert not loaded(), loaded()\n'
          'assert {"GANet", "Conv"} <= set(dir(ganet_jax)) and "station_folds" in dir(ganet_jax.data)\n'
          'for package in (ganet_jax, ganet_jax.data):\n'
          '  for name in package.__all__:\n'
          '    getattr(package, name)\n')
  result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr
