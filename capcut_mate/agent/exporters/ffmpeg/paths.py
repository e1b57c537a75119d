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


def locate(material_path: str, folder_files: Iterable[str]) -> str | None:
    """The folder file a material's saved path names: the longest one its path ends with."""
    parts = [part for part in _SEPARATORS.split(material_path) if part]
    best: list[str] = []
    for candidate in folder_files:
        candidate_parts = candidate.split("/")
        if len(candidate_parts) > len(best) and parts[-len(candidate_parts):] == candidate_parts:
            best = candidate_parts
    return "/".join(best) if best else None


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
