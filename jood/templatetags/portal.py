"""Portal building blocks that every app's pages share: `{% load portal %}`.

`{% table rows %}…{% empty %}…{% endtable %}` draws a list the way every portal
page does: the rows in a scrolling `table-wrap`, the pager under them when
`rows` is a page, and one `<p class="empty">` when there is nothing to show.
"""

from __future__ import annotations

from django import template
from django.template.base import FilterExpression, NodeList, Parser, Token
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()


class TableNode(template.Node):
    def __init__(
        self,
        rows: FilterExpression | None,
        options: dict[str, FilterExpression],
        body: NodeList,
        empty: NodeList | None,
    ):
        self.rows, self.options, self.body, self.empty = rows, options, body, empty

    def render(self, context: template.Context) -> str:
        rows = self.rows.resolve(context) if self.rows is not None else True
        options = {name: value.resolve(context) for name, value in self.options.items()}
        # A page (CheapPage or Django's Page) is empty when its object_list is, and brings its pager.
        pages = options.get("pages", rows if hasattr(rows, "object_list") else None)
        if not (rows.object_list if hasattr(rows, "object_list") else rows):
            if self.empty is None:
                return ""
            return format_html('<p class="empty">{}</p>', mark_safe(self.empty.render(context).strip()))
        css = options.get("class")
        html = format_html(
            '<div class="table-wrap">\n<table{}>{}</table>\n</div>',
            format_html(' class="{}"', css) if css else "",
            mark_safe(self.body.render(context)),
        )
        if pages is not None:
            pager = context.template.engine.get_template("jood/_pagination.html")
            with context.push(page=pages):
                html += pager.render(context)
        return html


@register.tag
def table(parser: Parser, token: Token) -> TableNode:
    """`{% table rows [pages=page] [class="compact"] %}<thead>…</thead><tbody>…</tbody>{% empty %}text{% endtable %}`.

    Without `rows` the table is always drawn. The text after `{% empty %}` goes in
    `<p class="empty">`; without `{% empty %}` an empty list draws nothing.
    """
    bits = token.split_contents()[1:]
    rows = None
    options: dict[str, FilterExpression] = {}
    for bit in bits:
        name, eq, value = bit.partition("=")
        if eq:
            options[name] = parser.compile_filter(value)
        elif rows is None:
            rows = parser.compile_filter(bit)
        else:
            raise template.TemplateSyntaxError(f"table: unexpected {bit!r}")
    body = parser.parse(("empty", "endtable"))
    empty = None
    if parser.next_token().contents == "empty":
        empty = parser.parse(("endtable",))
        parser.delete_first_token()
    return TableNode(rows, options, body, empty)
