"""A new user's first hour: mistakes answered in one line, stopping that does what is
expected, and nothing left running behind. The real `capcut-mate` command, in child
processes."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from support.agents import store_agent
from support.farm import EXPORT_COMMAND, AgentProcess, Farm, process_alive
from support.postgres import postmaster_running, stop_postmaster, with_database
from support.processes import ServiceProcess, command_env, free_port, run_command


def one_line_error(result, command: str) -> str:
    """The command failed with a single line on stderr, and no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"capcut-mate {command}: "), lines[0]
    return lines[0]


def test_a_port_in_use_says_so_before_the_embedded_database_starts(tmp_path: Path):
    data_dir = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_command("serve", "--port", str(port), env=command_env(data_dir=str(data_dir)))
    line = one_line_error(result, "serve")
    assert f"port {port} on 127.0.0.1 is already in use" in line
    assert "--port" in line and "CAPCUT_MATE_PORT" in line
    assert not postmaster_running(data_dir / "pgdata"), "nothing started is left running"


def test_a_database_server_that_is_down(tmp_path: Path):
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/capcut"
    line = one_line_error(run_command("serve", env=command_env(database_url=url, data_dir=str(tmp_path))), "serve")
    assert "cannot reach PostgreSQL at 127.0.0.1" in line and "Connection refused" in line
    assert "CAPCUT_MATE_DATABASE_URL" in line


def test_a_database_host_that_does_not_resolve_is_named_as_such(tmp_path: Path):
    url = "postgresql://postgres@capcut-mate-no-such-host.invalid/capcut"
    line = one_line_error(run_command("migrate", env=command_env(database_url=url, data_dir=str(tmp_path))),
                          "migrate")
    assert "cannot reach PostgreSQL at capcut-mate-no-such-host.invalid" in line
    assert "Unknown error" not in line  # getaddrinfo's own words, not strerror of its negative code


@pytest.mark.parametrize(("option", "value", "complaint"), [
    ("--port", "99999", "it must be from 0 to 65535"),
    ("--port", "http", "is not a whole number"),
    ("--workers", "0", "it must be at least 1"),
    ("--local-agents", "-1", "it must be at least 0"),
])
def test_an_out_of_range_option_is_a_usage_error(tmp_path: Path, option: str, value: str, complaint: str):
    result = run_command("serve", option, value, env=command_env(data_dir=str(tmp_path)))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"argument {option}: " in result.stderr and complaint in result.stderr
    assert not (tmp_path / "pgdata").exists(), "refused before anything starts"


def test_a_database_that_does_not_exist(postgres_url, tmp_path: Path):
    url = with_database(postgres_url, "capcut_mate_never_made")
    line = one_line_error(run_command("migrate", env=command_env(database_url=url, data_dir=str(tmp_path))),
                          "migrate")
    assert "database 'capcut_mate_never_made' does not exist" in line
    assert "createdb capcut_mate_never_made" in line and "CAPCUT_MATE_DATABASE_URL" in line


def test_a_login_the_database_refuses(postgres_url, tmp_path: Path):
    url = postgres_url.replace("postgres@", "capcut_mate_no_such_role@", 1)
    line = one_line_error(run_command("report", env=command_env(database_url=url, data_dir=str(tmp_path))), "report")
    assert "refused the login" in line and "CAPCUT_MATE_DATABASE_URL" in line


@pytest.mark.parametrize(("folder", "complaint"), [
    ("a-file", "is not a folder"),
    ("a-file/below-it", "is not a folder"),
    ("/sys", "cannot write in the data folder /sys"),  # read-only, even for root
    ("/sys/capcut-mate", "cannot create the data folder /sys/capcut-mate"),
])
@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_a_data_folder_that_cannot_hold_data(tmp_path: Path, folder: str, complaint: str, command: str):
    (tmp_path / "a-file").write_text("not a folder")
    data_dir = tmp_path / folder
    line = one_line_error(run_command(command, env=command_env(data_dir=str(data_dir))), command)
    assert complaint in line and "CAPCUT_MATE_DATA_DIR" in line
    assert not postmaster_running(data_dir / "pgdata")


def test_a_bad_setting_names_the_variable(tmp_path: Path):
    line = one_line_error(run_command("migrate", env={**command_env(data_dir=str(tmp_path)), "CAPCUT_MATE_PORT": "x"}),
                          "migrate")
    assert "CAPCUT_MATE_PORT" in line


@pytest.mark.slow
async def test_ctrl_c_drains_and_says_so_and_twice_stops_at_once(tmp_path: Path, database_url, store):
    farm = Farm(tmp_path, database_url, store)
    try:
        service, job_id, agent_pid, export_pid = await _serve_running_one_job(farm, "hang-ctrl-c")

        service.process.send_signal(signal.SIGINT)
        service.wait_for_output("Ctrl-C again to stop now")
        assert (await store.get_job(job_id)).status == "processing"  # draining: the job runs on
        assert service.process.poll() is None

        started = time.monotonic()
        service.process.send_signal(signal.SIGINT)
        assert service.process.wait(15) == 0, service.log()
        assert time.monotonic() - started < 15  # not the 20 s drain
        assert "stopping now" in service.log()
        job = await store.get_job(job_id)
        assert (job.status, job.attempt) == ("pending", 1)  # handed back, retryable
        assert not process_alive(agent_pid) and not process_alive(export_pid)
    finally:
        await farm.close()


@pytest.mark.slow
def test_an_embedded_postgres_left_by_a_killed_serve_is_reused_then_stopped(tmp_path: Path, embedded_data_dir: Path):
    data_dir = embedded_data_dir
    pgdata = data_dir / "pgdata"
    env = command_env(data_dir=str(data_dir), log_level="INFO")
    try:
        killed = ServiceProcess(env, tmp_path / "serve-1.log").wait_ready()
        assert "starting embedded PostgreSQL" in killed.log()
        killed.kill()  # SIGKILL: no chance to stop the database
        assert postmaster_running(pgdata)

        again = ServiceProcess(env, tmp_path / "serve-2.log").wait_ready()
        assert "a killed capcut-mate" in again.log() and "starting embedded PostgreSQL" not in again.log()
        joined = run_command("agents", "list", env=env)  # a command beside a running serve
        assert joined.returncode == 0, joined.stderr
        assert "joining the embedded PostgreSQL already running" in joined.stderr
        assert "starting embedded PostgreSQL" not in joined.stderr
        assert postmaster_running(pgdata)  # the command left; the service still holds it
        assert again.stop() == 0, again.log()
        assert not postmaster_running(pgdata), "the last holder stops the server, the killed one forgotten"
    finally:
        stop_postmaster(pgdata)


@pytest.mark.slow
async def test_local_agents_of_a_killed_serve_stop_and_their_job_is_taken_again(tmp_path: Path, database_url, store):
    farm = Farm(tmp_path, database_url, store)
    try:
        killed, job_id, agent_pid, export_pid = await _serve_running_one_job(farm, "hang-killed-serve")

        killed.kill()  # SIGKILL: the service cannot stop its agents
        deadline = time.monotonic() + 30
        while process_alive(agent_pid) or process_alive(export_pid):
            assert time.monotonic() < deadline, "the killed service's agent (or its export) is still running"
            await asyncio.sleep(0.1)
        job = await store.get_job(job_id)
        assert job.status == "processing"  # nobody could hand it back: its lease runs out
        await store.expire_lease_now(job.id, job.attempt, await store_agent(store, job.agent))
        await store.expire_leases()
        job = await store.get_job(job_id)
        assert (job.status, job.attempt) == ("pending", 1)  # retryable, for the next service's agents
    finally:
        await farm.close()


async def _serve_running_one_job(farm: Farm, draft_id: str) -> tuple[ServiceProcess, int, int, int]:
    """`serve --local-agents 1` whose agent is running a job that hangs: the service, the
    job's id, the agent's pid and the export's pid."""
    env = {**command_env(database_url=farm.database_url, data_dir=str(farm.tmp_path / "data")),
           "FAKE_EXPORT_PID_DIR": str(farm.pid_dir)}
    service = ServiceProcess(env, farm.tmp_path / "serve.log", "--local-agents", "1", "--command", EXPORT_COMMAND)
    farm.services.append(service)
    service.wait_ready()
    url = f"https://drafts.example.com/openapi/capcut-mate/v1/get_draft?draft_id={draft_id}"
    job_id = (await farm.submit(service, url))["job_id"]
    await farm.wait_for(service, url, lambda body: body["status"] == "processing")
    (agent_pid,) = _children(service.process.pid)
    return service, job_id, agent_pid, await _export_pid(farm, job_id)


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return [int(child) for child in listing.read().split()]


async def _export_pid(farm: Farm, job_id: int) -> int:
    for _ in range(200):
        if pid := farm.export_pid(job_id, 1):
            return pid
        await asyncio.sleep(0.05)
    raise AssertionError("the export process never started")



async def test_the_root_points_to_the_dashboard_the_docs_and_the_sample(client):
    response = await client.get("/")
    assert response.status == 200 and response.content_type == "text/html"
    page = await response.text()
    for link in ('href="/dashboard"', 'href="/docs"', 'href="/openapi.json"'):
        assert link in page
    origin = f"http://{client.server.host}:{client.server.port}"
    assert f'"draft_url": "{origin}/samples/get_draft?draft_id=demo"' in page


async def test_a_cancelled_pending_job_is_no_longer_waiting(client):
    draft = {"draft_url": "https://drafts.example.com/get_draft?draft_id=cancel-while-pending"}
    assert (await client.post("/v1/gen_video", json=draft)).status == 200
    assert (await client.post("/v1/cancel_video", json=draft)).status == 200
    status = await (await client.post("/v1/gen_video_status", json=draft)).json()
    assert (status["status"], status["stage"], status["error_message"]) == ("failed", "已取消", "任务已取消")


def test_an_agent_says_briefly_why_it_cannot_reach_the_service_and_leaves_no_temp_folder(tmp_path: Path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    port = free_port()  # nobody listens there
    env = {**command_env(log_level="INFO"), "CAPCUT_MATE_AGENT_TOKEN": "cmat_x_y", "TMPDIR": str(temp)}
    agent = AgentProcess("unreachable", [sys.executable, "-m", "capcut_mate", "agent", "--server",
                                         f"http://127.0.0.1:{port}", "--command", "true"], env,
                         tmp_path / "agent.log")
    try:
        deadline = time.monotonic() + 30
        while "retrying in" not in agent.log():
            assert time.monotonic() < deadline and agent.process.poll() is None, agent.log()
            time.sleep(0.05)
        assert [p.name for p in temp.iterdir()][0].startswith("capcut-mate-agent-")  # its work folder, meanwhile
        agent.signal(signal.SIGTERM)
        assert agent.wait(30) == 0, agent.log()
        log = agent.log()
    finally:
        agent.kill()
    warning = next(line for line in log.splitlines() if "retrying in" in line)
    assert f"cannot connect to 127.0.0.1:{port} (Connection refused)" in warning
    assert "ClientConnectorError" not in log and "ConnectionKey" not in log
    assert list(temp.iterdir()) == [], "the agent's temporary work folder goes with it"


ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_quick_start_submits_the_sample_draft_that_a_local_agent_can_render():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "--local-agents 1" in quick_start
    first_curl = readme.index("curl -s")
    drafts = re.findall(r'"draft_url": "([^"]+)"', readme[first_curl:first_curl + 400])
    assert drafts and all(url == "http://127.0.0.1:8000/samples/get_draft?draft_id=demo" for url in drafts)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_document_the_docs_name_is_in_the_repository(document: Path):
    named = re.findall(r"`((?:\.\./)*[\w.-]+(?:/[\w.-]+)*\.md)`|\]\(((?:\.\./)*[\w./-]+\.md)\)",
                       document.read_text(encoding="utf-8"))
    missing = [path for pair in named for path in pair
               if path and not (document.parent / path).exists() and not (ROOT / path).exists()]
    assert not missing, f"{document.name} names documents a clone does not have: {missing}"


def test_every_setting_is_in_the_readmes_settings_table():
    from capcut_mate.settings import Settings

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `CAPCUT_MATE_(\w+)` \|", table, flags=re.MULTILINE))
    assert {name.upper() for name in Settings.model_fields} == listed
