"""The portal's navigation, which the apps fill: each lists its links in `portal_nav` on its AppConfig.

The base template (jood/templates/jood/base.html) renders them with
`{% portal_nav %}` (jood/templatetags/portal_nav.py), in `order`, in the group
each names; the base lists no app. Plain data, so an apps.py can import it
before the models are ready.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps

# The groups of the sidebar, in order, with their headings ("" for none).
GROUPS = {"": "", "settings": "Settings"}


@dataclass(frozen=True)
class NavLink:
    label: str
    url_name: str
    section: str  # the page is current when its view's `portal_view(section=...)` is this
    order: int  # place in the sidebar, across apps
    group: str = ""  # a key of GROUPS
    needs: str = ""  # a flag of `request.can` ("send", "manage") without which the link is not shown
    badge: str = ""  # a template context variable whose value (a count) follows the label


def links() -> list[NavLink]:
    """Every installed app's links, in order."""
    found = [link for config in apps.get_app_configs() for link in getattr(config, "portal_nav", ())]
    return sorted(found, key=lambda link: link.order)
