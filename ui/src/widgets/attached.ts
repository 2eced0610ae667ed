/**
 * What a window says when the app is attached to the postroomd service: files named in it are opened by the
 * service, with the service's rights (the postroom user, no access to home folders), not the admin's.
 */
import { api } from "../api";
import { h, text } from "./dom";

/** A hint, shown only while attached to a service, that the service opens the files chosen here. */
export function serviceFilesNote(id: string): HTMLElement {
  const note = h("p", { class: "hint attached-note", id, hidden: true });
  api
    .getEngineLink()
    .then((link) => {
      if (!link.socket) return;
      text(
        note,
        `The ${link.program} service (pid ${link.pid}) opens these files itself, as the postroom user: choose files it can read, outside home folders (for example in /etc/postroom).`,
      );
      note.hidden = false;
    })
    .catch(() => {});
  return note;
}
