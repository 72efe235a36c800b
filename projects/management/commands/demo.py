"""`python manage.py demo`: the demo of `make run`, made once (a second run changes nothing).

- The article's template names (os_linux_1.ext3, winXP.template) registered
  as aliases of the `tiny` image (`make tiny` registers tiny), so the
  article's master builds here as it is.
- Logins: an instructor and a staff user (a superuser). Their passwords are
  made when the accounts are, and printed that once (`make run` shows them):
  a password in this file would be everyone's. An account still on the old
  public demo password gets a new one.
- The article's OS course from projects/demo/ (oscourse.mln, Listing 5, and
  a four-group table), owned by the instructor.

It prints the logins and one student's access link.
"""

import secrets
from pathlib import Path

from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from projects.courses import CourseInputs
from projects.models import Course
from projects.variable_table import CourseError
from projects.views import INSTRUCTORS_GROUP
from templates_registry.models import Template

DEMO = Path(__file__).resolve().parents[2] / "demo"
ALIASES = ("os_linux_1.ext3", "winXP.template")
INSTRUCTOR, ADMIN = "instructor", "admin"
# The passwords earlier versions gave these accounts, published in the README.
PUBLIC_PASSWORDS = {"instructor": "mln-demo", "admin": "mln-admin"}
COURSE = ("Operating systems (demo)", "os")


class Command(BaseCommand):
    help = "Load the demo course, its template aliases and demo logins (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="for the printed links")

    def handle(self, base_url, **options):
        self.register_aliases()
        instructor, instructor_password = self.user(INSTRUCTOR, instructor=True)
        _, admin_password = self.user(ADMIN, staff=True)
        course = self.course(instructor)
        group = course.groups.order_by("row").first()
        self.stdout.write(
            f"instructor login: {INSTRUCTOR} / {self.shown(INSTRUCTOR, instructor_password)}   "
            f"(course page: {base_url}{course.get_absolute_url()})"
        )
        self.stdout.write(
            f"staff login:      {ADMIN} / {self.shown(ADMIN, admin_password)}   ({base_url}{reverse('admin:index')})"
        )
        self.stdout.write(f"student of group 1 ({group.project.name}): {base_url}{group.access_path()}")

    @staticmethod
    def shown(username, password):
        return password or f"(printed when it was made; `manage.py changepassword {username}` sets another)"

    def register_aliases(self):
        tiny = Template.objects.filter(name="tiny").first()
        if tiny is None:
            raise CommandError("no template `tiny`: run `make tiny` first")
        for name in ALIASES:
            Template.register(tiny.image, name=name, boot=tiny.boot, description="the demo's alias of tiny")

    def user(self, username, instructor=False, staff=False):
        """The account, and its new password when one was made now (else None: it is not kept)."""
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": staff, "is_superuser": staff}
        )
        password = None
        if created or user.check_password(PUBLIC_PASSWORDS[username]):
            password = secrets.token_urlsafe(12)
            user.set_password(password)
            user.save()
        if instructor:
            user.groups.add(AuthGroup.objects.get_or_create(name=INSTRUCTORS_GROUP)[0])
        return user, password

    def course(self, owner):
        name, short_name = COURSE
        course = Course.objects.filter(short_name=short_name).first()
        if course:
            return course  # already loaded: its groups keep their links and passwords
        master = (DEMO / "oscourse.mln").read_text()
        inputs = CourseInputs(
            "oscourse.mln", {"oscourse.mln": master}, "groups.csv", (DEMO / "groups.csv").read_bytes()
        )
        course = Course(name=name, short_name=short_name, owner=owner)
        try:
            course.apply(inputs)
        except CourseError as exc:
            raise CommandError("the demo course does not expand:\n" + "\n".join(map(str, exc.problems))) from exc
        return course
