import * as React from 'react';

import { formatAgo, formatDuration, formatTime, formatValue, pageLabel } from '../format';
import { MLOpsModel } from '../model';
import { ISidebarActions, RunStatus } from '../tokens';
import { NoMatch, NoRunsYet } from './States';
import { StatusBadge, StatusSymbol } from './StatusBadge';
import { useModel } from './useModel';
import { useRovingFocus } from './useRovingFocus';

const STATUSES: RunStatus[] = ['running', 'finished', 'failed', 'interrupted'];

/** Debounce typing in the search box. */
function useDebounced(callback: (value: string) => void, delay = 250) {
  const timer = React.useRef<ReturnType<typeof setTimeout> | null>(null);
  React.useEffect(
    () => () => {
      if (timer.current) {
        clearTimeout(timer.current);
      }
    },
    []
  );
  return (value: string) => {
    if (timer.current) {
      clearTimeout(timer.current);
    }
    timer.current = setTimeout(() => callback(value), delay);
  };
}

function SortHeader({
  model,
  column,
  label
}: {
  model: MLOpsModel;
  column: string;
  label: string;
}): JSX.Element {
  const active = model.query.sort === column;
  const ascending = model.query.order === 'asc';
  return (
    <th
      scope="col"
      className={`jp-mlops-col-${column}`}
      aria-sort={active ? (ascending ? 'ascending' : 'descending') : 'none'}
    >
      <button
        className="jp-mlops-sort"
        aria-label={`Sort by ${label}`}
        onClick={() => void model.sortBy(column)}
      >
        {label}
        <span aria-hidden="true" className="jp-mlops-sort-arrow">
          {active ? (ascending ? '▲' : '▼') : ''}
        </span>
      </button>
    </th>
  );
}

/** The selection bar: how many runs are ticked, Compare, Clear. */
function SelectionBar({
  model,
  compare
}: {
  model: MLOpsModel;
  compare?: (runIds: string[]) => void;
}): JSX.Element | null {
  const count = model.selected.length;
  if (!compare || count === 0) {
    return null;
  }
  return (
    <div className="jp-mlops-selection" role="toolbar" aria-label="Selected runs">
      <span role="status">
        {count} run{count === 1 ? '' : 's'} selected
      </span>
      <button
        className="jp-mlops-button jp-mod-accept"
        disabled={count < 2}
        title={count < 2 ? 'Select two or more runs to compare them' : undefined}
        onClick={() => compare(model.selected)}
      >
        Compare {count}
      </button>
      <button className="jp-mlops-button" onClick={() => model.clearSelection()}>
        Clear
      </button>
    </div>
  );
}

/** The runs: filters, a sortable table that updates live, pages. */
export function RunsView({
  model,
  actions
}: {
  model: MLOpsModel;
  actions?: ISidebarActions;
}): JSX.Element {
  const compare = actions?.compare?.bind(actions);
  useModel(model);
  const [search, setSearch] = React.useState(model.query.q);
  const debounced = useDebounced(q => void model.setQuery({ q }));
  React.useEffect(() => {
    // cleared from elsewhere ("Clear filters")
    if (model.query.q === '' && search !== '') {
      setSearch('');
    }
  }, [model.query.q]);
  const [row, setRow] = React.useState(0);
  const rowProps = useRovingFocus<HTMLTableRowElement>({
    count: model.runs.length,
    active: row,
    onActive: setRow,
    orientation: 'vertical',
    onOpen: index => void model.openRun(model.runs[index].run_id)
  });
  const metric = model.metricColumn;
  const metricSort = metric ? `metrics.${metric}` : '';
  const { query } = model;

  const toolbar = (
    <div className="jp-mlops-toolbar" role="search" aria-label="Filter runs">
      <select
        aria-label="Experiment"
        value={query.experiment}
        onChange={e => void model.setQuery({ experiment: e.target.value })}
      >
        <option value="">All experiments</option>
        {model.experiments.map(e => (
          <option key={e.name} value={e.name}>
            {e.name} ({e.runs})
          </option>
        ))}
      </select>
      <select
        aria-label="Status"
        value={query.status}
        onChange={e =>
          void model.setQuery({ status: e.target.value as RunStatus | '' })
        }
      >
        <option value="">Any status</option>
        {STATUSES.map(s => (
          <option key={s} value={s}>
            {s}
          </option>
        ))}
      </select>
      <input
        className="jp-mlops-search"
        type="search"
        aria-label="Search runs"
        placeholder="Search name, param or id…"
        value={search}
        onChange={e => {
          setSearch(e.target.value);
          debounced(e.target.value);
        }}
      />
    </div>
  );

  if (model.loaded && model.total === 0 && model.runs.length === 0) {
    return (
      <div className="jp-mlops-runs">
        {model.storeTotal > 0 || model.filtered ? toolbar : null}
        {model.filtered ? (
          <NoMatch onClear={() => void model.clearFilters()} />
        ) : (
          <NoRunsYet />
        )}
      </div>
    );
  }

  return (
    <div className="jp-mlops-runs">
      {toolbar}
      <SelectionBar model={model} compare={compare} />
      <div className="jp-mlops-table-wrap">
        <table className="jp-mlops-table" aria-label="Runs">
          <thead>
            <tr>
              {compare && (
                <th scope="col" className="jp-mlops-col-select">
                  <input
                    type="checkbox"
                    aria-label="Select all runs on this page"
                    title="Select all runs on this page"
                    checked={model.pageSelected}
                    onChange={() => model.togglePage()}
                  />
                </th>
              )}
              <SortHeader model={model} column="name" label="Name" />
              <SortHeader model={model} column="status" label="Status" />
              <SortHeader model={model} column="started_at" label="Started" />
              <SortHeader model={model} column="duration_s" label="Duration" />
              <th
                scope="col"
                className="jp-mlops-col-metric"
                aria-sort={
                  metric && query.sort === metricSort
                    ? query.order === 'asc'
                      ? 'ascending'
                      : 'descending'
                    : 'none'
                }
              >
                <span className="jp-mlops-metric-header">
                  <select
                    aria-label="Metric column"
                    value={metric ?? ''}
                    onChange={e => void model.setMetricKey(e.target.value)}
                    disabled={model.metricKeys.length === 0}
                  >
                    {model.metricKeys.length === 0 && <option value="">metric</option>}
                    {model.metricKeys.map(k => (
                      <option key={k} value={k}>
                        {k}
                      </option>
                    ))}
                  </select>
                  <button
                    className="jp-mlops-sort"
                    aria-label={`Sort by ${metric ?? 'metric'}`}
                    disabled={!metric}
                    onClick={() => metric && void model.sortBy(metricSort)}
                  >
                    <span aria-hidden="true" className="jp-mlops-sort-arrow">
                      {query.sort === metricSort
                        ? query.order === 'asc'
                          ? '▲'
                          : '▼'
                        : '↕'}
                    </span>
                  </button>
                </span>
              </th>
            </tr>
          </thead>
          <tbody>
            {model.runs.map((run, index) => {
              const props = rowProps(index);
              const selected = model.isSelected(run.run_id);
              return (
              <tr
                key={run.run_id}
                aria-label={`Run ${run.name}, ${run.status}`}
                aria-selected={compare ? selected : undefined}
                aria-keyshortcuts={compare ? 'x' : undefined}
                className={
                  `jp-mlops-row jp-mlops-row-${run.status}` +
                  (model.fresh.has(run.run_id) ? ' jp-mod-fresh' : '') +
                  (selected ? ' jp-mod-selected' : '')
                }
                onClick={() => void model.openRun(run.run_id)}
                title={`${run.name}\n${run.experiment} · ${run.run_id}`}
                {...props}
                onKeyDown={event => {
                  if (compare && event.key === 'x' && event.target === event.currentTarget) {
                    event.preventDefault();
                    model.toggleSelected(run.run_id, event.shiftKey);
                    return;
                  }
                  props.onKeyDown?.(event);
                }}
              >
                {compare && (
                  <td className="jp-mlops-col-select" onClick={e => e.stopPropagation()}>
                    <input
                      type="checkbox"
                      tabIndex={-1}
                      aria-label={`Select ${run.name} to compare`}
                      checked={selected}
                      onChange={e =>
                        model.toggleSelected(
                          run.run_id,
                          (e.nativeEvent as MouseEvent).shiftKey === true
                        )
                      }
                    />
                  </td>
                )}
                <td className="jp-mlops-name">
                  <StatusSymbol status={run.status} />
                  {run.name}
                </td>
                <td className="jp-mlops-col-status">
                  <StatusBadge status={run.status} />
                </td>
                <td title={formatTime(run.started_at)}>{formatAgo(run.started_at)}</td>
                <td className="jp-mlops-num jp-mlops-col-duration_s">
                  {run.status === 'running' ? '…' : formatDuration(run.duration_s)}
                </td>
                <td className="jp-mlops-num">
                  {metric ? formatValue(run.metrics?.[metric]) : ''}
                </td>
              </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <nav className="jp-mlops-pager" aria-label="Pages">
        <button
          className="jp-mlops-button"
          aria-label="Previous page"
          disabled={model.page <= 1}
          onClick={() => void model.previousPage()}
        >
          ‹
        </button>
        <span role="status" aria-label="Page">
          {pageLabel(query.offset, model.runs.length, model.total)}
        </span>
        <button
          className="jp-mlops-button"
          aria-label="Next page"
          disabled={model.page >= model.pages}
          onClick={() => void model.nextPage()}
        >
          ›
        </button>
      </nav>
    </div>
  );
}
