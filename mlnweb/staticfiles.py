"""The /static/ files of a one-machine site (mlnweb/asgi.py serves them when SERVE_STATIC)."""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404, HttpResponseNotFound


class StaticFiles(ASGIStaticFilesHandler):
    """Django's handler, answering a plain 404 for a file that is not there and for a path that climbs
    out of the static folders (`/static/../x`, which the finders refuse with SuspiciousFileOperation).

    Django's handler let the latter become a 500, and rendered the former with the site's 404 page,
    whose context processors need the request's user, which no middleware set here: a 500 too.
    """

    def serve(self, request):
        try:
            return super().serve(request)
        except (Http404, SuspiciousFileOperation):
            return HttpResponseNotFound("Not found", content_type="text/plain")
