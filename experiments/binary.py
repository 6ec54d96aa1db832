"""What every binary shares: its start, its one-line endings, and absl's flag parsing with readable config errors.

  def prepare() -> None: ...                 # builds the settings from FLAGS, calls one library function
  main = binary.main('preparing', prepare)   # or binary.main('training', train, config=CONFIG): train(config)
  if __name__ == '__main__':
    binary.run(main)

``main`` starts the binary (``start``) and ends every refusal, interrupt and system
error in one line on stderr with a nonzero status (``faults.one_line``). ``run`` is
``app.run`` whose flag parsing turns a bad ``--config`` file or ``--config.<field>``
override into one line naming the file or field instead of chained tracebacks.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

from absl import app, flags, logging
from ml_collections import ConfigDict

from experiments import configs, faults
from ganet_jax.compilation_cache import default_folder, use_compilation_cache

FLAGS = flags.FLAGS


def start(argv) -> None:
  """A binary's start: no positional arguments (UsageError naming them), ``configs.quiet_logging``, the compilation cache."""
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  configs.quiet_logging()
  given = FLAGS.compilation_cache
  cache = default_folder() if given is None else given
  if cache:
    try:
      use_compilation_cache(cache)
    except OSError as error:
      if given is not None:
        raise ValueError(f'--compilation_cache={cache}: cannot be used ({error})') from None
      # the default folder (e.g. under a read-only home) only costs the reruns their compiles
      logging.warning('no compilation cache: %s cannot be used (%s); set --compilation_cache or '
                      '$GANET_JAX_COMPILATION_CACHE', cache, error)


def checked_config(value: Any, config_file: str) -> ConfigDict:
  """``value``, the config ``config_file``'s ``get_config()`` gave; refused in one line naming the file unless a ConfigDict."""
  if not isinstance(value, ConfigDict):
    raise ValueError(f'--config={config_file}: get_config() returned {type(value).__name__} {str(value)[:40]!r}, '
                     'not an ml_collections.ConfigDict')
  return value


def config_value(config_flag) -> ConfigDict:
  """The value of the binary's --config flag holder (``checked_config``)."""
  return checked_config(config_flag.value, FLAGS[config_flag.name].config_filename)


def main(what: str, body: Callable[..., Any], config=None) -> Callable[[list[str]], Any]:
  """The binary's absl main: ``start``, then ``body(config)`` (or ``body()``) inside ``faults.one_line(what)``.

  Args:
    what: the binary's task for its fault lines, e.g. 'training'.
    body: builds the settings from the flags and calls one library function.
    config: the binary's --config flag holder (``configs.define_config_flag``), passed to ``body`` as its value.
  """
  def run_body(argv):
    with faults.one_line(what):
      start(argv)
      return body() if config is None else body(config_value(config))
  return run_body


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parsing (one line and a pointer to --helpshort for a bad flag); a bad --config in one line naming it."""
  try:
    return app.parse_flags_with_usage(argv)
  except Exception as error:  # raised by the config file's flag: a missing field, a file that does not load
    sys.exit(configs.config_error_line(error, argv))


def run(main_function: Callable[[list[str]], Any]) -> None:
  """``app.run(main_function)`` with ``parse_flags``."""
  app.run(main_function, flags_parser=parse_flags)
