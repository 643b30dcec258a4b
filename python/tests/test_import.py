"""`import tessera` needs neither Ray nor Gymnasium, and the public API has
its documentation."""

import inspect
import subprocess
import sys

import tessera


def test_import_works_without_ray_or_gymnasium():
    # A None entry in sys.modules makes any import of that name fail, as if
    # the package were not installed.
    script = (
        "import sys\n"
        "for name in ('ray', 'gymnasium', 'numpy', 'stable_baselines3'):\n"
        "    sys.modules[name] = None\n"
        "import tessera\n"
        "print(tessera.simulate('hw_specs/edgetpu_ring4.toml', 'mlp')['valid'])\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tessera_root()
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "True"


def test_import_loads_no_optional_dependency():
    script = "import sys, tessera; print(sorted({'ray', 'gymnasium'} & set(sys.modules)))"
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"


def test_every_public_name_is_documented():
    undocumented = []
    for name in tessera.__all__:
        obj = getattr(tessera, name)
        if callable(obj) and not (inspect.getdoc(obj) or "").strip():
            undocumented.append(name)
    for cls in (tessera.Spec, tessera.Workload):
        for name, member in vars(cls).items():
            if name.startswith("_"):
                continue
            if not (getattr(member, "__doc__", None) or "").strip():
                undocumented.append(f"{cls.__name__}.{name}")
    assert undocumented == []


def tessera_root():
    from pathlib import Path

    return Path(__file__).resolve().parents[2]
