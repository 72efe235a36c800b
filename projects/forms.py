"""Upload forms of the course pages.

A form turns uploaded files into CourseInputs and expands them: a course
whose expansion has any problem is not valid, and `form.problems` holds
every problem with its position for the page to show inline.
"""

import os

from django import forms

from daemon import conf as mlnconf
from projects.courses import CourseInputs, limits_from_conf
from projects.lang.limits import shown_size
from projects.models import Course
from projects.variable_table import CourseError
from templates_registry.models import Template

TABLE_TYPES = (".csv", ".xlsx", ".txt")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented recipe)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, (list, tuple)):
            return [super(MultipleFileField, self).clean(d, initial) for d in data]
        return [super().clean(data, initial)] if data else []


class CourseFilesForm(forms.Form):
    """The files of a course. Subclasses say which are required and what to expand against."""

    master = forms.FileField(label="Master .mln", help_text="the file every group's project includes")
    extra_files = MultipleFileField(
        label="Files it includes", required=False, help_text="any files the master #includes, by the names it uses"
    )
    table = forms.FileField(
        label="Variable table",
        help_text="CSV (comma or semicolon, UTF-8) or XLSX; "
        "header row of variable names, one row per group; @random makes a password",
    )

    problems = ()
    expansion = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        conf = mlnconf.load()
        self.limits, self.default_template = limits_from_conf(conf), conf.default_template

    def templates(self):
        """The templates a host may name, for the page to list (`template NAME`)."""
        return Template.objects.only("name", "description", "boot")

    def clean_master(self):
        return _bounded(self.cleaned_data.get("master"), self.limits.max_upload, "a .mln file", "max_upload")

    def clean_extra_files(self):
        return [
            _bounded(upload, self.limits.max_upload, "a .mln file", "max_upload")
            for upload in self.cleaned_data.get("extra_files", [])
        ]

    def clean_table(self):
        table = self.cleaned_data.get("table")
        if table and not table.name.lower().endswith(TABLE_TYPES):
            raise forms.ValidationError("the table must be a .csv or .xlsx file")
        return _bounded(table, self.limits.max_table_upload, "the table", "max_table_upload")

    def inputs(self, base=None):
        """The uploaded files over `base` (the course's current inputs, when updating)."""
        data = self.cleaned_data
        files = dict(base.files) if base else {}
        master_name = base.master_name if base else None
        if data.get("master"):
            files.pop(master_name, None)
            master_name = os.path.basename(data["master"].name)
        for upload in [data.get("master"), *data.get("extra_files", [])]:
            if upload:
                files[os.path.basename(upload.name)] = _text(upload)
        table = data.get("table")
        table_name = os.path.basename(table.name) if table else base.table_name
        return CourseInputs(master_name, files, table_name, table.read() if table else base.table)

    def expand(self, course, inputs):
        """Expand, or keep every problem for the page; True when there is none."""
        try:
            self.expansion = course.check_templates(course.expand(inputs))
        except CourseError as exc:
            self.problems = exc.problems
            self.add_error(None, f"{len(exc.problems)} problem(s) in the course: nothing was stored")
            return False
        return True


class NewCourseForm(CourseFilesForm):
    name = forms.CharField(max_length=200, help_text="e.g. Operating systems, spring term")
    # A SlugField: ASCII letters, digits, hyphens and underscores, as the help text says (and as project names allow).
    short_name = forms.SlugField(
        max_length=40,
        help_text="letters, digits, hyphens (-) and underscores (_), at most 40: $course, "
        "and project names when the master gives none",
    )

    field_order = ["name", "short_name", "master", "extra_files", "table"]

    def __init__(self, *args, owner, kept=None, **kwargs):
        """`kept`: the CourseDraft of this instructor's last try; its files stand in for those not uploaded again."""
        super().__init__(*args, **kwargs)
        self.course = Course(owner=owner)
        self.use_kept(kept)

    def use_kept(self, kept):
        """The files of `kept` stand in for those not uploaded: the page no longer requires them."""
        self.kept = kept
        for name, kept_name in (("master", "master_name"), ("table", "table_name")):
            if kept and getattr(kept, kept_name):
                self.fields[name].required = False
                self.fields[name].help_text = f"kept from your last upload: {getattr(kept, kept_name)}"

    def clean_short_name(self):
        short_name = self.cleaned_data["short_name"]
        if Course.objects.filter(short_name=short_name).exists():
            raise forms.ValidationError("a course with this short name exists already")
        return short_name

    def clean(self):
        data = super().clean()
        if not self.errors:
            self.course.name, self.course.short_name = data["name"], data["short_name"]
            self.course_inputs = self.inputs(self.kept.inputs() if self.kept else None)
            self.expand(self.course, self.course_inputs)
        return data

    def uploaded_inputs(self):
        """The files of this try over those kept, valid or not, to keep for the next try; None when none."""
        if not hasattr(self, "cleaned_data"):
            return None
        base = self.kept.inputs() if self.kept else CourseInputs("", {}, "", b"")
        data = self.cleaned_data
        for upload in [data.get("master"), data.get("table"), *data.get("extra_files", [])]:
            if upload:
                upload.seek(0)  # clean() read them once
        try:
            inputs = self.inputs(base)
        except forms.ValidationError:  # not UTF-8: nothing worth keeping
            return None
        return inputs if inputs.files or inputs.table else None


class UpdateCourseForm(CourseFilesForm):
    """A new version of any of the files: what is not uploaded stays as it is."""

    def __init__(self, *args, course, **kwargs):
        super().__init__(*args, **kwargs)
        self.course = course
        for name in ("master", "table"):
            self.fields[name].required = False

    def clean(self):
        data = super().clean()
        if not self.errors:
            if not (data.get("master") or data.get("extra_files") or data.get("table")):
                raise forms.ValidationError("upload at least one file")
            self.course_inputs = self.inputs(self.course.inputs())
            self.expand(self.course, self.course_inputs)
        return data


def _bounded(upload, limit, what, key):
    """Refuse an upload by its size, before it is read (Django keeps a large one on disk meanwhile)."""
    if upload and upload.size > limit:
        raise forms.ValidationError(
            f"{upload.name} is {shown_size(upload.size)}: {what} may have at most "
            f"{shown_size(limit)} ({key} in mln.conf)"
        )
    return upload


def _text(upload):
    try:
        return upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise forms.ValidationError(f"{upload.name} is not UTF-8 text") from None
