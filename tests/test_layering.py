"""The documented layer order holds: every module imports only from its own layer or the layers before it.

The order is written here once; README's Layout table and the package docstring list
the layers in the same order (checked below). Imports are read with ``ast``, so an
import inside a function or under ``TYPE_CHECKING`` counts as any other.
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Each entry is one layer, first to last; a module may import from its own layer and the ones before it.
LAYERS = (
    ('ganet_jax.compilation_cache', 'ganet_jax.conventions', 'ganet_jax.errors', 'ganet_jax.progress',
     'ganet_jax.provenance', 'ganet_jax.sharding', 'ganet_jax.json_settings', 'ganet_jax.lazy_loading'),
    ('ganet_jax.nn',),
    ('ganet_jax.data',),
    ('ganet_jax.models',),
    ('ganet_jax.evaluation',),
    ('ganet_jax.training',),
    ('ganet_jax.pretrained',),
    ('ganet_jax.classify',),
    ('ganet_jax.studies',),
    ('experiments',),
)
# The package's front door re-exports a few names of its layers; nothing imports it for them.
FRONT_DOOR = 'ganet_jax'


def layer_of(module: str) -> int | None:
  """The index in LAYERS of ``module`` (None outside ganet_jax and experiments, and for the front door)."""
  for index, prefixes in enumerate(LAYERS):
    if any(module == prefix or module.startswith(prefix + '.') for prefix in prefixes):
      return index
  return None


def module_name(path: pathlib.Path) -> str:
  parts = path.relative_to(ROOT).with_suffix('').parts
  return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def is_module(name: str) -> bool:
  path = ROOT.joinpath(*name.split('.'))
  return path.with_suffix('.py').is_file() or (path / '__init__.py').is_file()


def imported_modules(path: pathlib.Path) -> set[str]:
  """The project modules ``path`` imports (``from a import b`` counts as a.b when b is a module)."""
  package = module_name(path).split('.') if path.name == '__init__.py' else module_name(path).split('.')[:-1]
  found = set()
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.Import):
      found.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:  # relative: resolved against the importing package
        base = '.'.join(package[:len(package) - node.level + 1] + ([base] if base else []))
      for alias in node.names:
        found.add(f'{base}.{alias.name}' if is_module(f'{base}.{alias.name}') else base)
  return {name for name in found if name.split('.')[0] in ('ganet_jax', 'experiments')}


def project_modules() -> list[pathlib.Path]:
  return sorted(p for folder in ('ganet_jax', 'experiments') for p in (ROOT / folder).rglob('*.py'))


def import_graph() -> dict[str, set[str]]:
  return {module_name(path): imported_modules(path) for path in project_modules()}


def test_every_module_belongs_to_a_layer():
  unplaced = [name for name in import_graph() if name != FRONT_DOOR and layer_of(name) is None]
  assert not unplaced, f'modules outside LAYERS: {unplaced}'


def test_no_module_imports_from_a_later_layer():
  upward = [f'{source} imports {target}' for source, targets in import_graph().items() if source != FRONT_DOOR
            for target in sorted(targets) if target != FRONT_DOOR and layer_of(target) > layer_of(source)]
  assert not upward, '\n'.join(upward)


def test_no_two_modules_import_each_other():
  graph = {name: {t for t in targets if t in import_graph_names()} for name, targets in import_graph().items()}
  cycles = []
  for start in graph:  # depth-first search for a path back to the start
    stack, seen = [(start, [start])], set()
    while stack:
      node, path = stack.pop()
      for target in graph.get(node, ()):
        if target == start and len(path) > 1:
          cycles.append(' -> '.join(path + [start]))
        elif target not in seen and not _is_package_of(target, start):
          seen.add(target)
          stack.append((target, path + [target]))
  assert not cycles, '\n'.join(sorted(set(cycles))[:10])


def import_graph_names() -> set[str]:
  return {module_name(path) for path in project_modules()}


def _is_package_of(package: str, module: str) -> bool:
  # a package's __init__ re-exports its own modules: importing a module of a package runs its __init__ first
  return module.startswith(package + '.')


def _layer_of_word(word: str) -> int | None:
  """The layer a README or docstring entry names ('ganet_jax/nn/', '`conventions.py`', 'studies/', 'experiments/')."""
  name = word.strip('`,').removeprefix('ganet_jax/').removesuffix('/').removesuffix('.py')
  if name == 'experiments':
    return layer_of('experiments')
  return layer_of(f'ganet_jax.{name}') if name and is_module(f'ganet_jax.{name}') else None


def test_readme_lists_the_layers_in_this_order():
  text = (ROOT / 'README.md').read_text()
  table = text[text.index('## Layout'):]
  table = table[:table.index('\n## ', 1)]
  rows = [line.split('|')[1].split()[0] for line in table.splitlines() if line.startswith('| `')]
  listed = [layer for layer in map(_layer_of_word, rows) if layer is not None]
  assert listed == list(range(len(LAYERS))), rows


def test_the_package_docstring_lists_the_layers_in_this_order():
  lines = ast.get_docstring(ast.parse((ROOT / 'ganet_jax' / '__init__.py').read_text())).splitlines()
  rows = [line.split()[0] for line in lines[lines.index(next(l for l in lines if l.startswith('Layers'))) + 1:]
          if line.startswith('  ')]
  listed = [layer for layer in map(_layer_of_word, rows) if layer is not None]
  assert listed == list(range(len(LAYERS) - 1)), rows  # the package's docstring leaves out the binaries
