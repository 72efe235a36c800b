"""Templates in the admin: a list, and an upload form that registers the file."""

import os
import shutil
import tempfile
from pathlib import Path

from django import forms
from django.contrib import admin
from django.template.defaultfilters import filesizeformat

from daemon import conf as mlnconf
from projects.retirement import template_users

from .models import Template, TemplateError, image_limits, inspect_image, templates_dir


class TemplateUploadForm(forms.ModelForm):
    upload = forms.FileField(
        help_text="a qcow2 image that stands alone (no backing file), or a raw filesystem "
        "or disk image; its format is read from its content"
    )

    class Meta:
        model = Template
        fields = ["name", "boot", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].required = False
        self.fields["name"].help_text += " (the file's name when left blank)"

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("upload")
        if upload is None:
            return cleaned
        filename = Path(upload.name).name
        if not filename or filename.startswith("."):
            raise forms.ValidationError({"upload": "the file needs a name"})
        cleaned["name"] = name = cleaned.get("name") or filename
        # The file is stored under the template's name, so that name must be a file name.
        if "/" in name or name.startswith("."):
            raise forms.ValidationError({"name": "a template name cannot hold '/' or start with '.'"})
        if Template.objects.filter(image=str(templates_dir() / name)).exclude(name=name).exists():
            raise forms.ValidationError({"name": f"another template's image is already stored as {name!r}"})
        try:
            self.instance.format, self.instance.virtual_size, self.instance.sha256 = self._inspect(upload)
        except TemplateError as exc:  # also a broken mln.conf: one line on the form, never a 500
            raise forms.ValidationError({"upload": str(exc)}) from exc
        self.instance.name = cleaned["name"]
        return cleaned

    def validate_unique(self):
        # The name may have been filled in from the file in clean(), after the
        # field checks: check uniqueness against what will be saved.
        if Template.objects.filter(name=self.instance.name).exclude(pk=self.instance.pk).exists():
            self.add_error("name", f"a template named {self.instance.name!r} is already registered")

    @staticmethod
    def _inspect(upload):
        limits = image_limits()
        if upload.size > limits.max_file:
            raise TemplateError(
                f"{upload.name}: {upload.size} bytes is above max_template ({limits.max_file} bytes) of mln.conf"
            )
        if hasattr(upload, "temporary_file_path"):
            return inspect_upload(upload, upload.temporary_file_path(), limits)
        # Small uploads stay in memory; qemu-img and blkid need a file.
        with tempfile.NamedTemporaryFile(suffix=".upload") as f:
            for chunk in upload.chunks():
                f.write(chunk)
            f.flush()
            return inspect_upload(upload, f.name, limits)


def inspect_upload(upload, path, limits):
    try:
        return inspect_image(path, limits)
    except TemplateError as exc:
        # The message names a temporary file; the user knows their upload by its name.
        raise TemplateError(str(exc).replace(str(path), Path(upload.name).name)) from exc


def store_upload(upload, name):
    """Write the uploaded file under the templates folder as `name`; its path."""
    folder = templates_dir()
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / name
    # A half-written file must never sit under a template's name.
    fd, partial = tempfile.mkstemp(dir=folder, prefix=".upload-")
    with os.fdopen(fd, "wb") as f:
        upload.seek(0)
        shutil.copyfileobj(upload, f, 1 << 20)
    os.replace(partial, dest)
    os.chmod(dest, 0o644)
    return dest


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "format", "boot", "size", "registered_at"]
    list_filter = ["format", "boot"]
    search_fields = ["name", "description"]
    readonly_fields = ["image", "format", "virtual_size", "sha256", "registered_at"]

    @admin.display(description="size", ordering="virtual_size")
    def size(self, template):
        return filesizeformat(template.virtual_size)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = TemplateUploadForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["upload", "name", "boot", "description"]
        return ["name", "boot", "description", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_deleted_objects(self, objs, request):
        """A template a built project still uses is protected: the admin's delete page says which
        projects and deletes nothing."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for template in objs:
            protected += [
                f"project {p.name} ({p.get_state_display()}) uses template {template.name}: remove its guests first"
                for p in template_users(template.name, default_template())
            ]
        return deleted, counts, perms_needed, protected

    def delete_queryset(self, request, queryset):
        for template in queryset:  # one by one: each removes its stored image file
            template.delete()

    def save_model(self, request, obj, form, change):
        if not change:
            obj.image = str(store_upload(form.cleaned_data["upload"], obj.name))
        super().save_model(request, obj, form, change)


def default_template():
    """The template a host naming none is built on (mln.conf `default_template`), if mln.conf says one."""
    try:
        return mlnconf.load().default_template
    except mlnconf.ConfError:
        return None
