"""The exceptions tessera raises. Every message is the one line (or, for a
file with several problems, the lines) that the `tessera` command prints
after ``error:`` for the same mistake.

- ``Error``: the base of all of them.
- ``InputError``: a file, spec, workload, scenario or placement is missing
  or wrong (the command's exit code 2 for its inputs).
- ``OptionError`` (also a ``ValueError``): an argument has a value the
  command refuses (its message names the command's flag, e.g.
  ``--budget: ...``), or a partition method option is unknown or out of its
  domain.
- ``ArgumentTypeError`` (also a ``TypeError``): an argument of the wrong
  Python type.
- ``InfeasibleError``: the inputs are valid but no valid placement exists
  (repair proves it), or every partition method failed.
- ``InternalError``: a bug in tessera (a Rust panic, caught at the
  boundary); the interpreter goes on.
"""


class Error(Exception):
    """Base class of every error tessera raises."""


class InputError(Error):
    """A file, spec, workload, scenario or placement is missing or wrong."""


class OptionError(Error, ValueError):
    """An argument's value is refused (the message names the command's flag)."""


class ArgumentTypeError(Error, TypeError):
    """An argument of the wrong Python type."""


class InfeasibleError(Error):
    """No valid placement exists, or every partition method failed."""


class InternalError(Error):
    """A bug in tessera, caught before it could stop the interpreter."""


class TesseraWarning(UserWarning):
    """A warning the command prints on stderr (e.g. a trace that reached its cap)."""
