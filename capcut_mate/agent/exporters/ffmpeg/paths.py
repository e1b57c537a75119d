"""Paths inside a draft folder: from the URLs its files are served at, and from the paths
its materials were saved with.

A material keeps the path it had where the draft was made: usually absolute and often
Windows (`C:\\Users\\…\\<draft id>\\assets\\video\\a.mp4`), or capcut-mate's own
(`/app/output/draft/<draft id>/assets/videos/a.mp4`), sometimes relative. It is matched to
the draft file whose path under the folder its own path ends with, the longest such.
Every path under the folder is checked so that nothing can be written outside it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

_SEPARATORS = re.compile(r"[/\\]")
_UNSAFE_NAME_CHARACTERS = re.compile(r"[^\w.-]+")


# A draft using more materials than this is refused (导出草稿失败: 草稿素材过多): JianYing
# drafts use tens, at most hundreds; a hostile one could make matching and probing endless.
MAX_MATERIALS = 2000


class UnsafePath(ValueError):
    pass


def safe_relative_path(path: str) -> str:
    """`path` as a '/'-separated path under a folder; refuses anything that could leave it."""
    parts = _SEPARATORS.split(path)
    if any(part in ("", ".", "..") or ":" in part or "\0" in part for part in parts):
        raise UnsafePath(f"草稿文件路径不安全: {path!r}")
    return "/".join(parts)


def folder_paths(urls: Iterable[str], draft_id: str | None) -> dict[str, str]:
    """Each file's path under the draft folder → its URL.

    capcut-mate serves a draft's files under a path that ends in the draft id; when not every
    URL has the id as a folder, the draft folder is the URLs' longest common folder.
    """
    urls = list(urls)
    split = [[unquote(part) for part in urlsplit(url).path.split("/")] for url in urls]
    if draft_id and all(draft_id in parts[:-1] for parts in split):
        starts = [parts.index(draft_id) + 1 for parts in split]
    else:
        starts = [_common_prefix_length([parts[:-1] for parts in split])] * len(split)
    paths: dict[str, str] = {}
    for url, parts, start in zip(urls, split, starts):
        paths.setdefault(safe_relative_path("/".join(parts[start:])), url)
    return paths


class FolderIndex:
    """The folder's files by their path read backwards (a trie of path parts, last part
    first): a material's file is found in one walk along its own path, whatever the number
    of files, so matching a draft costs O(materials + files) path parts, not their product."""

    def __init__(self, folder_files: Iterable[str]):
        self._root: dict = {}
        for path in folder_files:
            node = self._root
            for part in reversed(path.split("/")):
                node = node.setdefault(part, {})
            node[None] = path  # a file ends here (no part is None)

    def locate(self, material_path: str) -> str | None:
        """The folder file a material's saved path names: the longest one its path ends with."""
        node, best = self._root, None
        for part in reversed(_SEPARATORS.split(material_path)):
            if not part:
                continue
            node = node.get(part)
            if node is None:
                break
            best = node.get(None, best)
        return best


def locate(material_path: str, folder_files: Iterable[str]) -> str | None:
    """One material's file among `folder_files` (for many materials, build a FolderIndex once)."""
    return FolderIndex(folder_files).locate(material_path)


def download_name(url: str, index: int) -> str:
    """A safe local file name for a material the draft names by URL, keeping its extension."""
    last = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return f"{index}-{_UNSAFE_NAME_CHARACTERS.sub('_', last)[-80:] or 'material'}"


def _common_prefix_length(lists: list[list[str]]) -> int:
    length = 0
    for column in zip(*lists):
        if any(item != column[0] for item in column):
            break
        length += 1
    return length
