"""Paging generators that do the right thing by themselves (CIVITAI_API.md §6).

* With ``query``: cursor paging only (``page`` together with ``query`` is a 400).
* Without: page paging (``page=1, 2, ...``), switching to the last ``nextCursor`` before
  ``page*limit`` would pass the 1000-item cap (which answers 429 "use cursors instead").
* End of data is the absence of ``nextCursor``/``nextPage``; a short page is NOT the end, because
  Civitai filters items after the query. Stop on a repeated cursor and at ``max_items``.
* Items already yielded (by id) are not yielded again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Optional

from .records import Page

log = logging.getLogger(__name__)

MAX_LIMIT_MODELS = 100
MAX_LIMIT_IMAGES = 200


def _page_size(page_size: Optional[int], max_items: Optional[int], maximum: int, default: int) -> int:
    if page_size:
        return max(1, min(int(page_size), maximum))
    if max_items:
        return max(1, min(int(max_items), maximum))
    return default


def iter_pages(fetch: Callable[..., Page], *, limit: int, cursor_only: bool, page_cap: int = 1000,
               start_cursor: Optional[str] = None, max_pages: Optional[int] = None) -> Iterator[Page]:
    """Yield pages from ``fetch(limit=, page=, cursor=)`` until the data ends.

    ``fetch`` is called with exactly one of ``page``/``cursor`` set (or neither, for the first
    cursor-paged request)."""
    cursor = start_cursor
    page_no = 1
    seen: set[str] = set()
    use_cursor = cursor_only or cursor is not None
    pages = 0
    while True:
        if use_cursor:
            result = fetch(limit=limit, cursor=cursor, page=None)
        else:
            result = fetch(limit=limit, cursor=None, page=page_no)
        pages += 1
        yield result
        next_cursor = result.next_cursor
        if max_pages is not None and pages >= max_pages:
            return
        if not next_cursor:
            if not use_cursor and result.next_page and (page_no + 1) * limit <= page_cap:
                page_no += 1  # legacy metadata: nextPage without a cursor
                continue
            return
        if next_cursor in seen or next_cursor == cursor:
            log.warning("Civitai repeated a paging cursor; stopping here")
            return
        seen.add(next_cursor)
        if use_cursor:
            cursor = next_cursor
        elif (page_no + 1) * limit > page_cap:
            # §6: the next page would pass page*limit > 1000 (a 429); continue from the cursor instead.
            use_cursor = True
            cursor = next_cursor
        else:
            page_no += 1


def iter_items(pages: Iterator[Page], max_items: Optional[int], key: Callable = lambda item: item.id) -> Iterator:
    if max_items is not None and max_items <= 0:
        return
    done: set = set()
    count = 0
    for page in pages:
        for item in page.items:
            k = key(item)
            if k is not None and k in done:
                continue
            if k is not None:
                done.add(k)
            yield item
            count += 1
            if max_items is not None and count >= max_items:
                return


def iter_models(client, query=None, *, max_items=None, page_size=None, cursor=None, **filters) -> Iterator:
    """Models matching ``query``/filters (the keyword arguments of ``search_models_page``)."""
    filters.pop("page", None)
    filters.pop("limit", None)
    limit = _page_size(page_size, max_items, MAX_LIMIT_MODELS, 100)

    def fetch(*, limit, cursor, page):
        return client.search_models_page(query, limit=limit, cursor=cursor, page=page, **filters)

    pages = iter_pages(fetch, limit=limit, cursor_only=bool(query), page_cap=getattr(client, "page_cap", 1000),
                       start_cursor=cursor)
    return iter_items(pages, max_items)


def iter_images(client, *, max_items=None, page_size=None, cursor=None, **params) -> Iterator:
    """Images from ``/images`` (same page cap as /models; images on some routes lack an id)."""
    params.pop("page", None)
    params.pop("limit", None)
    limit = _page_size(page_size, max_items, MAX_LIMIT_IMAGES, 100)

    def fetch(*, limit, cursor, page):
        extra = {"cursor": cursor} if cursor else {"page": page} if page else {}
        return client.images_page(limit=limit, **extra, **params)

    pages = iter_pages(fetch, limit=limit, cursor_only=False, page_cap=getattr(client, "page_cap", 1000),
                       start_cursor=cursor)
    return iter_items(pages, max_items, key=lambda image: image.id if image.id is not None else image.url)
