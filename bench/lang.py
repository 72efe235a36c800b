"""How fast the language is: parse, resolve and total milliseconds, and hosts per second.

    .venv/bin/python bench/lang.py

Two projects: 1,000 explicit hosts over 10 superclasses (target: under
300 ms in all), and autoenum making 1,000 hosts. The grammar and the Lark
object are built once, before timing, as in a running process.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from projects.lang import build_spec, parse_statements  # noqa: E402
from projects.lang.parser import clear_parse_cache, parse_file  # noqa: E402
from projects.lang.resolve import resolve  # noqa: E402
from projects.lang.sources import NoSources  # noqa: E402

ROUNDS = 5


def explicit_hosts(count=1000, superclasses=10):
    lines = ["global {", "    project bench", "    $net = 10.0", "}"]
    for s in range(superclasses):
        lines += [
            f"superclass class-{s} {{",
            "    xen",
            "    lvm",
            f"    template image-{s}.qcow2",
            f"    memory {128 * (s + 1)}M",
            "    size 2G",
            "    network eth0 {",
            "        switch lan",
            "        netmask 255.255.0.0",
            "    }",
            "    users {",
            "        student secret",
            "    }",
            "}",
        ]
    for h in range(count):
        lines += [
            f"host host-{h} {{",
            f"    superclass class-{h % superclasses}",
            "    network eth0 {",
            f"        address $net.{h // 250}.{h % 250 + 1}",
            "    }",
            f"    service_host node-{h % 4}",
            "}",
        ]
    lines.append("switch lan { nat }")
    return "\n".join(lines) + "\n"


def autoenum_hosts(count=1000):
    return f"""global {{
    project bench
    autoenum {{
        superclass node
        numhosts {count}
        address auto
        addresses_begin 10
        net 10.0.0.0/16
        service_hosts {{
            node-a
            node-b
        }}
    }}
}}
superclass node {{
    template node.qcow2
    memory 256M
    network eth0 {{
        switch lan
    }}
}}
switch lan {{ nat }}
"""


def measure(name, text):
    best = None
    for _ in range(ROUNDS):
        clear_parse_cache()  # every round parses the text anew, as a new upload would
        start = time.perf_counter()
        statements = parse_file(text, "bench.mln", NoSources())
        parsed = time.perf_counter()
        tree = resolve(statements, "bench.mln")
        resolved = time.perf_counter()
        build_spec(tree)
        done = time.perf_counter()
        figures = (parsed - start, resolved - parsed, done - resolved, done - start)
        best = figures if best is None or figures[-1] < best[-1] else best
    parse, resolve_, spec, total = (f * 1000 for f in best)
    hosts = len(tree["hosts"])
    print(
        f"{name:<34} parse {parse:7.1f} ms  resolve {resolve_:7.1f} ms  spec {spec:6.1f} ms  "
        f"total {total:7.1f} ms  {hosts / (total / 1000):9.0f} hosts/s  ({hosts} hosts, {len(text.splitlines())} lines)"
    )
    return total


def main():
    start = time.perf_counter()
    parse_statements("warm up\n")  # builds the Lark object, once per process
    print(f"grammar and parser built once in {(time.perf_counter() - start) * 1000:.1f} ms; best of {ROUNDS} rounds")
    total = measure("1,000 explicit hosts, 10 superclasses", explicit_hosts())
    measure("autoenum, numhosts 1000", autoenum_hosts())
    print(f"target: explicit hosts under 300 ms: {'met' if total < 300 else 'MISSED'}")


if __name__ == "__main__":
    main()
