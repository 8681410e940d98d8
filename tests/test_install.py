"""Install proof: a wheel of the project, installed into a fresh venv next to PyPI's
``fixtures`` package, adds exactly one top-level import name (``sftcheck``) and both import.

The venv uses ``--system-site-packages`` so torch & co. are not installed again; the wheel
goes in with ``--no-deps``.  The source is copied first: building never writes into the
checkout.  PyPI's ``fixtures`` comes from the package index; where the index cannot be
reached, a local stand-in distribution named ``fixtures`` takes its place (a warning says
so) — the clash being tested is the import name, which any other distribution can own.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import venv
import warnings
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(".git", ".venv*", ".world*", "build", "dist", "*.egg-info", "reports",
                              "__pycache__", ".pytest_cache", ".ruff_cache", "shared")


def _run(*cmd: str | Path, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], check=False, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _top_level_names(wheel: Path) -> tuple[set[str], set[str]]:
    """Import names the wheel installs: from its RECORD (every file) and its top_level.txt."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        record = next(n for n in names if n.endswith(".dist-info/RECORD"))
        paths = [line.split(",")[0] for line in zf.read(record).decode().splitlines() if line]
        top_txt = next((n for n in names if n.endswith(".dist-info/top_level.txt")), None)
        declared = set(zf.read(top_txt).decode().split()) if top_txt else set()
    from_record = set()
    for p in paths:
        first = p.split("/")[0]
        if first.endswith((".dist-info", ".data")):
            continue
        from_record.add(first.removesuffix(".py"))
    return from_record, declared


def _isolation() -> tuple[str, ...]:
    """Build with this interpreter's setuptools when it can write wheels (no index needed),
    else in pip's isolated build environment."""
    try:
        import setuptools.command.bdist_wheel  # noqa: F401  (setuptools >= 70.1)
    except ImportError:
        try:
            import wheel  # noqa: F401
        except ImportError:
            return ()
    return ("--no-build-isolation",)


def _stand_in_fixtures(tmp: Path) -> Path:
    src = tmp / "fixtures-standin"
    (src / "fixtures").mkdir(parents=True)
    (src / "fixtures" / "__init__.py").write_text('"""Stand-in for PyPI\'s fixtures."""\n'
                                                  "class Fixture:\n    pass\n")
    (src / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "fixtures"
        version = "0.0.0"
        [tool.setuptools]
        packages = ["fixtures"]
    """))
    return src


def test_wheel_installs_one_top_level_name_next_to_pypi_fixtures(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=SKIP)
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", *_isolation(), "-q", "-w", dist, src)
    wheel = next(dist.glob("sftcheck-*.whl"))
    from_record, declared = _top_level_names(wheel)
    assert from_record == {"sftcheck"}, f"the wheel installs top-level names {sorted(from_record)}"
    assert declared in (set(), {"sftcheck"}), f"top_level.txt declares {sorted(declared)}"

    env = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env)
    py = env / "bin" / "python"
    site = Path(_run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    pip = (sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "-q")

    stand_in = False
    try:
        _run(*pip, "fixtures", timeout=120)
    except (AssertionError, subprocess.TimeoutExpired) as exc:
        stand_in = True
        warnings.warn(f"PyPI's fixtures could not be installed ({str(exc).splitlines()[0]}); "
                      "using a local stand-in distribution named 'fixtures'", stacklevel=1)
        _run(*pip, *_isolation(), _stand_in_fixtures(tmp_path))
    before = {p.name for p in site.iterdir()}
    _run(*pip, wheel)
    added = {p.name for p in site.iterdir()} - before
    added_names = {n.removesuffix(".py") for n in added
                   if not n.endswith((".dist-info", ".pth")) and n != "__pycache__"}
    assert added_names == {"sftcheck"}, f"installing sftcheck added {sorted(added)} to site-packages"

    probe = textwrap.dedent(f"""\
        import json, pathlib
        import fixtures
        import sftcheck, sftcheck.checks, sftcheck.checks.support.registry
        import sftcheck.fixtures.world, sftcheck.model_tests
        import sftcheck.plugin
        sftcheck.plugin.area_plugins()  # every runtime subpackage the plugin registers is installed
        from sftcheck.checks.support.registry import load_all
        load_all()  # and every check area (a module or a package)
        from importlib.metadata import distribution
        site = pathlib.Path({str(site)!r})
        print(json.dumps({{
            "fixtures": fixtures.__file__,
            "fixtures_dist": [f for f in distribution("fixtures").read_text("RECORD").split()
                              if f.startswith("fixtures/__init__.py")],
            "has_Fixture": hasattr(fixtures, "Fixture"),
            "sftcheck": sftcheck.__file__,
            "checks": sftcheck.checks.__file__,
            "world": sftcheck.fixtures.world.__file__,
            "model_tests": sftcheck.model_tests.__file__,
            "n_checks": len(sftcheck.checks.support.registry.load_all()),
            "elsewhere": sorted(n for n, m in __import__("sys").modules.items()
                                if n.startswith("sftcheck") and getattr(m, "__file__", None)
                                and not pathlib.Path(m.__file__).is_relative_to(site)),
            "site": str(site),
        }}))
    """)
    out = json.loads(_run(py, "-c", probe, cwd=tmp_path).stdout)
    inside = Path(out["site"])
    assert Path(out["fixtures"]).parent == inside / "fixtures", out    # PyPI's (or the stand-in), not ours
    assert out["has_Fixture"] and out["fixtures_dist"], out
    for name in ("sftcheck", "checks", "world", "model_tests"):
        assert Path(out[name]).is_relative_to(inside / "sftcheck"), (name, out)
    assert out["n_checks"] > 30, out
    # every sftcheck module the plugin and the registry import comes from the wheel (a
    # subpackage left out of pyproject's packages would be found in another install)
    assert out["elsewhere"] == [], out["elsewhere"]
    if not stand_in:  # PyPI's own package: its module is the one PyPI ships
        assert "fixture" in Path(out["fixtures"]).read_text().lower(), out
