r"""The binaries' config files (ml_collections, as flax/examples and big_vision) and the flag that reads them.

  --config=experiments/configs/paper.py               the paper's protocol (the default)
  --config=experiments/configs/paper.py:cnn_zhu2023   the same with another network of ganet_jax.models.MODELS
  --config=experiments/configs/small.py               the small-data recipe: CPU smoke runs, the tests
  --config=experiments/configs/pnw.py                 the real-data study's data set and split
  --config.learning_rate=1e-3 --config.model.num_bottlenecks=3 --config.dataset=prepared/pnw

Every file's ``get_config(model)`` returns a ``ConfigDict`` with the fields listed in
``ganet_jax.training.config``; ``experiment.experiment_config`` makes the run's settings of it and
``ganet_jax.data.dataset.load_split`` its data.
"""

from __future__ import annotations

import importlib.util
import logging as python_logging
import pathlib
import re
import sys
from typing import TYPE_CHECKING

from absl import flags, logging
from ml_collections import config_flags

from ganet_jax.errors import ConfigError

if TYPE_CHECKING:
  from ganet_jax.studies.cross_validation import Recipe

CONFIG_DIR = pathlib.Path(__file__).resolve().parent
PROJECT_DIR = CONFIG_DIR.parents[1]
flags.DEFINE_bool('progress', None, 'Log records/s and the ETA every few seconds (default: when stderr is a '
                  'terminal); --noprogress turns it off.')
flags.DEFINE_string('compilation_cache', None,
                    'Folder of the persistent XLA compilation cache, shared by every binary and run (default: '
                    "$GANET_JAX_COMPILATION_CACHE, else ~/.cache/ganet_jax/xla; '' turns it off).")


class OwnInfoOnly(python_logging.Filter):
  """Passes warnings and errors of every library, but INFO and below only of ganet_jax and the binaries."""

  def __init__(self, roots=(PROJECT_DIR / 'ganet_jax', PROJECT_DIR / 'experiments')):
    super().__init__()
    self.roots = tuple(str(root) for root in roots)

  def filter(self, record: python_logging.LogRecord) -> bool:
    return record.levelno >= python_logging.WARNING or record.pathname.startswith(self.roots)


def quiet_logging() -> None:
  """Unless --verbosity is given, absl shows the library's own INFO lines (epochs, progress) and
  other libraries' warnings only: orbax logs every file it writes at INFO."""
  if not flags.FLAGS['verbosity'].present:
    logging.get_absl_handler().addFilter(OwnInfoOnly())


def define_config_flag(default: str = 'paper.py'):
  """``--config``: a config file of this folder by default (``default``), overridable field by field.

  ml_collections applies the command line's ``--config.<field>`` overrides as the flag is
  defined (or, with ``--config=FILE``, as it is parsed), raising plain AttributeError/KeyError
  for a field the config lacks: that ends the binary with one line naming the override
  (``config_error_line``), not a traceback.
  """
  try:
    return config_flags.DEFINE_config_file(
        'config', str(CONFIG_DIR / default),
        f'Config file (default experiments/configs/{default}; "path:model" picks another network); override its '
        'fields with --config.<field>=value, e.g. --config.learning_rate=1e-3 --config.model.num_bottlenecks=3.',
        lock_config=True)
  except (AttributeError, KeyError) as error:  # an override of no field
    sys.exit(config_error_line(error, sys.argv, f'experiments/configs/{default}'))


def _missing_field(error: BaseException) -> str | None:
  """The field a KeyError/AttributeError chain of ml_collections names: its innermost plain key."""
  field = None
  while error is not None:
    if isinstance(error, (KeyError, AttributeError)) and error.args and isinstance(error.args[0], str) \
        and '\n' not in error.args[0] and '\'' not in error.args[0]:
      field = error.args[0]
    error = error.__cause__ or error.__context__
  return field


def config_error_line(error: BaseException, argv, default_file: str | None = None) -> str:
  """One line for an error of the --config flag: the override of a missing field (with ml_collections' suggestion),
  or the config file that could not be loaded, named as given on the command line.

  Args:
    error: what ml_collections raised while defining or parsing the flag.
    argv: the command line.
    default_file: the config file when --config is not given.
  """
  given = [arg.split('=', 1)[1] for arg in argv[1:] if arg.startswith('--config=')]
  config_file = given[-1] if given else default_file
  field = _missing_field(error)
  if field is None:
    return f'--config={config_file}: cannot be loaded ({type(error).__name__}: {error})'
  overrides = [arg for arg in argv[1:] if arg.startswith('--config.')]
  named = [arg for arg in overrides if field in arg.split('=')[0].split('.')] or overrides or ['--config']
  line = f'{named[0]}: no field {field!r} in the config (see {config_file})'
  suggestion = re.search(r'Did you mean "([^"\\]+)"', repr(error))
  if suggestion:
    prefix = named[0].split('=')[0].rsplit('.', 1)[0]
    line += f'; did you mean {prefix}.{suggestion.group(1)}?'
  return line


def recipes(config, config_file: str, names, *, field: str = 'cv.recipes') -> list[Recipe]:
  """The named recipes of a config file's ``RECIPES`` (field changes applied to ``config``).

  Args:
    config: the config the recipes change.
    config_file: the file it came from (``--config``'s ``config_filename``).
    names: recipe names; a string 'a,b' (as ``--config.cv.recipes=a,b`` gives it) or a sequence.
    field: the config field that named them, for errors.

  Raises:
    ConfigError: naming ``--config.<field>`` for a file without RECIPES or an unknown name.
  """
  path = pathlib.Path(str(config_file).split(':')[0])
  spec = importlib.util.spec_from_file_location('_recipes_of_' + path.stem, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  known = getattr(module, 'RECIPES', None)
  if known is None:
    raise ConfigError(field, f'{path} defines no RECIPES')
  names = [n.strip() for entry in ([names] if isinstance(names, str) else names) for n in str(entry).split(',')]
  unknown = [name for name in names if name not in known]
  if unknown:
    raise ConfigError(field, f'unknown recipe {unknown[0]!r}; {path} defines {", ".join(known)}')
  # imported here, not above: every binary imports this module, and one that only prepares records
  # (with its Dask workers) should not pay for loading JAX and the training stack
  from ganet_jax.studies.cross_validation import Recipe
  from ganet_jax.training.config import apply_overrides
  return [Recipe(name, apply_overrides(config, known[name])) for name in names]

