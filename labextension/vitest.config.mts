import { defineConfig } from 'vitest/config';

// Unit tests of the model and the components (the UI test in a real Chromium is
// tests/ui/test_sidebar.py). Component tests opt into jsdom with a file comment.
export default defineConfig({
  test: {
    include: ['src/**/__tests__/*.spec.{ts,tsx}'],
    environment: 'node'
  },
  esbuild: { jsx: 'transform' }
});
