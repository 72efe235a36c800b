// Live progress of builds: stored events, then the live tail, from /ws/progress/<course|project>/<id>/.
//
// What the page provides (the template includes this file with type="module"):
//   <section data-progress-stream="/ws/progress/course/3/">
//     <progress data-progress-total></progress> <span data-progress-total-label></span>
//     <div data-progress-project="17" data-project-name="os01">     one per project
//       <progress></progress> <span data-progress-label></span>
//     </div>
//     <p data-progress-status></p>                                   live / reconnecting
//     <ol data-progress-log></ol>                                    the events, newest last
//   </section>
//
// The server sends every event once, in order per build, after the cursor the page gives
// (`?after=<build>.<seq>,...`). On a lost connection the page reconnects with the cursor of what
// it has, so it loses nothing and shows nothing twice. Each event is also dispatched on the
// section as a "mln:build-event" DOM event, for pages that show more (host states).

const LOG_LIMIT = 2000; // a thousand-host build logs thousands of steps; the oldest scroll away
const RETRY_MS = [500, 1000, 2000, 5000, 10000];

function websocketUrl(path, cursor) {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const after = Object.entries(cursor).map(([build, seq]) => `${build}.${seq}`).join(",");
    return `${scheme}//${window.location.host}${path}${after ? `?after=${after}` : ""}`;
}

function timeOf(iso) {
    return iso ? new Date(iso).toLocaleTimeString() : "";
}

class ProgressStream {
    constructor(section) {
        this.section = section;
        this.path = section.dataset.progressStream;
        this.cursor = {};      // build -> last seq shown
        this.projects = {};    // project -> {build, done, total}: its latest build's progress
        this.retries = 0;
        this.log = section.querySelector("[data-progress-log]");
        this.status = section.querySelector("[data-progress-status]");
        this.open();
    }

    open() {
        const socket = new WebSocket(websocketUrl(this.path, this.cursor));
        socket.addEventListener("message", (message) => this.receive(JSON.parse(message.data)));
        socket.addEventListener("close", (event) => this.closed(event));
    }

    receive(message) {
        if (message.type === "builds") {
            message.builds.forEach((build) => this.learn(build));
            Object.keys(this.projects).forEach((project) => this.drawProject(project));
            this.drawTotal();
        } else if (message.type === "replayed") {
            this.retries = 0;
            this.say("Live.");
        } else if (message.type === "events") {
            message.events.forEach((event) => this.show(event));
            this.drawTotal();
        }
    }

    closed(event) {
        if (event.code === 4403) {
            this.say("You have no access to this progress: log in again.");
            return;
        }
        const wait = RETRY_MS[Math.min(this.retries++, RETRY_MS.length - 1)];
        this.say(`Connection lost; reconnecting in ${wait / 1000} s.`);
        window.setTimeout(() => this.open(), wait);
    }

    learn({ project, build, status }) {
        // The latest build of a project, as it stands: a queued one has no events yet, and the
        // older build of its project then counts no more.
        const known = this.projects[project];
        if (!known || build > known.build) {
            this.projects[project] = { build, done: 0, total: 0, failed: false };
        }
        const progress = this.projects[project];
        if (build === progress.build) {
            progress.waiting = status === "queued" || status === "running";
            progress.failed = progress.failed || status === "failed";
        }
    }

    show(event) {
        if (event.seq <= (this.cursor[event.build] || 0)) {
            return; // the server sends each event once; this guards a page that reconnected twice
        }
        this.cursor[event.build] = event.seq;
        const known = this.projects[event.project];
        if (!known || event.build > known.build) {
            // A newer build of a project starts its bar again.
            this.projects[event.project] = { build: event.build, done: 0, total: 0, failed: false };
        }
        const progress = this.projects[event.project];
        if (event.build === progress.build) {
            // A failure's last event has no step count: the bar stays where the build stopped.
            if (event.total) {
                progress.done = event.done;
                progress.total = event.total;
            }
            progress.failed = progress.failed || event.level === "error";
            // Its last step done, or failed: no longer waiting for its daemon.
            progress.waiting = !progress.failed && !(progress.total && progress.done >= progress.total);
            this.drawProject(event.project);
        }
        this.append(event);
        this.section.dispatchEvent(new CustomEvent("mln:build-event", { detail: event }));
    }

    drawProject(projectId) {
        const box = this.section.querySelector(`[data-progress-project="${projectId}"]`);
        if (!box) {
            return;
        }
        const { done, total, failed } = this.projects[projectId];
        box.classList.toggle("failed", failed);
        const bar = box.querySelector("progress");
        if (bar) {
            bar.max = Math.max(total, 1);
            bar.value = Math.min(done, bar.max);
        }
        const label = box.querySelector("[data-progress-label]");
        if (label) {
            const steps = total ? `${done} of ${total} steps` : "";
            const waiting = this.projects[projectId].waiting && !total ? "queued" : "";
            label.textContent = failed ? `failed${steps ? " after " + steps : ""}` : steps || waiting;
        }
    }

    drawTotal() {
        // Each project's latest build only; one not started yet counts as a step still to do, so the
        // bar never says 100 % while a project waits, and a failed build colours it.
        const all = Object.values(this.projects);
        const done = all.reduce((sum, p) => sum + Math.min(p.done, p.total), 0);
        const total = all.reduce((sum, p) => sum + Math.max(p.total, p.waiting ? 1 : 0), 0);
        const waiting = all.filter((p) => p.waiting && !p.total).length;
        const failed = all.filter((p) => p.failed).length;
        const box = this.section.querySelector("[data-progress-total]");
        const holder = box ? box.closest(".total") || box.parentElement : null;
        if (holder) {
            holder.classList.toggle("failed", failed > 0);
        }
        if (box) {
            box.max = Math.max(total, 1);
            box.value = done;
        }
        const label = this.section.querySelector("[data-progress-total-label]");
        if (label) {
            const percent = total ? Math.floor((100 * done) / total) : 0;
            const parts = total ? [`${done} of ${total} steps (${percent} %)`] : [];
            if (waiting) {
                parts.push(`${waiting} project${waiting === 1 ? "" : "s"} queued`);
            }
            if (failed) {
                parts.push(`${failed} failed`);
            }
            label.textContent = parts.join(", ");
        }
    }

    append(event) {
        if (!this.log) {
            return;
        }
        const box = this.section.querySelector(`[data-progress-project="${event.project}"]`);
        const project = box ? box.dataset.projectName : `project ${event.project}`;
        const item = document.createElement("li");
        item.className = `event ${event.level}`;
        const where = [project, event.host].filter(Boolean).join(" ");
        item.textContent = `${timeOf(event.time)}  ${where}  ${event.step}${event.message ? `: ${event.message}` : ""}`;
        this.log.append(item);
        while (this.log.childElementCount > LOG_LIMIT) {
            this.log.firstElementChild.remove();
        }
    }

    say(text) {
        if (this.status) {
            this.status.textContent = text;
        }
    }
}

document.querySelectorAll("[data-progress-stream]").forEach((section) => new ProgressStream(section));
