import * as React from 'react';

export interface IRovingFocusOptions {
  /** how many items there are */
  count: number;
  /** the item in the Tab order (the others have tabindex -1) */
  active: number;
  /** an item got the focus: by an arrow key, a click or Tab */
  onActive(index: number): void;
  /** Left/Right move the focus (a tab strip), or Up/Down (the rows of a table) */
  orientation: 'horizontal' | 'vertical';
  /** Enter or Space on an item (not on a control inside it) */
  onOpen?(index: number): void;
  /** past the last item comes the first, and before the first the last */
  wrap?: boolean;
}

const ARROWS = {
  horizontal: ['ArrowLeft', 'ArrowRight'],
  vertical: ['ArrowUp', 'ArrowDown']
};

/**
 * A roving tabindex (WAI-ARIA): a group of items is one stop in the Tab order, the arrow keys
 * move the focus inside it, Home and End go to the first and last item. Spread
 * `itemProps(index)` on each item.
 */
export function useRovingFocus<T extends HTMLElement>({
  count,
  active,
  onActive,
  orientation,
  onOpen,
  wrap = false
}: IRovingFocusOptions): (index: number) => React.HTMLAttributes<T> & React.RefAttributes<T> {
  const items = React.useRef<(T | null)[]>([]);
  const [previous, next] = ARROWS[orientation];
  const target = (key: string, index: number): number | null => {
    const step = key === previous ? -1 : key === next ? 1 : 0;
    if (step !== 0) {
      const moved = index + step;
      return wrap ? (moved + count) % count : Math.max(0, Math.min(count - 1, moved));
    }
    return key === 'Home' ? 0 : key === 'End' ? count - 1 : null;
  };
  return index => ({
    ref: element => {
      items.current[index] = element;
    },
    tabIndex: index === Math.min(active, count - 1) ? 0 : -1,
    onFocus: () => onActive(index),
    onKeyDown: event => {
      if (event.target !== event.currentTarget) {
        return; // a button inside a row keeps its keys
      }
      if (onOpen && (event.key === 'Enter' || event.key === ' ')) {
        event.preventDefault();
        onOpen(index);
        return;
      }
      const to = target(event.key, index);
      if (to !== null) {
        event.preventDefault();
        items.current[to]?.focus();
      }
    }
  });
}
