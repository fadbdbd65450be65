// @ts-check
// The sign-in form: asks for an API token, checks it with one API call, keeps it in this browser.
import { listSyncs, token } from "../api.js";
import { errorBox, h, put } from "../dom.js";

/**
 * @param {HTMLElement} main where to draw
 * @param {string | undefined} problem why the saved token was refused, if it was
 * @param {() => void} signedIn called once the API accepted the token
 */
export function viewToken(main, problem, signedIn) {
  const input = h("input", { type: "password", name: "token", autocomplete: "off", placeholder: "dev_… or retl_…", required: true });
  const status = h("div");
  if (problem) put(status, h("div", { class: "alert", role: "alert" }, `The saved token was refused: ${problem}`));
  const form = h(
    "form",
    {
      class: "token",
      onsubmit: async (event) => {
        event.preventDefault();
        const value = input.value.trim();
        if (!value) return;
        token.set(value);
        try {
          await listSyncs({ limit: 1 });
          signedIn();
        } catch (err) {
          token.clear();
          put(status, errorBox(err));
        }
      },
    },
    h("h1", {}, "Sign in"),
    h("p", {}, "Paste an API token. ", h("code", {}, "npm start"), " prints the local admin token; ", "it is kept in this browser only."),
    input,
    status,
    h("button", { class: "primary", type: "submit" }, "Save token"),
  );
  put(main, form);
  input.focus();
}
