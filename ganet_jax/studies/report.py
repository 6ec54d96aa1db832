"""A study's results as the paper shows them: a Markdown table and a metrics-per-configuration figure.

The figure is a ``matplotlib.figure.Figure`` saved straight to a file, matplotlib imported
inside ``plot_study``: importing this module neither loads pyplot nor changes the caller's
backend.
"""

from __future__ import annotations

import pathlib
from typing import Any, Mapping, Sequence

SMOKE_RUN = "SMOKE RUN ({what}): not the paper's figures"

HEADERS = {'sensitivity': 'Sensitivity', 'specificity': 'Specificity', 'accuracy': 'Accuracy', 'auc': 'AUC',
           'misclassified': 'Misclassified records'}
PERCENT = ('sensitivity', 'specificity', 'accuracy')


def format_cell(summary: Mapping[str, Any], metric: str) -> str:
  """'95.75%' for one seed, '95.75 ± 0.40%' for several; records and AUC without '%'; '-' if undefined."""
  if summary['mean'] is None:
    return '-'
  scale, digits, unit = (100, 2, '%') if metric in PERCENT else (1, 1 if metric == 'misclassified' else 3, '')
  if metric == 'misclassified' and summary['n'] == 1:
    digits = 0
  text = f'{scale * summary["mean"]:.{digits}f}'
  if summary['n'] > 1:
    text += f' ± {scale * summary["std"]:.{digits}f}'
  return text + unit


def smoke_note(what: str) -> str:
  """The stamp of a smoke run, e.g. ``smoke_note('synthetic data, 1 epoch')``."""
  return SMOKE_RUN.format(what=what)


def title_lines(results: Mapping[str, Any]) -> list[str]:
  """The study's title; for a smoke run the stamp first, the paper's title only as the layout followed."""
  smoke = results.get('smoke_run')
  return [smoke, f'(laid out as: {results["title"]})'] if smoke else [results['title']]


def markdown_table(results: Mapping[str, Any], columns: Sequence[str]) -> str:
  """The study's table: one row per configuration, a column per metric or detail, and a note on its basis.

  A smoke run's table (``results['smoke_run']``, see ``run_study``) is headed by its stamp, not by the
  paper's title.

  Args:
    results: the dict ``study.run_study`` writes to results.json.
    columns: metric names (``HEADERS``) or detail keys, in order.

  Returns:
    Markdown text.
  """
  configurations = results['configurations']
  heading, *rest = title_lines(results)
  lines = [f'# {heading}', *(['', *rest] if rest else []), '',
           '| | ' + ' | '.join(HEADERS.get(c, c) for c in columns) + ' |',
           '|---' * (len(columns) + 1) + '|']
  for entry in configurations.values():
    cells = [format_cell(entry['aggregate'][c], c) if c in HEADERS else str(entry['details'][c]) for c in columns]
    lines.append(f'| {entry["label"]} | ' + ' | '.join(cells) + ' |')
  provenance, test = results['provenance'], results['test']
  seeds = provenance['seeds']
  lines += ['', (f'Mean ± sample std (ddof=1) over {len(seeds)} seeds ({", ".join(map(str, seeds))}); '
                 if len(seeds) > 1 else f'One seed ({seeds[0]}); ')
            + f'test split: {test["records"]} records ({test["tectonic"]} tectonic, '
              f'{test["non_tectonic"]} non-tectonic); data: {provenance["dataset"]["path"]}.', '']
  return '\n'.join(lines)


def plot_study(results: Mapping[str, Any], metrics: Sequence[str], path, *, x_label: str, title: str) -> pathlib.Path:
  """Metrics (mean with std error bars, min-max as a band) against the configurations, Fig. 5/7 style.

  A smoke run's figure (``results['smoke_run']``) is titled with its stamp, ``title`` below it as the layout.
  """
  from matplotlib.figure import Figure  # here, not at import: see the module docstring
  entries = list(results['configurations'].values())
  positions = range(len(entries))
  figure = Figure(figsize=(5.5, 4))
  axes = figure.add_subplot()
  for metric in metrics:
    summaries = [entry['aggregate'][metric] for entry in entries]
    scale = 100 if metric in PERCENT else 1
    value = lambda key: [scale * s[key] if s[key] is not None else float('nan') for s in summaries]
    line = axes.errorbar(positions, value('mean'), yerr=value('std'), marker='o', capsize=3, label=HEADERS[metric])
    axes.fill_between(positions, value('min'), value('max'), color=line.lines[0].get_color(), alpha=0.15)
  axes.set_xticks(list(positions), [entry['label'] for entry in entries])
  axes.set_xlabel(x_label)
  if all(m in PERCENT for m in metrics):
    axes.set_ylim(-2, 102)  # error bars of a few seeds may reach past 0 or 100
    axes.set_ylabel('%')
  smoke = results.get('smoke_run')
  if smoke:
    axes.set_title(f'{smoke}\n(laid out as: {title})', fontsize=9, color='firebrick')
  else:
    axes.set_title(title)
  axes.legend(loc='lower right')
  axes.grid(alpha=0.3)
  figure.tight_layout()
  path = pathlib.Path(path)
  figure.savefig(path, dpi=120)
  return path
