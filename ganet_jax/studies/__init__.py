"""Studies: the paper's tables and figures as configurations x seeds of training runs."""

from ganet_jax.studies.report import markdown_table, plot_study, smoke_note
from ganet_jax.studies.run import Configuration, Figure, aggregate, run_study, study_outputs, summarize

__all__ = ['Configuration', 'Figure', 'aggregate', 'markdown_table', 'plot_study', 'run_study', 'smoke_note',
           'study_outputs', 'summarize']
