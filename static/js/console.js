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
    1000: (host) => `The console of ${host} closed (the host may have shut down).`,
    4403: () => "You have no access to this console. Open your group's access link again, or log in.",
    4404: (host) => `${host} is not running. Start it, then reconnect.`,
    4502: (host) => `${host} is running but its display does not answer yet. Try again in a few seconds.`,
};

const screen = document.getElementById("console");
const statusLine = document.getElementById("console-status");
const host = screen.dataset.hostName || "The host";
let rfb = null;
let closeCode = null;

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

function connect() {
    if (rfb) {
        rfb.disconnect();
    }
    closeCode = null;
    say(`Connecting to ${host}…`);
    // Our own WebSocket, handed to noVNC, so that we can read the relay's close code.
    const socket = new WebSocket(websocketUrl(screen.dataset.wsPath), ["binary"]);
    socket.addEventListener("close", (event) => { closeCode = event.code; });
    rfb = new RFB(screen, socket, { credentials: { password: password() } });
    rfb.scaleViewport = true;
    rfb.background = "#000";
    rfb.addEventListener("connect", () => {
        say(`Connected to ${host}.`, "connected");
        rfb.focus();
    });
    rfb.addEventListener("disconnect", (event) => {
        const explain = CLOSED_BECAUSE[closeCode];
        if (explain) {
            say(explain(host), closeCode === 1000 ? "info" : "error");
        } else {
            say(event.detail.clean ? `Disconnected from ${host}.`
                : `The connection to ${host} was lost. Reconnect to try again.`, "error");
        }
    });
    // The server gives the password with the page; asking means it changed since (a rebuilt host).
    rfb.addEventListener("credentialsrequired", () => {
        say(`The console of ${host} asks for a password this page does not have: reload the page.`, "error");
        rfb.disconnect();
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

// The page knows the state the daemon last reported: no connection attempt for a host that is off.
if (screen.dataset.hostState && screen.dataset.hostState !== "running") {
    say(CLOSED_BECAUSE[4404](host), "error");
} else {
    connect();
}
