// @ts-check
// What a view gets from the router: where to draw, whether it is still shown, and polling that stops
// when the user leaves it.

/**
 * A poll loop: `start()` arms the first wait; `now()` runs at once and restarts the wait.
 * @typedef {{ start: () => void, now: () => Promise<void> }} Poller
 */

/**
 * @typedef {object} ViewContext
 * @property {HTMLElement} main the page's <main>, which the view fills
 * @property {() => boolean} alive false once another view replaced this one
 * @property {(fn: () => Promise<void>, interval: () => number | null) => Poller} poll
 *   runs `fn` every `interval()` ms (null: stop) while the view is shown; runs never overlap
 */

let generation = 0;
/** @type {(() => void)[]} */
let cleanups = [];

/**
 * Leaves the current view (its polls stop) and gives the next one its context.
 * @param {HTMLElement} main
 * @returns {ViewContext}
 */
export function enterView(main) {
  for (const f of cleanups) f();
  cleanups = [];
  generation += 1;
  const mine = generation;
  const alive = () => mine === generation;
  return {
    main,
    alive,
    // `now()` runs `fn` at once and restarts the wait, e.g. after a button changed something.
    poll(fn, interval) {
      /** @type {ReturnType<typeof setTimeout> | undefined} */
      let timer;
      let running = false;
      let again = false;
      const arm = () => {
        const ms = interval();
        if (alive() && ms !== null) timer = setTimeout(tick, ms);
      };
      /** @returns {Promise<void>} */
      const tick = async () => {
        clearTimeout(timer);
        timer = undefined;
        if (running) {
          again = true;
          return;
        }
        running = true;
        try {
          await fn();
        } finally {
          running = false;
        }
        if (!alive()) return;
        if (again) {
          again = false;
          return tick();
        }
        arm();
      };
      cleanups.push(() => clearTimeout(timer));
      return { start: arm, now: tick };
    },
  };
}
