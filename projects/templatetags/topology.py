"""`{% topology project %}`: the project's picture (projects/topology.py), host colours from its Host rows."""

from django import template

from projects.topology import layout

register = template.Library()


@register.inclusion_tag("projects/topology.html")
def topology(project):
    states = {h.name: h.state for h in project.hosts.all()}  # prefetched on the course page
    return {"picture": layout(project.spec, states), "project": project}
