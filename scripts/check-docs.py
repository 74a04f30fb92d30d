#!/usr/bin/env python3
"""Check the relative links of the project's markdown documents.

Every relative link and #anchor in README.md, ARCHITECTURE.md, BENCHMARKS.md,
CHANGELOG.md and docs/*.md must point to an existing file and, for a link to a
markdown file with an anchor (or to an anchor in the same file), to a heading
of that file. Anchors follow GitHub's rules: the heading's text (code and link
markup removed) in lower case, spaces turned into '-', punctuation other than
'-' and '_' removed, and '-1', '-2', ... appended to repeated headings.

Links to other sites (http:, https:, mailto:) are not checked. Text inside
fenced code blocks and inline code spans is not a link.

Usage: scripts/check-docs.py [FILE.md ...]   (default: the documents above)
Exit status 0 when every link resolves, 1 otherwise (each broken link is
listed as FILE:LINE: target: reason).
"""

import os
import re
import sys
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = ["README.md", "ARCHITECTURE.md", "BENCHMARKS.md", "CHANGELOG.md"]

FENCE = re.compile(r"^\s{0,3}(```|~~~)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
CODE_SPAN_ML = re.compile(r"(`+)(.+?)\1", re.S)
# [text](target "title") and ![alt](target); the text may hold brackets one
# level deep (e.g. [`[global]`](#global)).
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.I)
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def heading_text(raw):
    """The text GitHub renders for a heading's markdown."""
    text = CODE_SPAN.sub(lambda m: m.group(2).strip(), raw)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    # Emphasis markers around words (not the underscores inside them).
    text = re.sub(r"(\*{1,3}|(?<!\w)_{1,3})(\S.*?\S|\S)\1(?!\w)", r"\2", text)
    return text


def slug(text):
    """GitHub's anchor for a heading's rendered text."""
    out = []
    for ch in text.lower():
        if ch in "-_" or ch == " ":
            out.append("-" if ch == " " else ch)
        elif unicodedata.category(ch)[0] in "LN" or unicodedata.category(ch) == "Mn":
            out.append(ch)
        # anything else (punctuation, symbols) is dropped
    return "".join(out)


def scan(path):
    """Headings' anchors and links (line, target) of one markdown file."""
    anchors, links, seen = set(), [], {}
    fence = None
    text = []  # the lines outside fenced code, blank inside it
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            m = FENCE.match(line)
            if m:
                if fence is None:
                    fence = m.group(1)
                elif m.group(1) == fence:
                    fence = None
                text.append("")
                continue
            if fence is not None:
                text.append("")
                continue
            h = HEADING.match(line)
            if h:
                base = slug(heading_text(h.group(2)))
                n = seen.get(base, 0)
                seen[base] = n + 1
                anchors.add(base if n == 0 else f"{base}-{n}")
            anchors.update(HTML_ANCHOR.findall(line))
            text.append(line)
    # A link's text may be wrapped over several lines of a paragraph (and a
    # code span too), so links are looked for paragraph by paragraph.
    start = 0
    while start < len(text):
        if not text[start].strip():
            start += 1
            continue
        end = start
        while end < len(text) and text[end].strip():
            end += 1
        para = "\n".join(text[start:end])
        para = CODE_SPAN_ML.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), para)
        for m in INLINE_LINK.finditer(para):
            links.append((start + 1 + para.count("\n", 0, m.start()), m.group(1)))
        for offset, line in enumerate(para.split("\n")):
            r = REFERENCE_DEF.match(line)
            if r:
                links.append((start + 1 + offset, r.group(1)))
        start = end
    return anchors, links


def main(argv):
    os.chdir(ROOT)
    files = argv[1:] or DEFAULT + sorted(
        os.path.join("docs", f) for f in os.listdir("docs") if f.endswith(".md")
    )
    cache = {}

    def anchors_of(path):
        if path not in cache:
            cache[path] = scan(path)[0]
        return cache[path]

    broken = []
    checked = 0
    for doc in files:
        if not os.path.isfile(doc):
            broken.append(f"{doc}: no such file")
            continue
        _, links = scan(doc)
        for number, target in links:
            if not target or EXTERNAL.match(target) or target.startswith("//"):
                continue
            checked += 1
            where, _, anchor = target.partition("#")
            if where:
                dest = os.path.normpath(os.path.join(os.path.dirname(doc), where))
                if not os.path.exists(dest):
                    broken.append(f"{doc}:{number}: {target}: {dest} does not exist")
                    continue
            else:
                dest = doc
            if anchor and dest.endswith(".md") and os.path.isfile(dest):
                if anchor not in anchors_of(dest):
                    broken.append(f"{doc}:{number}: {target}: no heading '#{anchor}' in {dest}")
    for b in broken:
        print(b)
    if broken:
        print(f"check-docs: {len(broken)} broken of {checked} relative links", file=sys.stderr)
        return 1
    print(f"check-docs: {checked} relative links in {len(files)} files, all resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
