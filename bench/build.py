"""Time to build and start 1,000 hosts on libvirt's test driver (target: under 5 s).

Runs the real jobs (plan, storage pool, switches, overlays, guest
configuration seeds, domains, start, BuildEvents, Host rows) against
`test:///default` with a throwaway database, mln.conf and projects folder.

    .venv/bin/python bench/build.py [HOSTS]
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(workdir, hosts):
    os.environ["MLN_VAR_DIR"] = str(workdir)
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "mlnweb.settings"
    conf = workdir / "mln.conf"
    (workdir / "vmlinuz").write_bytes(b"k")
    conf.write_text(f"projects {workdir / 'projects'}\nlibvirt_uri test:///default\nkernel {workdir / 'vmlinuz'}\n")
    os.environ["MLN_CONF"] = str(conf)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    image = workdir / "tiny.img"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(image), "16M"], check=True)
    from templates_registry.models import Template

    Template.register(image, name="tiny")


def project_file(hosts):
    lines = ["global { project bench }", "switch lan { }"]
    lines += [f"host h{n} {{ template tiny\n memory 128M\n network eth0 {{ switch lan\n address 10.1.{n // 250}.{n % 250 + 1}\n"
              f" netmask 255.255.0.0 }} }}" for n in range(hosts)]
    return "\n".join(lines) + "\n"


def timed(label, action):
    started = time.perf_counter()
    build = action()
    seconds = time.perf_counter() - started
    assert build.status == "succeeded", build.error
    print(f"{label:<8} {seconds:6.2f} s")
    return seconds


def main(hosts=1000):
    with tempfile.TemporaryDirectory() as workdir:
        setup(Path(workdir), hosts)
        from daemon import conf, jobs
        from daemon.hypervisor import Hypervisor
        from projects import lang
        from projects.models import Build, Project

        spec = lang.build_spec(lang.loads(project_file(hosts), "bench.mln"))
        project = Project.objects.create(name="bench", source_name="bench.mln", spec=spec.to_dict())
        mln_conf = conf.load()
        with Hypervisor("test:///default") as hypervisor:  # keeps the driver's state between jobs
            def job(action):
                build = Build.objects.create(project=project, action=action, options={"service_host": "localhost"})
                return lambda: jobs.run(build.pk, conf=mln_conf)

            print(f"{hosts} hosts on test:///default")
            total = timed("build", job("build")) + timed("start", job("start"))
            print(f"{'total':<8} {total:6.2f} s (target under 5 s)")
            assert len(hypervisor.project_objects("bench").domains) == hosts


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
