// Host and project states that follow the daemons: after build events settle, when the page opens,
// and every few seconds as a backstop (a guest shut down from inside sends no build event), the
// page asks the server for every state (as the daemons reported them) and redraws what shows them.
//
// What the page provides: an element with data-progress-stream (progress.js dispatches
// "mln:build-event" on it) and data-states-url (JSON {hosts: {id: {state, label, name, project}},
// projects: {id: {state, label}}, busy: {text} | null, problem: "..."}), and any of:
//   <span class="badge state-..." data-host-state="<host id>">label</span>      a host's badge
//   <span data-project-state="<project id>">label</span>                       a project's state
//   <a data-console-for="<host id>" hidden>                                     shown while it runs
//   <svg data-topology-project="<id>"><g data-topology-host="<name>"> <text data-topology-state>
//   <p data-project-busy>, <p data-project-problem>                            the job on its way, the last failure
// After each redraw, "mln:states" is dispatched on the document with the JSON (console.js follows it);
// "mln:states-refresh" on the document asks for a redraw now.

// The daemon records the hosts' states just after a job's last event: ask soon, and once more later.
const SETTLE_MS = [700, 3000];
const POLL_MS = 10000;

const WORDS = { running: "running", stopped: "off", defined: "off", failed: "failed" };

function redrawHosts(hosts) {
    for (const [id, { state, label, name, project }] of Object.entries(hosts)) {
        document.querySelectorAll(`[data-host-state="${id}"]`).forEach((badge) => {
            badge.className = badge.className.replace(/\bstate-\S+/, `state-${state}`);
            badge.textContent = label;
        });
        document.querySelectorAll(`[data-console-for="${id}"]`).forEach((link) => {
            link.hidden = state !== "running";
        });
        if (name && project) {
            const box = document.querySelector(
                `[data-topology-project="${project}"] [data-topology-host="${CSS.escape(name)}"]`);
            if (box) {
                box.setAttribute("class", `host state-${state}`);
                const text = box.querySelector("[data-topology-state]");
                if (text) {
                    text.textContent = WORDS[state] || "not created yet";
                }
            }
        }
    }
}

function redrawProjects(projects) {
    for (const [id, { state, label }] of Object.entries(projects)) {
        document.querySelectorAll(`[data-project-state="${id}"]`).forEach((element) => {
            element.className = element.className.replace(/\bproject-\S+/, `project-${state}`);
            element.textContent = label;
        });
    }
}

function redrawLine(selector, text) {
    document.querySelectorAll(selector).forEach((line) => {
        const words = line.firstChild && line.firstChild.nodeType === Node.TEXT_NODE ? line.firstChild : null;
        if (words) {
            words.textContent = text ? `${text} ` : "";
        } else {
            line.prepend(document.createTextNode(text ? `${text} ` : ""));
        }
        line.hidden = !text;
    });
}

function redraw(truth) {
    redrawHosts(truth.hosts || {});
    redrawProjects(truth.projects || {});
    if ("busy" in truth) {
        redrawLine("[data-project-busy]", truth.busy ? truth.busy.text : "");
    }
    if ("problem" in truth) {
        redrawLine("[data-project-problem]", truth.busy ? "" : truth.problem);
    }
    document.dispatchEvent(new CustomEvent("mln:states", { detail: truth }));
}

document.querySelectorAll("[data-progress-stream][data-states-url]").forEach((section) => {
    let timers = [];
    let asking = false;
    const refresh = async () => {
        if (asking) {
            return;
        }
        asking = true;
        try {
            const response = await fetch(section.dataset.statesUrl, { headers: { Accept: "application/json" } });
            if (response.ok) {
                redraw(await response.json());
            }
        } catch {
            // offline for a moment: the next event or poll asks again
        } finally {
            asking = false;
        }
    };
    section.addEventListener("mln:build-event", () => {
        timers.forEach((timer) => window.clearTimeout(timer));
        timers = SETTLE_MS.map((ms) => window.setTimeout(refresh, ms));
    });
    document.addEventListener("mln:states-refresh", refresh);
    window.setInterval(() => {
        if (!document.hidden) {
            refresh();
        }
    }, POLL_MS);
    refresh();
});
