"""Installed the way a deployment installs it: a wheel built from the source, in a fresh
virtual environment, away from the checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.request import urlopen

import pytest

from support.postgres import throwaway_database
from support.processes import ServiceProcess, command_env, run_command

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_wheel_in_a_fresh_venv_migrates_and_serves(postgres_url, tmp_path: Path):
    # The sdist first, then the wheel from it: what a release would publish.
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(tmp_path / "dist"), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("capcut_mate-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)],
                   check=True, capture_output=True, timeout=600)
    program = [str(venv / "bin" / "capcut-mate")]
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import capcut_mate; print(capcut_mate.__file__)"],
                           cwd=tmp_path, check=True, capture_output=True, text=True).stdout
    assert where.startswith(str(venv)), where  # the installed copy, not the checkout

    with throwaway_database(postgres_url) as dsn:
        env = command_env(database_url=dsn, data_dir=str(tmp_path / "data"))
        migrated = run_command("migrate", env=env, program=program)
        assert migrated.returncode == 0, migrated.stderr
        assert "database schema is at head" in migrated.stdout
        service = ServiceProcess(env, tmp_path / "serve.log", program=program).wait_ready()
        try:
            with urlopen(f"{service.url}/readyz", timeout=10) as ready:
                assert ready.status == 200
        finally:
            assert service.stop() == 0, service.log()
