import * as React from 'react';

import {
  columnLabel,
  formatAgo,
  formatDuration,
  formatTime,
  formatValue,
  pageLabel,
  splitName
} from '../format';
import { MLOpsModel } from '../model';
import { ISidebarActions, RunStatus } from '../tokens';
import { AllArchived, NoMatch, NoRunsYet } from './States';
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
  label,
  className,
  title
}: {
  model: MLOpsModel;
  column: string;
  label: string;
  className?: string;
  title?: string;
}): JSX.Element {
  const active = model.query.sort === column;
  const ascending = model.query.order === 'asc';
  return (
    <th
      scope="col"
      className={className ?? `jp-mlops-col-${column}`}
      title={title}
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

/** A run name cut in the middle when it must be: the end that tells runs apart stays. */
export function RunName({ name }: { name: string }): JSX.Element {
  const [head, tail] = splitName(name);
  return (
    <span className="jp-mlops-run-name">
      <span className="jp-mlops-run-name-head">{head}</span>
      {tail && <span className="jp-mlops-run-name-tail">{tail}</span>}
    </span>
  );
}

/** Which metric and param columns the table shows: the keys of every filtered run. */
function ColumnChooser({ model }: { model: MLOpsModel }): JSX.Element {
  const groups: [string, string, string[]][] = [
    ['Metrics', 'metrics', model.metricKeys],
    ['Params', 'params', model.keys?.params ?? []]
  ];
  return (
    <details className="jp-mlops-columns">
      <summary aria-label="Choose columns">Columns ({model.columns.length})</summary>
      <div className="jp-mlops-columns-menu" role="group" aria-label="Columns">
        {groups.map(([legend, kind, keys]) => (
          <fieldset key={kind}>
            <legend>{legend}</legend>
            {keys.length === 0 && <span className="jp-mlops-muted">none</span>}
            {keys.map(key => {
              const column = `${kind}.${key}`;
              return (
                <label key={column} title={key}>
                  <input
                    type="checkbox"
                    checked={model.columns.includes(column)}
                    onChange={() => model.toggleColumn(column)}
                  />
                  {key}
                </label>
              );
            })}
          </fieldset>
        ))}
      </div>
    </details>
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
  const [row, setRow] = React.useState(() =>
    Math.max(0, model.runs.findIndex(r => r.run_id === model.returnTo))
  );
  const tableRef = React.useRef<HTMLTableElement>(null);
  React.useEffect(() => {
    // back from a run's detail: the focus returns to that run's row
    const id = model.returnTo;
    model.returnTo = null;
    if (id) {
      const rows = tableRef.current?.querySelectorAll<HTMLElement>('tr[data-run-id]');
      Array.from(rows ?? []).find(r => r.dataset.runId === id)?.focus();
    }
  }, []);
  const rowProps = useRovingFocus<HTMLTableRowElement>({
    count: model.runs.length,
    active: row,
    onActive: setRow,
    orientation: 'vertical',
    onOpen: index => void model.openRun(model.runs[index].run_id)
  });
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
        placeholder="Search name, param, id or tag (owner:alice)…"
        value={search}
        onChange={e => {
          setSearch(e.target.value);
          debounced(e.target.value);
        }}
      />
      <ColumnChooser model={model} />
      <label
        className="jp-mlops-check jp-mlops-show-archived"
        title="List archived runs too (their names in italics)"
      >
        <input
          type="checkbox"
          checked={model.showsArchived}
          onChange={e => void model.setShowArchived(e.target.checked)}
        />
        Show archived{model.archivedTotal ? ` (${model.archivedTotal})` : ''}
      </label>
    </div>
  );

  if (model.loaded && model.total === 0 && model.runs.length === 0) {
    return (
      <div className="jp-mlops-runs">
        {model.storeTotal > 0 || model.filtered || model.archivedTotal > 0 ? toolbar : null}
        {model.filtered ? (
          <NoMatch onClear={() => void model.clearFilters()} />
        ) : model.archivedTotal > 0 && !model.showsArchived ? (
          <AllArchived count={model.archivedTotal} onShow={() => void model.setShowArchived(true)} />
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
        <table
          ref={tableRef}
          className={`jp-mlops-table${model.showsExperiment ? ' jp-mod-experiment' : ''}`}
          aria-label="Runs"
          style={{ '--jp-mlops-values': `${84 * model.columns.length}px` } as React.CSSProperties}
        >
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
              {model.showsExperiment && (
                <SortHeader model={model} column="experiment" label="Experiment" />
              )}
              {model.columns.map(column => (
                <SortHeader
                  key={column}
                  model={model}
                  column={column}
                  label={columnLabel(column)}
                  className="jp-mlops-col-value"
                  title={column}
                />
              ))}
            </tr>
          </thead>
          <tbody>
            {model.runs.map((run, index) => {
              const props = rowProps(index);
              const selected = model.isSelected(run.run_id);
              return (
              <tr
                key={run.run_id}
                data-run-id={run.run_id}
                aria-label={`Run ${run.name}, ${run.status}${run.archived_at ? ', archived' : ''}`}
                aria-selected={compare ? selected : undefined}
                aria-keyshortcuts={compare ? 'x' : undefined}
                className={
                  `jp-mlops-row jp-mlops-row-${run.status}` +
                  (model.fresh.has(run.run_id) ? ' jp-mod-fresh' : '') +
                  (selected ? ' jp-mod-selected' : '') +
                  (run.archived_at ? ' jp-mod-archived' : '')
                }
                onClick={() => void model.openRun(run.run_id)}
                title={`${run.name}${run.archived_at ? ' (archived)' : ''}\n${run.experiment} · ${run.run_id}`}
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
                <td className="jp-mlops-name" title={run.archived_at ? `${run.name} (archived)` : run.name}>
                  <span className="jp-mlops-name-cell">
                    <StatusSymbol status={run.status} />
                    <RunName name={run.name} />
                  </span>
                </td>
                <td className="jp-mlops-col-status">
                  <StatusBadge status={run.status} />
                </td>
                <td className="jp-mlops-col-started_at" title={formatTime(run.started_at)}>
                  {formatAgo(run.started_at)}
                </td>
                <td className="jp-mlops-num jp-mlops-col-duration_s">
                  {run.status === 'running' ? '…' : formatDuration(run.duration_s)}
                </td>
                {model.showsExperiment && (
                  <td className="jp-mlops-col-experiment" title={run.experiment}>
                    {run.experiment}
                  </td>
                )}
                {model.columns.map(column => {
                  const key = columnLabel(column);
                  const value = column.startsWith('params.')
                    ? run.params?.[key]
                    : run.metrics?.[key];
                  return (
                    <td key={column} className="jp-mlops-num" title={`${key} = ${String(value ?? '—')}`}>
                      {formatValue(value)}
                    </td>
                  );
                })}
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
