"""Install the built wheel as a user would, on an Airflow that is already there, and use it.

    python3 scripts/check_wheel.py [SERIES[@DATE] ...]    (default: 2.11@2025-05-21 3.0@2025-08-29)

For each Airflow series: builds ``dist/*.whl`` (``uv build``), makes a fresh venv with
``apache-airflow==<series>.*`` and nothing else (resolved as PyPI stood on DATE when
given: an Airflow 3.0 resolved against today's PyPI cannot start a task, and Airflow's
constraint files are what users install it with), installs the wheel into it, and checks
that Airflow's version did not change, that ``airflow providers hooks`` lists the
Kaleyra hook, and (``--inside``, run by that venv's python) that a DAG written the
version-neutral way (``from airflow import DAG``) places one call, waits for it in a
trigger, and fails naming the code when Kaleyra answers RBC3115. Exits non-zero on the
first check that does not hold; uses ``.venv/bin/uv`` (``python3 dev.py bootstrap``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".venv" / "bin" / "uv"

NEUTRAL_DAG = """
import pendulum
from airflow import DAG

from airflow_provider_kaleyra.operators.kaleyra import KaleyraOutboundCallOperator

with DAG("kaleyra_neutral", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         render_template_as_native_obj=True) as dag:
    KaleyraOutboundCallOperator(
        task_id="call", to="{{ dag_run.conf['to'] }}", bridge="{{ dag_run.conf['bridge'] }}",
        flow_id="{{ dag_run.conf['flow_id'] }}", wait_for_completion=True, deferrable=True, poll_interval=1,
    )
"""


def inside() -> int:
    """Run in the fresh venv: the neutral DAG against the simulator, once answered, once refused."""
    home = Path(tempfile.mkdtemp(prefix="kaleyra-wheel-check-"))
    (home / "dags").mkdir()
    (home / "dags" / "kaleyra_neutral.py").write_text(NEUTRAL_DAG)
    os.environ.update(
        AIRFLOW_HOME=str(home), AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"), AIRFLOW__CORE__LOAD_EXAMPLES="False"
    )
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    from airflow.models.dagbag import DagBag

    from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, SECOND_BRIDGE, KaleyraSimulator

    with KaleyraSimulator() as simulator:
        os.environ["AIRFLOW_CONN_KALEYRA_DEFAULT"] = simulator.airflow_connection_json()
        dag = DagBag(str(home / "dags"), include_examples=False).get_dag("kaleyra_neutral")
        one = {"to": ["+918830907001"], "bridge": SECOND_BRIDGE, "flow_id": DEFAULT_FLOW_ID}
        answered = dag.test(run_conf=one)
        ti = answered.get_task_instance("call")
        outcomes = ti.xcom_pull(task_ids="call", key="outcomes")
        result = {
            "answered_run": str(answered.state),
            "dials": len(simulator.ledger()),
            "call_log_reads": simulator.request_count("voice/call-logs"),
            "outcomes": [c["status"] for c in (outcomes or {}).get("calls", [])],
        }
        simulator.reset()
        refused = dag.test(run_conf={**one, "flow_id": "SG_no_such_flow"})
        result.update(refused_run=str(refused.state), refused_dials=len(simulator.ledger()))
    print("RESULT " + json.dumps(result))
    ok = (
        result["answered_run"].endswith("success")
        and result["dials"] == 1
        and result["call_log_reads"] >= 1
        and result["outcomes"] == ["ANSWER"]
        and result["refused_run"].endswith("failed")
        and result["refused_dials"] == 0
    )
    return 0 if ok else 1


def check(series: str, wheel: Path) -> None:
    series, _, as_of = series.partition("@")
    venv = Path(tempfile.mkdtemp(prefix=f"kaleyra-wheel-{series}-")) / "venv"
    python = venv / "bin" / "python"
    env = dict(os.environ, UV_NO_PROGRESS="1")
    subprocess.run([str(UV), "venv", "-q", "--python", sys.executable, str(venv)], check=True, env=env)
    install = [str(UV), "pip", "install", "-q", "--python", str(python)]
    dated = ["--exclude-newer", as_of] if as_of else []
    subprocess.run([*install, f"apache-airflow=={series}.*", *dated], check=True, env=env)
    version = [str(python), "-c", "import importlib.metadata as m; print(m.version('apache-airflow'))"]
    before = subprocess.run(version, check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([*install, str(wheel)], check=True, env=env)
    after = subprocess.run(version, check=True, capture_output=True, text=True).stdout.strip()
    print(f"[{series}] apache-airflow {before} before the wheel, {after} after")
    if before != after:
        sys.exit(f"[{series}] installing the wheel changed Airflow from {before} to {after}")
    home = tempfile.mkdtemp(prefix="kaleyra-wheel-home-")
    airflow_env = dict(os.environ, AIRFLOW_HOME=home, AIRFLOW__CORE__LOAD_EXAMPLES="False")
    hooks = subprocess.run(
        [str(venv / "bin" / "airflow"), "providers", "hooks"], capture_output=True, text=True, env=airflow_env
    ).stdout
    [line] = [x for x in hooks.splitlines() if "kaleyra" in x] or ["(no kaleyra line)"]
    print(f"[{series}] airflow providers hooks: {' '.join(line.split())}")
    if "KaleyraHook" not in line:
        sys.exit(f"[{series}] `airflow providers hooks` does not list the Kaleyra hook")
    run = subprocess.run([str(python), __file__, "--inside"], capture_output=True, text=True, cwd=home)
    found = [x for x in run.stdout.splitlines() if x.startswith("RESULT ")]
    refused_log = "RBC3115" in run.stdout + run.stderr
    print(f"[{series}] neutral DAG: {found[0][7:] if found else 'no result'}; RBC3115 named in the log: {refused_log}")
    if run.returncode or not refused_log:
        sys.exit(f"[{series}] the version-neutral DAG did not behave:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--inside"]:
        return inside()
    dist = Path(tempfile.mkdtemp(prefix="kaleyra-dist-"))
    subprocess.run([str(UV), "build", "-q", "--wheel", "--out-dir", str(dist), str(ROOT)], check=True)
    [wheel] = dist.glob("*.whl")
    for series in argv or ["2.11@2025-05-21", "3.0@2025-08-29"]:
        check(series, wheel)
    print("wheel check: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
