"""Evidently's report as served: its embedded window data can never end its script.

Evidently writes the data as `json.dumps` output inside an inline `<script>`, so a value
such as `</script><script>...` from a pushed record would close it and run as script.
Every `<`, `>` and `&` of that data becomes its `\\u00XX` escape: the same JSON to the
script, nothing an HTML parser can read as a tag or a comment.
"""

from __future__ import annotations

# Evidently's own template (evidently.legacy.utils.dashboard.file_html_template): the data
# script opens with the dashboard's variable and closes on a line of its own. JSON text
# holds no raw newline, so the first "\n</script>" after the opening is the template's.
DATA_OPEN = "<script>\n    var metric_"
DATA_CLOSE = "\n</script>"
ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


def safe_report_html(snapshot) -> str:
    """The snapshot's standalone HTML with its data script made inert to the HTML parser."""
    html = snapshot.get_html_str(as_iframe=False)
    start = html.find(DATA_OPEN)
    end = html.find(DATA_CLOSE, start)
    if start < 0 or end < 0 or html.find(DATA_OPEN, start + 1) >= 0:
        # Fail closed: a layout this module does not know is never served unescaped.
        raise RuntimeError("Evidently's report layout changed: cannot escape its data")
    body_start = start + len("<script>")
    return html[:body_start] + escape_script_data(html[body_start:end]) + html[end:]


def escape_script_data(text: str) -> str:
    """JSON (or JavaScript made of JSON literals) with no `<`, `>` or `&` left in it."""
    for char, escape in ESCAPES.items():
        text = text.replace(char, escape)
    return text
