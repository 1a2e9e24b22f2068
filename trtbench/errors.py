"""The three kinds of failure, and the exit codes they map to.

- ``UserError``: bad input. The CLI prints its one-line message (which says what is wrong and how to
  fix it) and exits with ``EXIT_USAGE``; no traceback.
- ``RegressionFound``: ``trtbench gate`` found a regression: ``EXIT_REGRESSION``.
- anything else is an internal error: the traceback is printed and the exit code is ``EXIT_INTERNAL``.

Inside a matrix run, ``VariantSkipped`` and ``VariantFailed`` mark one variant and the run goes on.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class TrtbenchError(Exception):
    """Base class of every error trtbench raises on purpose."""


class UserError(TrtbenchError):
    """Bad input from the user: a one-line message saying what is wrong and how to fix it."""


class RegressionFound(TrtbenchError):
    """A gate found at least one regression."""


class VariantSkipped(TrtbenchError):
    """This variant cannot run here (library missing, not applicable to the model, ...)."""


class BackendUnavailable(VariantSkipped):
    """The backend's library (or its device) is not present on this machine."""


class NotApplicable(VariantSkipped):
    """The variant makes no sense for this model (e.g. its batch is pinned by constants)."""


class CudaError(TrtbenchError):
    """A CUDA runtime call failed; the message names the call and the CUDA error."""
