"""`{% portal_nav %}`: the sidebar of the portal's base template, from the apps' links (jood/nav.py)."""

from django import template
from django.urls import reverse

from jood import nav

register = template.Library()


@register.inclusion_tag("jood/_nav.html", takes_context=True)
def portal_nav(context) -> dict:
    request = context["request"]
    can = getattr(request, "can", None)
    section = getattr(request, "section", "")
    groups = []
    for key, heading in nav.GROUPS.items():
        items = [
            {
                "label": link.label,
                "url": reverse(link.url_name),
                "current": link.section == section,
                "badge": context.get(link.badge) if link.badge else None,
            }
            for link in nav.links()
            if link.group == key and (not link.needs or getattr(can, link.needs, False))
        ]
        if items:
            groups.append({"heading": heading, "items": items})
    return {"groups": groups}
