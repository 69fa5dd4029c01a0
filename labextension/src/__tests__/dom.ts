/** A fresh React root in the (jsdom) document for every test of a component spec file. */
import * as React from 'react';
import { act } from 'react';
import { createRoot, Root } from 'react-dom/client';
import { afterEach, beforeEach, expect } from 'vitest';

import { settle } from './fakeApi';

(globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;

/**
 * Mount a root before each test of the calling file and unmount it after; returns `render`,
 * which draws an element into it and lets pending requests settle.
 */
export function mountEachTest(): (element: React.ReactElement) => Promise<void> {
  let root: Root;
  beforeEach(() => {
    const container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
  });
  afterEach(() => {
    act(() => root.unmount());
    document.body.innerHTML = '';
  });
  return async element => {
    await act(async () => {
      root.render(element);
      await settle();
    });
  };
}

/** Click an element (which must exist), with optional modifier keys, and let it settle. */
export async function click(
  element: Element | null | undefined,
  init: MouseEventInit = {}
): Promise<void> {
  expect(element).toBeTruthy();
  await act(async () => {
    element!.dispatchEvent(new MouseEvent('click', { bubbles: true, ...init }));
    await settle();
  });
}
