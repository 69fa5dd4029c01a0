import { describe, expect, it } from 'vitest';

import {
  formatAgo,
  formatDuration,
  formatValue,
  pageLabel,
  splitName,
  truncate,
  truncateMiddle
} from '../format';

describe('format', () => {
  it.each([
    [null, '—'],
    [0.4213, '0.42 s'],
    [8.21, '8.2 s'],
    [42.4, '42 s'],
    [245, '4 min 05 s'],
    [7380, '2 h 03 min']
  ])('formatDuration(%s) is %s', (seconds, text) => {
    expect(formatDuration(seconds as number | null)).toBe(text);
  });

  it('formats how long ago a run started', () => {
    const now = 1_000_000 * 1000;
    expect(formatAgo(1_000_000 - 10, now)).toBe('now');
    expect(formatAgo(1_000_000 - 300, now)).toBe('5m ago');
    expect(formatAgo(1_000_000 - 3 * 3600, now)).toBe('3h ago');
    expect(formatAgo(1_000_000 - 2 * 86400, now)).toBe('2d ago');
    expect(formatAgo(0, now)).toBe('1970-01-01');
  });

  it.each([
    [0.94405594, '0.9441'],
    [3, '3'],
    [0.00001234, '1.234e-5'],
    [null, '—'],
    ['gini', 'gini'],
    [true, 'true'],
    [[1, 2], '[1,2]']
  ])('formatValue(%s) is %s', (value, text) => {
    expect(formatValue(value)).toBe(text);
  });

  it('labels pages and truncates', () => {
    expect(pageLabel(0, 25, 10000)).toBe('1–25 of 10,000');
    expect(pageLabel(9975, 25, 10000)).toBe('9,976–10,000 of 10,000');
    expect(pageLabel(0, 0, 0)).toBe('0 runs');
    expect(truncate('a-long-run-name', 6)).toBe('a-lon…');
    expect(truncate('short', 6)).toBe('short');
  });

  it('cuts names in the middle so the distinguishing end survives', () => {
    expect(truncateMiddle('wine-lr-alpha10.0', 13)).toBe('wine-l…ha10.0');
    expect(truncateMiddle('wine-lr-alpha100.0', 13)).toBe('wine-l…a100.0');
    expect(truncateMiddle('short', 13)).toBe('short');
    expect(splitName('wine-lr-alpha100.0')).toEqual(['wine-lr-', 'alpha100.0']);
    expect(splitName('prep')).toEqual(['prep', '']);
  });
});
