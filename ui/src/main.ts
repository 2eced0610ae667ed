import "./style.css";
import { inTauri, mockModule, type WindowName } from "./api";
import { mountBandwidth } from "./windows/bandwidth";
import { mountBandwidthScript } from "./windows/bandwidth-script";
import { mountCertificate } from "./windows/certificate";
import { mountDiagnostics } from "./windows/diagnostics";
import { mountDomains } from "./windows/domains";
import { mountGeoImport } from "./windows/geoimport";
import { mountGeoIp } from "./windows/geoip";
import { mountLogView } from "./windows/logview";
import { mountLanForward } from "./windows/lanforward";
import { mountSpamFilter } from "./windows/spamfilter";
import { mountQuarantine } from "./windows/quarantine";
import { mountCollectors } from "./windows/collectors";
import { mountMain } from "./windows/main";
import { mountMessageStore } from "./windows/messagestore";
import { mountRecycleBin } from "./windows/recyclebin";
import { mountBans } from "./windows/bans";
import { mountQueue } from "./windows/queue";
import { mountServices } from "./windows/services";
import { mountSetup } from "./windows/setup";
import { mountSmtp } from "./windows/smtp";
import { mountUsers } from "./windows/users";

type Mount = (app: HTMLElement) => () => void;

/** A route for every window the shell opens (a name missing here does not compile), and the log viewer. */
const routes: Record<WindowName | "logview", Mount> = {
  main: mountMain,
  services: mountServices,
  users: mountUsers,
  domains: mountDomains,
  certificate: mountCertificate,
  smtp: mountSmtp,
  queue: mountQueue,
  bans: mountBans,
  diagnostics: mountDiagnostics,
  logview: mountLogView,
  geoip: mountGeoIp,
  geoimport: mountGeoImport,
  bandwidth: mountBandwidth,
  bandwidthscript: mountBandwidthScript,
  messagestore: mountMessageStore,
  recyclebin: mountRecycleBin,
  lanforward: mountLanForward,
  spamfilter: mountSpamFilter,
  quarantine: mountQuarantine,
  collectors: mountCollectors,
  setup: mountSetup,
};

const app = document.getElementById("app")!;
let unmount: () => void = () => {};

function route(): void {
  unmount();
  document.querySelectorAll(".modal-backdrop").forEach((e) => e.remove());
  const asked = location.hash.replace(/^#\/?/, "").split(/[/?]/)[0];
  const name = (asked in routes ? asked : "main") as keyof typeof routes;
  document.body.dataset.window = name;
  unmount = routes[name](app);
  void mockModule()?.then((m) => m.afterMount(name));
}

if (inTauri) {
  document.addEventListener("contextmenu", (ev) => {
    if (!(ev.target as HTMLElement).closest("input, textarea, .selectable")) ev.preventDefault();
  });
}

window.addEventListener("hashchange", route);
route();
