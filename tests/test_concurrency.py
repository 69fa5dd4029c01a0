"""Several processes writing one store at once lose nothing and never see "locked"."""

from __future__ import annotations

from pathlib import Path

from conftest import run_workers

from jupyter_mlops import open_store

PROCESSES = 4
RUNS_EACH = 250

WRITER = f"""
import sys, time
from jupyter_mlops import open_store
from jupyter_mlops.entities import Entity
from jupyter_mlops.store import RunResult
directory, worker = sys.argv[1], int(sys.argv[2])
if worker < 0:  # the reader: list runs while the others write
    store, reads, deadline = open_store(directory), 0, time.time() + 3
    while time.time() < deadline:
        store.runs(limit=50)
        reads += 1
    print(reads)
    raise SystemExit
store = open_store(directory)
for i in range({RUNS_EACH}):
    run_id = f"W{{worker}}R{{i:04d}}"
    store.start_run(run_id, name=f"w{{worker}}", experiment=f"exp{{worker % 2}}",
                    source="fit()", source_hash="h", started_at=time.time())
    store.log_metrics(run_id, [("loss", 1 / (s + 1), s, time.time()) for s in range(3)])
    store.finish_run(run_id, RunResult(
        status="finished", ended_at=time.time(),
        params={{f"p{{k}}": k * i for k in range(5)}},
        metrics=[("acc", i / {RUNS_EACH}, 0, time.time())],
        inputs=[Entity("dataset", "X", f"data:{{i}}")],
        outputs=[Entity("dataset", "Y", f"data:{{worker}}-{{i}}")],
    ))
print({RUNS_EACH})
"""


def test_four_processes_times_250_runs(tmp_path: Path) -> None:
    directory = str(tmp_path / "shared")
    open_store(directory).close()
    outputs = run_workers(WRITER, [[directory, str(w)] for w in (-1, *range(PROCESSES))])
    assert int(outputs[0]) > 0
    assert [int(out) for out in outputs[1:]] == [RUNS_EACH] * PROCESSES
    with open_store(directory) as store:
        conn = store.conn
        assert store.count_runs() == PROCESSES * RUNS_EACH
        assert conn.execute("SELECT count(*) FROM runs WHERE status = 'finished'").fetchone()[0] \
            == PROCESSES * RUNS_EACH
        assert conn.execute("SELECT count(*) FROM params").fetchone()[0] \
            == PROCESSES * RUNS_EACH * 5
        assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] \
            == PROCESSES * RUNS_EACH * 4
        assert conn.execute("SELECT count(*) FROM run_io").fetchone()[0] \
            == PROCESSES * RUNS_EACH * 2
        frame = store.runs()
        assert frame["params.p4"].notna().all() and frame["metrics.loss"].eq(1 / 3).all()
        for worker in range(PROCESSES):
            run = store.get_run(f"W{worker}R0123")
            assert run.params == {f"p{k}": k * 123 for k in range(5)}
