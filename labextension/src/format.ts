/** Small formatting helpers for the sidebar (pure, unit tested). */

/** `0.42 s`, `12.3 s`, `4 min 05 s`, `2 h 03 min`; an em dash when unknown. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) {
    return '—';
  }
  if (seconds < 10) {
    return `${seconds.toFixed(seconds < 1 ? 2 : 1)} s`;
  }
  if (seconds < 60) {
    return `${Math.round(seconds)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes} min ${String(Math.round(seconds % 60)).padStart(2, '0')} s`;
  }
  const hours = Math.floor(minutes / 60);
  return `${hours} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** How long ago a unix time was: `now`, `5m ago`, `3h ago`, `2d ago`, else the date. */
export function formatAgo(unixSeconds: number, now: number = Date.now()): string {
  const delta = now / 1000 - unixSeconds;
  if (delta < 45) {
    return 'now';
  }
  if (delta < 3600) {
    return `${Math.max(1, Math.round(delta / 60))}m ago`;
  }
  if (delta < 86400) {
    return `${Math.round(delta / 3600)}h ago`;
  }
  if (delta < 7 * 86400) {
    return `${Math.round(delta / 86400)}d ago`;
  }
  return new Date(unixSeconds * 1000).toISOString().slice(0, 10);
}

/** A unix time as `YYYY-MM-DD HH:MM:SS` (local time). */
export function formatTime(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** A metric or parameter value, compactly: 4 significant digits for floats. */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) {
    return '—';
  }
  if (typeof value === 'number') {
    if (Number.isInteger(value)) {
      return String(value);
    }
    const abs = Math.abs(value);
    if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) {
      return value.toExponential(3);
    }
    return String(Number(value.toPrecision(4)));
  }
  if (typeof value === 'object') {
    return JSON.stringify(value);
  }
  return String(value);
}

/** The first characters of a run id, enough to tell runs apart. */
export function shortId(runId: string): string {
  return runId.slice(0, 10);
}

/**
 * A server message made readable: the run's own id becomes its name, any other run id
 * (26-character ULID) its short form.
 */
export function readableMessage(message: string, run?: { run_id: string; name: string }): string {
  let text = message;
  if (run) {
    text = text.split(`run ${run.run_id} (${run.name})`).join(`run ${run.name}`);
    text = text.split(`run ${run.run_id}`).join(`run ${run.name}`);
    text = text.split(run.run_id).join(run.name);
  }
  return text.replace(/\b[0-9A-HJKMNP-TV-Z]{26}\b/g, id => `${shortId(id)}…`);
}

/** Truncate a label to `max` characters with an ellipsis. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(1, max - 1))}…`;
}

/** Cut in the middle, keeping the end that tells similar names apart: `wine…pha10.0`. */
export function truncateMiddle(text: string, max: number): string {
  if (text.length <= max) {
    return text;
  }
  const tail = Math.ceil((max - 1) / 2);
  return `${text.slice(0, max - 1 - tail)}…${text.slice(text.length - tail)}`;
}

/** `1–25 of 10,000` */
export function pageLabel(offset: number, count: number, total: number): string {
  if (total === 0) {
    return '0 runs';
  }
  const fmt = (n: number) => n.toLocaleString('en-US');
  return `${fmt(offset + 1)}–${fmt(offset + count)} of ${fmt(total)}`;
}

/**
 * A name split for a middle ellipsis: the head may be cut (with CSS), the tail always shows,
 * so `…alpha10.0` and `…alpha100.0` stay apart. Short names have an empty tail.
 */
export function splitName(name: string, tail = 10): [string, string] {
  if (name.length <= tail + 4) {
    return [name, ''];
  }
  return [name.slice(0, name.length - tail), name.slice(name.length - tail)];
}

/** The header of a value column: `accuracy` for `metrics.accuracy`, `C` for `params.C`. */
export function columnLabel(column: string): string {
  return column.replace(/^(metrics|params)\./, '');
}
