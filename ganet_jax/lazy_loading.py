"""A package's names that load on first use: the module ``__getattr__`` and ``__dir__`` of PEP 562.

A package ``__init__`` that imported every module it re-exports would load them all
(and JAX, ObsPy's signal package, pyplot with them) for a process that needs one.
Instead it declares where each name lives::

    _EXPORTS = {'RecordSet': 'ganet_jax.data.records', ...}
    __all__ = sorted(_EXPORTS)
    __getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)

and ``package.RecordSet`` imports ``ganet_jax.data.records`` the first time it is read.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping, MutableMapping

__all__ = ['lazy_exports']


def lazy_exports(namespace: MutableMapping[str, Any],
                 exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
  """The ``__getattr__`` and ``__dir__`` of a package whose ``exports`` load on first use.

  Args:
    namespace: the package's ``globals()``; a name, once loaded, is kept there, so
      later reads are ordinary attribute reads.
    exports: each exported name and the module that defines it.

  Returns:
    ``(__getattr__, __dir__)``, to assign to the package's names of the same names.
    ``__getattr__`` raises ``AttributeError``, naming the package, for a name outside ``exports``.

  Examples:
    >>> namespace = {'__name__': 'mypackage'}
    >>> getattr_, dir_ = lazy_exports(namespace, {'sqrt': 'math'})
    >>> getattr_('sqrt')(9.0), 'sqrt' in namespace, 'sqrt' in dir_()
    (3.0, True, True)
    >>> getattr_('cbrt')
    Traceback (most recent call last):
    AttributeError: module 'mypackage' has no attribute 'cbrt'
  """
  def __getattr__(name: str) -> Any:
    if name not in exports:
      raise AttributeError(f'module {namespace["__name__"]!r} has no attribute {name!r}')
    value = getattr(importlib.import_module(exports[name]), name)
    namespace[name] = value
    return value

  def __dir__() -> list[str]:
    return sorted(set(namespace) | set(exports))

  return __getattr__, __dir__
