// Host state badges that follow the daemons: after build events settle, the page asks the server
// for every host's state (as the daemons reported it) and redraws the badges.
//
// What the page provides: an element with data-progress-stream (progress.js dispatches
// "mln:build-event" on it) and data-states-url (JSON {hosts: {id: {state, label}}, projects: {...}}),
// badges <span class="badge state-..." data-host-state="<host id>">label</span>, and project states
// <div data-project-state="<project id>">label</div>.

// The daemon records the hosts' states just after a job's last event: ask soon, and once more later.
const SETTLE_MS = [700, 3000];

function redraw({ hosts = {}, projects = {} }) {
    for (const [id, { state, label }] of Object.entries(hosts)) {
        document.querySelectorAll(`[data-host-state="${id}"]`).forEach((badge) => {
            badge.className = badge.className.replace(/\bstate-\S+/, `state-${state}`);
            badge.textContent = label;
        });
    }
    for (const [id, { label }] of Object.entries(projects)) {
        document.querySelectorAll(`[data-project-state="${id}"]`).forEach((element) => {
            element.textContent = label;
        });
    }
}

document.querySelectorAll("[data-progress-stream][data-states-url]").forEach((section) => {
    let timers = [];
    const refresh = async () => {
        const response = await fetch(section.dataset.statesUrl, { headers: { Accept: "application/json" } });
        if (response.ok) {
            redraw(await response.json());
        }
    };
    section.addEventListener("mln:build-event", () => {
        timers.forEach((timer) => window.clearTimeout(timer));
        timers = SETTLE_MS.map((ms) => window.setTimeout(refresh, ms));
    });
});
