"""tessera from Python: simulate ML models on multi-chip-module (chiplet)
accelerators, partition them across chiplets, and run scenarios.

The functions run the same code as the ``tessera`` command and return what
it writes, as plain Python values: a report is the dict of the command's
``report.json`` (or ``--json`` output) for the same inputs. Mistakes raise
:class:`tessera.Error` subclasses with the command's message (see
``tessera._errors``). Simulation and search release the GIL.

Example::

    import tessera
    spec = tessera.Spec.load("hw_specs/edgetpu_ring4.toml")
    bert = tessera.load_workload("bert-base", layers=2, seq=64)
    report = tessera.simulate(spec, bert)
    best = tessera.partition(spec, bert, "sa", budget=100, seed=1)

Optional front ends live in their own modules and import their own
dependencies only when imported: ``tessera.gym`` is a Gymnasium environment
for learned partitioning (``pip install "./python[gym]"``).
"""

from ._errors import (
    ArgumentTypeError,
    Error,
    InfeasibleError,
    InputError,
    InternalError,
    OptionError,
    TesseraWarning,
)
from ._native import Spec, Workload, __version__
from ._api import (
    check,
    load_workload,
    methods,
    partition,
    repair,
    run_scenario,
    shipped_specs,
    simulate,
    zoo_models,
)

__all__ = [
    "ArgumentTypeError",
    "Error",
    "InfeasibleError",
    "InputError",
    "InternalError",
    "OptionError",
    "Spec",
    "TesseraWarning",
    "Workload",
    "__version__",
    "check",
    "load_workload",
    "methods",
    "partition",
    "repair",
    "run_scenario",
    "shipped_specs",
    "simulate",
    "zoo_models",
]
