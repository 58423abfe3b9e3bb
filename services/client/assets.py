"""What a page makes the browser fetch: its stylesheets, scripts, images, icons and fonts."""

from __future__ import annotations

from html.parser import HTMLParser


class AssetFinder(HTMLParser):
    """Collect the URLs a browser would fetch to render the page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if (
            tag == "link"
            and a.get("href")
            and (a.get("rel") or "") in ("stylesheet", "icon", "preload")
        ):
            self.urls.append(str(a["href"]))
        elif tag in ("script", "img") and a.get("src"):
            self.urls.append(str(a["src"]))
