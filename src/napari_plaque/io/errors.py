"""The one errors module: every error a user should see derives from :class:`NapariPlaqueError`.

The command line maps :class:`NapariPlaqueError` (and :class:`OSError`) to exit code 2 with the
message, which names the file and the problem. They stay :class:`ValueError` subclasses, so
code written as ``except ValueError`` keeps working while the refusals move onto the base class.

* :class:`ReaderError` - a file or folder could not be read;
* :class:`FormatError` - a napari-plaque file (arcs, model, review...) is not one we can trust;
  ``ivus.arcs.ArcsConflictError`` derives from it;
* :class:`WriterError` - an output cannot be written as asked (nothing was written).

Other user-facing errors live beside their code and derive from the base too (see the
``test_user_errors_derive_from_the_base`` test for the list).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["FormatError", "NapariPlaqueError", "OptionError", "ReaderError", "WriterError"]


class NapariPlaqueError(ValueError):
    """A problem with the user's input or request (not a programming error): the message says
    what and, where there is one, names the file."""


class OptionError(NapariPlaqueError):
    """An option value or combination the command does not accept (``step_mm=0``, two options
    that answer one question, a product path of the wrong kind): the message names the option
    and, where there is one, the file."""


class _PathError(NapariPlaqueError):
    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")

    def __reduce__(self):
        # picklable (a cohort worker's error travels to the scheduler): rebuilt from
        # (path, problem), not from the one message argument
        if type(self).__init__ is _PathError.__init__:
            return (type(self), (self.path, self.problem))
        return super().__reduce__()


class ReaderError(_PathError):
    """A file or folder could not be read; the message names the path and the problem."""


class FormatError(_PathError):
    """A napari-plaque file (arcs, model, review...) is not one we can trust or use."""


class WriterError(_PathError):
    """An output cannot be written as asked (nothing was written); the message names the
    destination (or the layer) and the problem."""
