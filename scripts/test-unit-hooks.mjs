/**
 * Loaded with `node --import` into the processes of `npm run test:unit`,
 * before node:test; it acts only in a group process (scripts/test-unit.mjs
 * writes those as group-<n>.mjs).
 *
 * node:test's harness enables an async hook that follows every asynchronous
 * resource, every promise included, to know which test made it. It needs
 * that for two things: to find the describe block a test, describe or hook
 * is declared in, and to name the test an uncaught error came from. A group
 * declares every test while it loads (scripts/test-unit-group.mjs, in one
 * synchronous turn), so the first need ends with that turn, and the hook is
 * turned off then; the tests after it make their promises without the
 * hook's bookkeeping on each (docs/benchmarks.md, "Test suites"). What is
 * given up: an error thrown outside any awaited chain during a test fails
 * the run as a diagnostic of the whole group rather than of that test. `npm
 * test` and `test:unit --isolated` run without this.
 */
import asyncHooks from 'node:async_hooks';
import path from 'node:path';
import process from 'node:process';
import { setImmediate } from 'node:timers';

if (/^group-\d+\.mjs$/.test(path.basename(process.argv[1] ?? ''))) {
  const createHook = asyncHooks.createHook;
  asyncHooks.createHook = function createHookOfGroup(callbacks) {
    const hook = createHook(callbacks);
    if (!/[/\\]test_runner[/\\]harness/.test(new Error().stack ?? '')) return hook;
    asyncHooks.createHook = createHook;
    const enable = hook.enable;
    hook.enable = function enableWhileDeclaring() {
      enable.call(hook);
      setImmediate(() => hook.disable());
      return hook;
    };
    return hook;
  };
}
