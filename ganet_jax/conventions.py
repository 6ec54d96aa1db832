"""Conventions shared by every part of the library: labels, sampling, window, component order.

Labels follow the shipped data sets (``label`` 0 = earthquake, 1 = explosion):
class index 0 is tectonic, 1 is non-tectonic. As in the paper (Section III-B),
tectonic records are the POSITIVE class for sensitivity/specificity, so the
"positive probability" of a record is ``softmax(logits)[:, TECTONIC]``.
"""

TECTONIC = 0
NON_TECTONIC = 1
CLASS_NAMES = ('tectonic', 'non-tectonic')
# The label of a record of unknown type (``prepare --unlabeled``): for self-supervised
# pretraining only; supervised training and metrics refuse it.
UNLABELED = -1
UNLABELED_TYPE = 'unknown'

SAMPLING_RATE = 100.0        # Hz (Section III-A)
WINDOW_SECONDS = 100.0       # s after the P onset (Section III-A)
WINDOW_SAMPLES = 10000       # SAMPLING_RATE * WINDOW_SECONDS
COMPONENT_ORDER = 'ZNE'      # channel order of the model's input

THRESHOLD = 0.5              # P(tectonic) at or above which a record or event is called tectonic
PAPER_LEARNING_RATE = 1e-5   # Adam's step size in the paper (Section III-B)
# The floor of a norm, scale or power that divides or is logged: a dead (all-zero) window
# or feature must give finite numbers. Far below any real signal's level.
EPSILON = 1e-12

