"""The shell snippets the documentation includes (docs/snippets/*.sh), run as a user runs them.

Each snippet runs in bash with this venv's ``airflow`` on the PATH and the tests' private
AIRFLOW_HOME; what it did is then read back through Airflow and the provider.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator

SNIPPETS = Path(__file__).resolve().parents[2] / "docs" / "snippets"
#: Reads kaleyra_default the way every task does and prints what the provider made of it.
PRINT_SETTINGS = (
    "from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook; "
    "s = KaleyraHook().settings; print(s.sid, s.region, s.base_url)"
)


def bash(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    bin_dir = str(Path(sys.executable).parent)
    env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}
    return subprocess.run(["bash", "-e", "-c", script], env=env, capture_output=True, text=True, check=False)


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}


def test_the_environment_variable_snippet_defines_kaleyra_default() -> None:
    result = bash(f"source {SNIPPETS / 'connection_env.sh'}\npython -c '{PRINT_SETTINGS}'", clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["HXIN169510844XXX", "IN", "https://api.in.kaleyra.io/"]


@pytest.mark.usefixtures("airflow_db")
def test_the_cli_snippet_stores_kaleyra_default_in_the_database() -> None:
    env = clean_env()
    bash("airflow connections delete kaleyra_default || true", env)
    added = bash(f"source {SNIPPETS / 'connection_cli.sh'}", env)
    try:
        assert added.returncode == 0, added.stderr
        read = bash("airflow connections get kaleyra_default -o json", env)
        assert read.returncode == 0, read.stderr
        [stored] = json.loads(read.stdout[read.stdout.index("[") :])
        assert (stored["conn_type"], stored["login"]) == ("kaleyra", "HXIN169510844XXX")
        assert stored["extra_dejson"] == {"region": "EU"}
    finally:
        bash("airflow connections delete kaleyra_default", env)


@pytest.mark.usefixtures("airflow_db")
def test_the_connection_test_snippet_checks_the_credentials_without_placing_a_call(
    simulator: KaleyraSimulator,
) -> None:
    result = bash(f"source {SNIPPETS / 'connection_test.sh'}", dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert "Connection success!" in result.stdout, result.stdout
    assert simulator.request_count("number/subscriptions") == 1
    assert simulator.request_count("voice/outbound") == 0


def test_the_simulator_snippet_listens_on_the_documented_port_and_prints_the_connection() -> None:
    bin_dir = str(Path(sys.executable).parent)
    env = {**clean_env(), "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    # exec: the simulator replaces bash, so terminating the process stops it.
    command = (SNIPPETS / "simulator.sh").read_text().split("[START howto_simulator_start]\n")[1].split("\n")[0]
    script = f"exec {command}"
    with subprocess.Popen(["bash", "-c", script], env=env, stdout=subprocess.PIPE, text=True) as simulator:
        try:
            assert simulator.stdout is not None
            url_line, connection_line = simulator.stdout.readline(), simulator.stdout.readline()
        finally:
            simulator.terminate()
    assert url_line.strip() == "Kaleyra simulator listening on http://127.0.0.1:8765/", url_line
    name, _, value = connection_line.strip().partition("=")
    assert name == "AIRFLOW_CONN_KALEYRA_DEFAULT"
    assert json.loads(value)["extra"]["base_url"] == "http://127.0.0.1:8765/"
