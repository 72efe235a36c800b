// The console page: noVNC against /ws/console/<host>/, with the password the server put in the page.
//
// What the page provides (the template includes this file with type="module"):
//   <div id="console" data-ws-path="/ws/console/12/" data-host-name="server"
//        data-host-state="running"></div>         the screen goes in here
//   {{ host.vnc_password|json_script:"console-password" }}
//   <p id="console-status"></p>                     plain words about the connection
//   <button data-console-action="fullscreen">, <button data-console-action="ctrl-alt-del">,
//   <button data-console-action="reconnect">        any of them, anywhere on the page
//
// noVNC 1.7 ships ES modules; `make novnc` copies them to static/vendor/novnc (not committed).
import RFB from "../vendor/novnc/core/rfb.js";

// The relay's close codes (projects/consumers.py): daphne drops close reasons, so codes carry them.
const CLOSED_BECAUSE = {
    1000: (host) => `The console of ${host} closed (the host may have shut down or rebooted).`,
    4403: () => "You have no access to this console. Open your group's access link again, or log in.",
    4404: (host) => `${host} is not running. Start it: the console connects by itself.`,
    4502: (host) => `${host} is running but its display does not answer yet.`,
};
// While the host runs, a lost console tries again by itself (a reboot closes the display for a moment).
const RETRY_MS = [1000, 2000, 3000, 5000, 5000, 10000];

const screen = document.getElementById("console");
const statusLine = document.getElementById("console-status");
const host = screen.dataset.hostName || "The host";
const hostId = screen.dataset.hostId;
let rfb = null;
let closeCode = null;
let connected = false;
let hostState = screen.dataset.hostState || "";
let retries = 0;
let retryTimer = null;

function say(text, kind = "info") {
    if (statusLine) {
        statusLine.textContent = text;
        statusLine.dataset.kind = kind;
    }
    screen.dataset.state = kind;
}

function websocketUrl(path) {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${window.location.host}${path}`;
}

function password() {
    const element = document.getElementById("console-password");
    return element ? JSON.parse(element.textContent) : "";
}

function disconnect() {
    window.clearTimeout(retryTimer);
    retryTimer = null;
    if (rfb) {
        const old = rfb;
        rfb = null;  // its disconnect event is then no longer ours to explain
        old.disconnect();
    }
    connected = false;
}

function retryLater(why) {
    if (retryTimer || hostState !== "running") {
        return;
    }
    const wait = RETRY_MS[Math.min(retries++, RETRY_MS.length - 1)];
    say(`${why} Trying again in ${wait / 1000} s.`, "waiting");
    retryTimer = window.setTimeout(() => { retryTimer = null; connect(); }, wait);
    document.dispatchEvent(new CustomEvent("mln:states-refresh"));
}

function connect() {
    disconnect();
    closeCode = null;
    say(`Connecting to ${host}…`);
    // Our own WebSocket, handed to noVNC, so that we can read the relay's close code.
    const socket = new WebSocket(websocketUrl(screen.dataset.wsPath), ["binary"]);
    socket.addEventListener("close", (event) => { closeCode = event.code; });
    const mine = new RFB(screen, socket, { credentials: { password: password() } });
    rfb = mine;
    rfb.scaleViewport = true;
    rfb.background = "#000";
    rfb.addEventListener("connect", () => {
        connected = true;
        retries = 0;
        say(`Connected to ${host}.`, "connected");
        mine.focus();
    });
    rfb.addEventListener("disconnect", (event) => {
        if (rfb !== mine) {
            return; // we closed it ourselves, and said why
        }
        rfb = null;
        connected = false;
        const explain = CLOSED_BECAUSE[closeCode];
        if (closeCode === 4403) {
            say(explain(host), "error");
        } else if (closeCode === 4404) {
            hostState = "";
            say(explain(host), "error");
            document.dispatchEvent(new CustomEvent("mln:states-refresh"));
        } else if (hostState === "running") {
            retryLater(explain ? explain(host) : `The connection to ${host} was lost.`);
        } else {
            say(explain ? explain(host) : event.detail.clean ? `Disconnected from ${host}.`
                : `The connection to ${host} was lost. Reconnect to try again.`, "error");
        }
    });
    // The server gives the password with the page; asking means it changed since (a rebuilt host).
    rfb.addEventListener("credentialsrequired", () => {
        say(`The console of ${host} asks for a password this page does not have: reload the page.`, "error");
        disconnect();
    });
    rfb.addEventListener("securityfailure", (event) => {
        say(`The console of ${host} refused the password (${event.detail.reason || "no reason given"}): reload the page.`,
            "error");
    });
}

const actions = {
    "fullscreen": () => (document.fullscreenElement ? document.exitFullscreen() : screen.requestFullscreen()),
    "ctrl-alt-del": () => rfb && rfb.sendCtrlAltDel(),
    "reconnect": connect,
};

document.querySelectorAll("[data-console-action]").forEach((button) => {
    const action = actions[button.dataset.consoleAction];
    if (action) {
        button.addEventListener("click", () => { action(); if (rfb) rfb.focus(); });
    }
});

// The page follows the host (static/js/states.js): it connects by itself when the host starts, says
// so when it stops, and shows the Start button only while it is not running.
document.addEventListener("mln:states", (event) => {
    const now = (event.detail.hosts || {})[hostId];
    if (!now) {
        return;
    }
    const was = hostState;
    hostState = now.state;
    document.querySelectorAll("[data-start-form]").forEach((form) => { form.hidden = hostState === "running"; });
    if (hostState === "running" && !rfb && !retryTimer) {
        retries = 0;
        connect();
    } else if (hostState !== "running" && (was === "running" || rfb || retryTimer)) {
        disconnect();
        say(`${host} is ${now.label}. Start it: the console connects by itself.`, "error");
    }
});

// The page knows the state the daemon last reported: no connection attempt for a host that is off.
if (hostState === "running") {
    connect();
}
