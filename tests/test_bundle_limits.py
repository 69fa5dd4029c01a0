"""The bundle's HTTP server at its door: size, depth and number limits, over real HTTP."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import stop
from test_bundle import bundle, churn  # noqa: F401  (the fixtures of the bundle tests)

from jupyter_mlops.bundle.serve import MAX_BODY_BYTES, MAX_JSON_DEPTH, json_depth
from jupyter_mlops.bundle.verify import free_port, wait_until_healthy

ROW = '{"age": 30, "income": 60000.0, "city": "paris"}'


@pytest.fixture
def served(bundle: Path) -> Iterator[tuple[str, int]]:  # noqa: F811
    """(host:port, pid) of the bundle's serve.py, running as its own process."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(bundle / "serve.py"), "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process, 60)
        yield f"127.0.0.1:{port}", process.pid
    finally:
        stop(process, timeout=10)


def post(address: str, body: bytes, content_type: str = "application/json") -> tuple[int, str]:
    connection = http.client.HTTPConnection(address, timeout=60)
    connection.request("POST", "/invocations", body, {"Content-Type": content_type})
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    return response.status, answer.get("error", answer)


def peak_rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])


UNSCORABLE = [  # (body, status, message): each once against one running server
    ('{"dataframe_records": [{"age": 30, "income": Infinity, "city": "paris"}]}', 422,
     "Infinity cannot be scored"),
    ('{"dataframe_records": [{"age": 30, "income": -Infinity, "city": "paris"}]}', 422,
     "-Infinity cannot be scored"),
    ('{"dataframe_records": [{"age": 30, "income": NaN, "city": "paris"}]}', 422,
     "column 'income', row 0: must not be missing"),  # NaN is missing, as null is
    ('{"dataframe_records": [{"age": 30, "income": 1e400, "city": "paris"}]}', 422,
     "column(s) income hold a number beyond the range of a 64-bit float"),
    ('{"instances": [[30, -1e999, "paris"]]}', 422, "beyond the range of a 64-bit float"),
    ('{"dataframe_records": [{"age": ' + "9" * 4000 + ', "income": 1.0, "city": "paris"}]}',
     400, "column 'age': an integer of 4000 digits does not fit in 64 bits"),
    ('{"dataframe_records": [{"age": ' + "9" * 5000 + ', "income": 1.0, "city": "paris"}]}',
     400, "an integer of more than 4300 digits"),
    ("[" * 100_000 + "]" * 100_000, 400, "nested 100000 or more levels deep"),
    ('{"x": ' + "[" * 40 + "]" * 40 + "}", 400, f"at most {MAX_JSON_DEPTH} are read"),
    ('{"dataframe_split": {"columns": ["age", "income", "city"], "data": []}}', 422,
     "no rows to score"),
    ('{"inputs": {"age": [], "income": [], "city": []}}', 422, "no rows to score"),
    ('{"dataframe_records": []}', 422, "no rows to score"),
    ("[]", 422, "no rows to score"),
]


def test_unscorable_input_is_a_4xx_and_the_server_lives(served: tuple[str, int]) -> None:
    address, _ = served
    wrong = {}
    for body, status, message in UNSCORABLE:
        code, error = post(address, body.encode())
        if code != status or message not in error:
            wrong[body[:80]] = (code, error)
        assert post(address, f'{{"dataframe_records": [{ROW}]}}'.encode())[0] == 200
    code, error = post(address, b"age,income,city\n30,inf,paris\n", "text/csv")
    if code != 422 or "income hold a number beyond the range" not in error:
        wrong["csv inf"] = (code, error)
    assert not wrong


def test_a_chunked_body_is_cut_at_the_limit_in_bounded_memory(served: tuple[str, int]) -> None:
    """Given a 200 MB body sent chunked (no Content-Length), the server answers 413 and its
    peak memory grows by far less than the body."""
    address, pid = served
    before = peak_rss_kb(pid)
    connection = http.client.HTTPConnection(address, timeout=120)
    connection.putrequest("POST", "/invocations")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.putheader("Content-Type", "application/json")
    connection.endheaders()
    chunk = b"[" + b"1," * (512 * 1024)  # 1 MB
    try:
        for _ in range(200):
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        connection.send(b"0\r\n\r\n")
    except OSError:  # the server may stop reading once it has answered
        pass
    response = connection.getresponse()
    assert response.status == 413 and "larger than" in json.loads(response.read())["error"]
    connection.close()
    grown_mb = (peak_rss_kb(pid) - before) / 1024
    assert grown_mb < 3 * MAX_BODY_BYTES / 2**20, f"peak RSS grew by {grown_mb:.0f} MB"
    assert post(address, f"[{ROW}]".encode())[0] == 200


def test_a_body_just_under_the_limit_is_still_read(served: tuple[str, int]) -> None:
    rows = ",".join([ROW] * ((MAX_BODY_BYTES - 100) // (len(ROW) + 1)))
    code, error = post(served[0], f"[{rows}]".encode())
    assert code == 413 and "at most 100000 rows" in error  # read whole, then the row limit


@pytest.mark.parametrize("text, depth", [
    (b"", 0), (b"1", 0), (b"[]", 1), (b'{"a": [[1]]}', 3),
    (b'{"a": "[[[[", "b": [1]}', 2),  # brackets in strings do not count
    (b'["\\"[[", [[]]]', 3), (b'["\\\\", [[]]]', 3),  # nor do escaped quotes
])
def test_json_depth(text: bytes, depth: int) -> None:
    assert json_depth(text, block=4) == depth
