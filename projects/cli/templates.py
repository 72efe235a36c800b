"""`mln register_template` (`mln rt`): add a template image to the registry.

Imports inside the verbs are deliberate: `mln` imports this module to build its
parser before `django.setup()` (projects/cli/__init__.py), so whatever reaches
Django's models is imported once a verb runs, after app loading.
"""

from projects.cli import CommandError, verb


def register(verbs):
    parser = verb(
        verbs,
        "register_template",
        run_register_template,
        aliases=["rt"],
        needs_django=True,
        help="register a template image (raw or qcow2, read from its content) under a name",
    )
    parser.add_argument("-t", dest="file", metavar="FILE", required=True, help="the image file")
    parser.add_argument("--name", help="the name hosts use in `template NAME` (default: the file's name)")
    parser.add_argument(
        "--boot",
        choices=["pv", "hvm"],
        default="pv",
        help="pv: a filesystem booted with the host's kernel and initrd; hvm: a disk with its own boot loader",
    )
    parser.add_argument("--description", default="")


def run_register_template(args):
    from projects.cli.lifecycle import load_conf
    from templates_registry.models import Template, TemplateError, image_limits

    limits = image_limits(load_conf(args))  # max_template and max_disk of mln.conf
    try:
        template = Template.register(
            args.file, name=args.name, boot=args.boot, description=args.description, limits=limits
        )
    except TemplateError as exc:
        raise CommandError(str(exc)) from None
    print(
        f"{template.name}: {template.format}, {template.boot}, {template.virtual_size} bytes, "
        f"sha256 {template.sha256[:12]}, {template.image}"
    )
