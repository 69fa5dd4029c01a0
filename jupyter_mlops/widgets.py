"""``RunBrowser``: a filterable, sortable table of runs with a comparison chart below it.

The chart is an ``ipywidgets.Output`` holding the ``application/vnd.plotly.v1+json`` bundle of
:func:`jupyter_mlops.charts.compare_runs`, so JupyterLab draws it with the renderer inside the
plotly wheel and the notebook keeps a plain plotly output, not megabytes of widget state.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import ipywidgets as widgets
from traitlets import Bool, Float, Int, List, TraitError, Unicode, observe, validate

from . import charts
from .entities import RUN_STATUSES
from .errors import MLOpsError
from .store import Store, open_store
from .store.listing import run_rows

SORTS = ("started_at", "duration_s", "name")  # the menu's choices besides metrics.<key>
METRIC_SORT = re.compile(r"^metrics\..+$")
SHOWN_METRICS = 3
STYLE = (
    "<style>.jupyter-mlops-runs select, .jupyter-mlops-header {"
    " font-family: var(--jp-code-font-family, monospace); font-size: 12px; }</style>"
)


def _cell(text: str, width: int, right: bool = False) -> str:
    text = text if len(text) <= width else text[: width - 1] + "…"
    # <option> text collapses runs of spaces: pad with no-break spaces so columns line up.
    return (text.rjust(width) if right else text.ljust(width)).replace(" ", "\u00a0")


def _row_label(row: tuple[Any, ...], metric_keys: list[str]) -> str:
    run_id, _, name, status, started_at, duration_s, _, metrics_json, *_ = row
    metrics = json.loads(metrics_json or "{}")
    started = dt.datetime.fromtimestamp(started_at).strftime("%Y-%m-%d %H:%M:%S")
    took = "" if duration_s is None else f"{duration_s:.3g} s"
    cells = [_cell(name, 24), _cell(status, 11), started, _cell(took, 9, right=True)]
    cells += [_cell("" if k not in metrics else f"{metrics[k]:.4g}", 12, right=True)
              for k in metric_keys]
    return "\u00a0\u00a0".join([*cells, run_id[:10]])


def _header(metric_keys: list[str]) -> str:
    cells = [_cell("name", 24), _cell("status", 11), _cell("started", 19),
             _cell("duration", 9, right=True)]
    cells += [_cell(k, 12, right=True) for k in metric_keys]
    return "\u00a0\u00a0".join([*cells, "run"])


class RunBrowser(widgets.VBox):
    """Browse the runs of a store; selecting runs draws their comparison chart below.

    Parameters
    ----------
    experiment : show only this experiment's runs (``None``: all).
    store : the store to read; by default the one :func:`~jupyter_mlops.open_store` finds.
    status, filter_text, sort, descending, limit, auto_refresh, interval : initial values
        of the traits below.

    Attributes
    ----------
    filter_text : a case-insensitive substring of the run name, status, parameters (as
        JSON, e.g. ``"C": 0.3``) or the start of the run id.
    sort : ``started_at``, ``duration_s``, ``name`` or ``metrics.<key>``; ``descending``.
    limit : the most rows the table shows.
    run_ids : the runs in the table, in order (read-only).
    selected_run_ids : the selected runs (ids, unique prefixes or names are accepted;
        they must be in the table).
    auto_refresh, interval : poll the store every ``interval`` seconds and reload the
        table when a run was added or changed (one cheap ``max(updated_at), count(*)``).
    filter_box, experiment_menu, status_menu, sort_menu, descending_box, refresh_button :
        the controls, each bound to the trait of the same meaning.
    table : the runs, one row each (``ipywidgets.SelectMultiple``: keyboard accessible).
    message : counts, hints and errors, under the table.
    chart : the ``ipywidgets.Output`` holding the comparison of the selected runs.
    """

    experiment = Unicode(None, allow_none=True).tag(sync=True)
    status = Unicode(None, allow_none=True).tag(sync=True)
    filter_text = Unicode("").tag(sync=True)
    sort = Unicode("started_at").tag(sync=True)
    descending = Bool(True).tag(sync=True)
    limit = Int(500).tag(sync=True)
    run_ids = List(Unicode(), read_only=True).tag(sync=True)
    selected_run_ids = List(Unicode()).tag(sync=True)
    auto_refresh = Bool(False).tag(sync=True)
    interval = Float(2.0).tag(sync=True)

    def __init__(
        self, experiment: str | None = None, store: Store | None = None, *,
        status: str | None = None, filter_text: str = "", sort: str = "started_at",
        descending: bool = True, limit: int = 500, auto_refresh: bool = False,
        interval: float = 2.0, **kwargs: Any,
    ) -> None:
        self._owns_store = store is None
        self.store = store if store is not None else open_store()
        self._lock = threading.RLock()
        self._quiet_depth = 0
        self._seen: tuple[Any, ...] | None = None
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self.filter_box = widgets.Text(description="filter", placeholder="name, status or param",
                                    continuous_update=False)
        self.experiment_menu = widgets.Dropdown(description="experiment")
        self.status_menu = widgets.Dropdown(
            description="status", options=[("any", ""), *[(s, s) for s in RUN_STATUSES]])
        self.sort_menu = widgets.Dropdown(description="sort by")
        self.descending_box = widgets.Checkbox(description="descending", indent=False)
        self.refresh_button = widgets.Button(description="refresh", icon="refresh",
                                      tooltip="reload the runs from the store")
        self.header = widgets.HTML()
        self.table = widgets.SelectMultiple(rows=12, layout=widgets.Layout(width="100%"))
        self.table.add_class("jupyter-mlops-runs")
        self.message = widgets.HTML()
        self.chart = widgets.Output()
        super().__init__(children=[
            widgets.HBox([self.filter_box, self.experiment_menu, self.status_menu],
                         layout=widgets.Layout(flex_flow="row wrap")),
            widgets.HBox([self.sort_menu, self.descending_box, self.refresh_button],
                         layout=widgets.Layout(flex_flow="row wrap")),
            self.header, self.table, self.message, self.chart,
        ], **kwargs)
        try:
            with self._quiet():
                self.experiment, self.status, self.filter_text = experiment, status, filter_text
                self.sort, self.descending, self.limit = sort, descending, limit
                self.interval = interval
        except TraitError:
            self.close()
            raise
        self.filter_box.observe(self._control_changed, "value")
        self.experiment_menu.observe(self._control_changed, "value")
        self.status_menu.observe(self._control_changed, "value")
        self.sort_menu.observe(self._control_changed, "value")
        self.descending_box.observe(self._control_changed, "value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.table.observe(self._table_changed, "value")
        self.refresh()
        self.auto_refresh = auto_refresh

    # -- validation ------------------------------------------------------------------------
    @validate("experiment")
    def _valid_experiment(self, proposal: Any) -> str | None:
        return proposal.value or None

    @validate("status")
    def _valid_status(self, proposal: Any) -> str | None:
        status = proposal.value or None
        if status is not None and status not in RUN_STATUSES:
            raise TraitError(f"unknown status {status!r}: use one of "
                             f"{', '.join(RUN_STATUSES)}, or None for any")
        return status

    @validate("sort")
    def _valid_sort(self, proposal: Any) -> str:
        if proposal.value not in SORTS and not METRIC_SORT.match(proposal.value):
            raise TraitError(f"cannot sort runs by {proposal.value!r}: use one of "
                             f"{', '.join(SORTS)} or 'metrics.<key>'")
        return proposal.value  # type: ignore[no-any-return]

    @validate("limit")
    def _valid_limit(self, proposal: Any) -> int:
        if proposal.value < 1:
            raise TraitError(f"limit must be at least 1, not {proposal.value}")
        return proposal.value  # type: ignore[no-any-return]

    @validate("interval")
    def _valid_interval(self, proposal: Any) -> float:
        if not proposal.value > 0:
            raise TraitError(f"interval is in seconds and must be positive, not "
                             f"{proposal.value}")
        return proposal.value  # type: ignore[no-any-return]

    @validate("selected_run_ids")
    def _valid_selection(self, proposal: Any) -> list[str]:
        shown = set(self.run_ids)
        selected: list[str] = []
        for ref in proposal.value:
            run_id = ref
            if run_id not in shown:
                with self._lock:
                    try:
                        run_id = self.store.resolve_run_id(ref)
                    except MLOpsError as exc:
                        raise TraitError(str(exc)) from None
            if run_id not in shown:
                raise TraitError(f"run {run_id} is not in the table (filtered out, or past the "
                                 f"first {self.limit} rows): clear the filters or raise limit")
            if run_id not in selected:
                selected.append(run_id)
        return selected

    # -- reacting to changes ---------------------------------------------------------------
    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """Change traits and controls without the observers below reacting."""
        self._quiet_depth += 1
        try:
            yield
        finally:
            self._quiet_depth -= 1

    def _control_changed(self, change: dict[str, Any]) -> None:
        if self._quiet_depth:
            return
        self.experiment = self.experiment_menu.value or None
        self.status = self.status_menu.value or None
        self.filter_text = self.filter_box.value
        self.sort = self.sort_menu.value
        self.descending = self.descending_box.value

    @observe("experiment", "status", "filter_text", "sort", "descending", "limit")
    def _query_changed(self, change: dict[str, Any]) -> None:
        if not self._quiet_depth:
            self.refresh()

    def _table_changed(self, change: dict[str, Any]) -> None:
        if not self._quiet_depth:
            self.selected_run_ids = list(change["new"])

    @observe("selected_run_ids")
    def _selection_changed(self, change: dict[str, Any]) -> None:
        if self._quiet_depth:
            return
        with self._quiet():
            self.table.value = tuple(change["new"])
        self._draw()

    @observe("auto_refresh", "interval")
    def _polling_changed(self, change: dict[str, Any]) -> None:
        self._stop_polling()
        if self.auto_refresh:
            stop = threading.Event()
            self._stop = stop
            self._thread = threading.Thread(target=self._poll, args=(stop,), daemon=True,
                                            name="jupyter-mlops RunBrowser refresh")
            self._thread.start()

    # -- loading and drawing ---------------------------------------------------------------
    def _version(self) -> tuple[Any, ...]:
        row = self.store.conn.execute("SELECT max(updated_at), count(*) FROM runs").fetchone()
        return tuple(row)

    def refresh(self) -> None:
        """Reload the runs (and the chart of the selected ones) from the store."""
        with self._lock:
            self._seen = self._version()
            rows = run_rows(self.store.conn, experiment=self.experiment, status=self.status,
                            search=self.filter_text.strip() or None, sort=self.sort,
                            descending=self.descending, limit=self.limit)
            experiments = self.store.experiments()
            if self.experiment is not None and self.experiment not in experiments:
                experiments.append(self.experiment)  # shown now, filled when its runs land
            sorts = [*SORTS, *(f"metrics.{key}" for (key,) in self.store.conn.execute(
                "SELECT DISTINCT key FROM latest_metrics ORDER BY key"))]
            if self.sort not in sorts:
                sorts.append(self.sort)
            metric_keys = self._metric_columns(rows)
            ids = [row[0] for row in rows]
            keep = [run_id for run_id in self.selected_run_ids if run_id in set(ids)]
            with self._quiet():
                self.experiment_menu.options = [("all", ""), *[(n, n) for n in experiments]]
                self.experiment_menu.value = self.experiment or ""
                self.status_menu.value = self.status or ""
                self.sort_menu.options = sorts
                self.sort_menu.value = self.sort
                self.descending_box.value = self.descending
                self.filter_box.value = self.filter_text
                self.header.value = (f'{STYLE}<div class="jupyter-mlops-header" style="white-'
                                     f'space: pre">{html.escape(_header(metric_keys))}</div>')
                self.table.options = [(_row_label(row, metric_keys), row[0]) for row in rows]
                self.set_trait("run_ids", ids)
                self.selected_run_ids = keep
                self.table.value = tuple(keep)
            self._draw()

    def _metric_columns(self, rows: list[tuple[Any, ...]]) -> list[str]:
        """The metrics the table shows: the sort metric, then those most rows have."""
        counts: dict[str, int] = {}
        for row in rows:
            for key in json.loads(row[7] or "{}"):
                counts[key] = counts.get(key, 0) + 1
        keys = [self.sort.removeprefix("metrics.")] if METRIC_SORT.match(self.sort) else []
        keys += sorted(counts, key=lambda k: (-counts[k], k))
        return list(dict.fromkeys(keys))[:SHOWN_METRICS]

    def check_for_updates(self) -> bool:
        """Refresh when runs were added or changed since the last load; whether it did.

        One ``SELECT max(updated_at), count(*) FROM runs`` (indexed) when nothing changed.
        """
        with self._lock:
            if self._version() == self._seen:
                return False
            self.refresh()
            return True

    def _draw(self) -> None:
        ids = list(self.selected_run_ids)
        count = f"{len(self.run_ids)} run{'s' * (len(self.run_ids) != 1)}"
        if not ids:
            self.chart.outputs = ()
            self._say(f"{count}. Select runs (shift- or ctrl-click, or the arrow keys with "
                      "shift) to compare their metrics.")
            return
        try:
            with self._lock:
                figure = charts.compare_runs(self.store, ids)
        except (MLOpsError, ValueError) as exc:
            self.chart.outputs = ()
            self._say(f"{count}, {len(ids)} selected: {exc}")
            return
        bundle = {"application/vnd.plotly.v1+json": json.loads(figure.to_json()),
                  "text/plain": f"<comparison of {len(ids)} runs>"}
        self.chart.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)
        self._say(f"{count}, {len(ids)} selected.")

    def _say(self, text: str) -> None:
        self.message.value = f"<span>{html.escape(text)}</span>"

    # -- polling ---------------------------------------------------------------------------
    def _poll(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            try:
                self.check_for_updates()
            except Exception as exc:  # e.g. the store was closed: stop, and say why
                self._say(f"auto-refresh stopped: {exc}")
                self.auto_refresh = False
                return

    def _stop_polling(self) -> None:
        if self._stop is not None:
            self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        self._stop = self._thread = None

    def close(self) -> None:
        """Stop polling, close the widget and (when it opened it) the store."""
        self.auto_refresh = False
        super().close()
        if self._owns_store:
            self.store.close()

    def __repr__(self) -> str:
        return (f"RunBrowser(experiment={self.experiment!r}, {len(self.run_ids)} runs shown, "
                f"{len(self.selected_run_ids)} selected, store={str(self.store.directory)!r})")


__all__ = ["RunBrowser"]
