"""The local Lambda runtime: the Runtime API over real HTTP, and execution environments that are real
awslambdaric processes (cold start, warm reuse, Lambda context, errors, the kill at the timeout, at most
N environments, init errors, a kill asked for from outside).

Each environment costs a process start (~0.5-1 s): the tests share warm environments where they can.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from local.lambda_runtime.lambda_environment import EnvironmentPool, FunctionSpec, InvokeResult
from local.lambda_runtime.runtime_api import Invocation, RuntimeApi

PROBE = "tests.fixtures.runtime_functions.probe.handler"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:probe-fn"


def _spec(timeout: float = 5.0, handler: str = PROBE) -> FunctionSpec:
    return FunctionSpec(
        environment={
            "MY_SETTING": "from-template",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
        },
        function_name="probe-fn",
        function_arn=ARN,
        memory_mb=256,
        timeout_seconds=timeout,
        handler=handler,
    )


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.fixture(scope="module")
def pool() -> Iterator[EnvironmentPool]:
    lines: list[str] = []
    with EnvironmentPool(_spec(), max_environments=2, log_sink=lines.append) as p:
        yield p


# --- the Runtime API, no process ------------------------------------------------------------------


def _http(
    api: RuntimeApi, method: str, path: str, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Lambda-Runtime-Function-Error-Type": "Unhandled"})
        response = conn.getresponse()
        return response.status, dict(response.headers), response.read()
    finally:
        conn.close()


def test_runtime_api_speaks_the_documented_protocol() -> None:
    api = RuntimeApi().start()
    try:
        api.submit(Invocation("req-1", b'{"a": 1}', 1_900_000_000_000, ARN, "Root=1-x"))
        status, headers, body = _http(api, "GET", "/2018-06-01/runtime/invocation/next")
        assert (status, json.loads(body)) == (200, {"a": 1})
        assert headers["Lambda-Runtime-Aws-Request-Id"] == "req-1"
        assert headers["Lambda-Runtime-Deadline-Ms"] == "1900000000000"
        assert headers["Lambda-Runtime-Invoked-Function-Arn"] == ARN
        # an answer for another request id is refused; the right one is accepted
        assert _http(api, "POST", "/2018-06-01/runtime/invocation/other/response", b"{}")[0] == 400
        assert _http(api, "POST", "/2018-06-01/runtime/invocation/req-1/response", b'{"ok": true}')[0] == 202
        outcome = api.wait("req-1", timeout=5)
        assert outcome is not None and (outcome.kind, json.loads(outcome.body)) == ("response", {"ok": True})

        api.submit(Invocation("req-2", b"{}", 1_900_000_000_000, ARN, "Root=1-y"))
        assert _http(api, "GET", "/2018-06-01/runtime/invocation/next")[0] == 200
        error = b'{"errorMessage": "boom", "errorType": "ValueError"}'
        assert _http(api, "POST", "/2018-06-01/runtime/invocation/req-2/error", error)[0] == 202
        outcome = api.wait("req-2", timeout=5)
        assert outcome is not None and (outcome.kind, outcome.error_type) == ("error", "Unhandled")

        assert _http(api, "POST", "/2018-06-01/runtime/init/error", b'{"errorType": "X"}')[0] == 202
        assert _http(api, "GET", "/2018-06-01/runtime/unknown")[0] == 404
    finally:
        api.close()


# --- real environments -----------------------------------------------------------------------------


def test_cold_start_then_warm_reuse_with_the_lambda_context_and_only_the_functions_environment(
    pool: EnvironmentPool,
) -> None:
    names = ["MY_SETTING", "PYTEST_CURRENT_TEST", "_HANDLER", "AWS_LAMBDA_RUNTIME_API", "AWS_ACCESS_KEY_ID"]
    first = pool.invoke({"env": names, "echo": "one"})
    second = pool.invoke({"env": names, "echo": "two"})
    assert (first.kind, second.kind) == ("response", "response"), (first, second)
    assert first.cold and not second.cold
    a, b = first.payload, second.payload
    assert a["pid"] == b["pid"] != os.getpid() and a["started"] == b["started"]  # the same process, reused
    assert (a["invocations"], b["invocations"]) == (1, 2)
    assert a["pgid"] == a["pid"]  # its own process group: a kill takes everything it started
    assert a["request_id"] != b["request_id"]
    assert (a["arn"], a["function_name"], a["memory"], b["echo"]) == (ARN, "probe-fn", "256", "two")
    assert 0 < a["remaining_ms"] <= 5000  # the deadline header reached the context
    env = a["env"]
    assert env["MY_SETTING"] == "from-template" and env["_HANDLER"] == PROBE
    assert env["PYTEST_CURRENT_TEST"] is None  # the driver's own environment does not leak in
    assert env["AWS_ACCESS_KEY_ID"].startswith("LOCALENV")
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")


def test_a_raised_error_is_reported_and_the_environment_stays_warm(pool: EnvironmentPool) -> None:
    before = pool.invoke({})
    failed = pool.invoke({"raise": "no such trade"})
    after = pool.invoke({})
    assert failed.kind == "error" and "ValueError" in failed.detail and "no such trade" in failed.detail
    assert before.payload["pid"] == after.payload["pid"]


def test_at_most_max_environments_run_at_once(pool: EnvironmentPool) -> None:
    results: list[InvokeResult] = []
    barrier = threading.Barrier(5)

    def call() -> None:
        barrier.wait()
        results.append(pool.invoke({"sleep": 0.3}))

    threads = [threading.Thread(target=call) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [r.kind for r in results] == ["response"] * 5
    assert len({r.payload["pid"] for r in results}) <= 2
    assert pool.stats().peak_environments <= 2


def test_the_timeout_kills_the_whole_process_group_and_the_next_invocation_starts_fresh() -> None:
    with EnvironmentPool(_spec(timeout=1.5), max_environments=1, log_sink=lambda _line: None) as pool:
        warm = pool.invoke({})
        pid = warm.payload["pid"]
        late = pool.invoke({"sleep": 60})
        assert late.kind == "timeout" and "timed out after 1.50 seconds" in late.detail
        assert 1.5 <= late.duration < 30
        assert _gone(pid)
        with pytest.raises(ProcessLookupError):
            os.killpg(warm.payload["pgid"], 0)
        fresh = pool.invoke({})
        assert fresh.kind == "response" and fresh.cold and fresh.payload["pid"] != pid
        crashed = pool.invoke({"exit": 3})  # the function's process dies on its own
        assert crashed.kind == "crash" and "exited with 3" in crashed.detail
        assert pool.invoke({}).cold
        assert pool.stats().kills["timeout"] == 1


def test_a_kill_asked_through_the_runtime_api_ends_the_invocation_as_a_crash(pool: EnvironmentPool) -> None:
    outcome: list[InvokeResult] = []
    caller = threading.Thread(target=lambda: outcome.append(pool.invoke({"sleep": 60})))
    caller.start()
    busy = []
    for _ in range(600):  # until the invocation is in an environment (no timing assumption)
        busy = [e for e in pool.environments() if e.current_event is not None]
        if busy:
            break
        threading.Event().wait(0.05)
    assert busy
    conn = http.client.HTTPConnection("127.0.0.1", busy[0].api.port, timeout=30)
    conn.request("POST", "/__local/kill", body=b'{"reason": "chaos: test"}')
    assert conn.getresponse().status == 200
    caller.join(timeout=30)
    assert outcome and outcome[0].kind == "crash" and outcome[0].detail == "chaos: test"
    assert _gone(busy[0].pid or 0)


def test_a_held_invocation_refuses_injected_kills_and_ends_at_its_timeout() -> None:
    """The chaos run's timeout fault: a stalled store write holds the environment, and a crash planned
    for another record of the batch must not end it first (else no timeout kill ever happens)."""
    with EnvironmentPool(_spec(timeout=3.0), max_environments=1, log_sink=lambda _line: None) as pool:
        outcome: list[InvokeResult] = []
        caller = threading.Thread(target=lambda: outcome.append(pool.invoke({"sleep": 60, "n": 1})))
        caller.start()
        busy = []
        for _ in range(600):  # until the invocation is in an environment (no timing assumption)
            busy = [e for e in pool.environments() if e.current_event is not None]
            if busy and busy[0].api.delivered_at() is not None:
                break
            threading.Event().wait(0.05)
        assert busy
        conn = http.client.HTTPConnection("127.0.0.1", busy[0].api.port, timeout=30)
        conn.request("POST", "/__local/hold", body=b"{}")
        assert conn.getresponse().read() == b'{"status":"held"}'
        conn.request("POST", "/__local/kill", body=b'{"reason": "chaos: test"}')
        assert conn.getresponse().read() == b'{"status":"held"}'  # refused
        assert pool.kill_where(lambda event: True, "chaos: tap") == 0
        caller.join(timeout=60)
        assert outcome and outcome[0].kind == "timeout", outcome
        assert pool.stats().kills == {"timeout": 1}
        # the next invocation (a new environment) is not held: a kill ends it as a crash
        caller = threading.Thread(target=lambda: outcome.append(pool.invoke({"sleep": 60, "n": 2})))
        caller.start()
        for _ in range(600):
            busy = [e for e in pool.environments() if e.current_event is not None]
            if busy:
                break
            threading.Event().wait(0.05)
        assert pool.kill_where(lambda event: event.get("n") == 2, "chaos: tap") == 1
        caller.join(timeout=60)
        assert outcome[1].kind == "crash" and outcome[1].detail == "chaos: tap"


def test_an_init_error_is_reported_and_the_environment_is_gone() -> None:
    spec = _spec(handler="tests.fixtures.runtime_functions.broken_init.handler")
    with EnvironmentPool(spec, max_environments=1, log_sink=lambda _line: None) as pool:
        result = pool.invoke({})
        assert result.kind == "init_error" and "init failed on purpose" in result.detail
        assert not [e for e in pool.environments() if e.alive]


def test_sigkill_of_the_driver_takes_its_environments_along(tmp_path: Path) -> None:
    """An environment outliving a killed driver would keep polling nothing and hold resources."""
    script = tmp_path / "driver.py"
    script.write_text(
        "import sys\n"
        "from local.lambda_runtime.lambda_environment import EnvironmentPool, FunctionSpec\n"
        f"spec = FunctionSpec({{}}, 'probe-fn', {ARN!r}, 128, 5.0, handler={PROBE!r})\n"
        "pool = EnvironmentPool(spec, 1, log_sink=lambda _l: None)\n"
        "print(pool.invoke({}).payload['pid'], flush=True)\n"
        "sys.stdin.read()\n"
    )
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), str(repo / "src")])}
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=repo
    )
    assert proc.stdout is not None
    pid = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    for _ in range(200):
        if _gone(pid):
            break
        threading.Event().wait(0.05)
    assert _gone(pid)
