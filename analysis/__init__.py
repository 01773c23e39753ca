"""Analysis suite for retrospective cohorts of endometrial immune profiling and immunotherapy in IVF.

The package holds everything the notebooks call: the cohort data contract and its validation,
cohort derivation with its exclusion log, the synthetic cohort generator, the models and their
tidy results, tables, figures and the papermill runner.
"""

__version__ = "0.1.0"
