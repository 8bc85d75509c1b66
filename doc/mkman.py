#!/usr/bin/python3
"""Turns doc/postern.8.md (a small, fixed subset of Markdown) into a man(7) roff page.

    python3 doc/mkman.py doc/postern.8.md build/postern.8 [--version-header src/version.h]

The subset, so the page stays readable both on a forge and in man(1):

    <!-- man: NAME SECTION "FOOTER-MIDDLE" "HEADER-MIDDLE" -->   first line: the .TH fields
    # SECTION                  .SH SECTION (upper-cased)
    ## Subsection              .SS Subsection
    paragraph text             .PP, lines joined; a blank line ends it
    **term** rest              a definition: the term line, then
    : description              one or more ": " lines (indented paragraph, .TP)
    - item                     a bullet (.IP), continuation lines indented by two spaces
    ```                        a literal block (.nf/.fi, indented)
    **bold**, *italic*, `literal` (shown bold)   inline, not nested
    |  a | b |                 a table row: rendered as a literal block

Standard library only. Exits 1 with "file:line: message" on anything outside the subset, so
the page cannot silently lose text.
"""
import argparse
import datetime
import os
import re
import sys

INLINE = re.compile(r"(\*\*[^*]+\*\*|\*[^*\s][^*]*\*|`[^`]+`)")
HEADER = re.compile(r'^<!-- man: (\S+) (\d) "([^"]*)" "([^"]*)" -->$')


class ManError(Exception):
    pass


def escape(text):
    """Roff-escapes plain text (no font changes)."""
    text = text.replace("\\", "\\e")
    return text


def escape_literal(text):
    """Text inside literals and bold: '-' is a real minus (options), not a hyphen."""
    return escape(text).replace("-", "\\-")


def inline(text):
    out = []
    for part in INLINE.split(text):
        if not part:
            continue
        if part.startswith("**") and part.endswith("**"):
            out.append("\\fB" + escape_literal(part[2:-2]) + "\\fR")
        elif part.startswith("`") and part.endswith("`"):
            out.append("\\fB" + escape_literal(part[1:-1]) + "\\fR")
        elif part.startswith("*") and part.endswith("*") and len(part) > 2:
            out.append("\\fI" + escape(part[1:-1]) + "\\fR")
        else:
            if "`" in part or "**" in part:
                raise ManError(f"unbalanced inline markup in: {text}")
            out.append(escape(part))
    return "".join(out)


def line_out(text):
    """A text line: a leading '.' or "'" would be taken as a request."""
    if text.startswith(".") or text.startswith("'"):
        return "\\&" + text
    return text


def convert(lines, version, date):
    out = []
    m = HEADER.match(lines[0].rstrip("\n")) if lines else None
    if not m:
        raise ManError("1: the first line must be <!-- man: NAME SECTION \"...\" \"...\" -->")
    name, section, footer, header = m.groups()
    footer = footer.replace("VERSION", version)
    out.append(f'.TH {name.upper()} {section} "{date}" "{footer}" "{header}"')
    out.append(".nh\n.ad l")  # options and key names read better unhyphenated, ragged right
    i = 1
    paragraph = []
    state = None  # None, "list", "definition"

    section_name = ""

    def flush():
        nonlocal paragraph
        if paragraph:
            text = line_out(inline(" ".join(paragraph)))
            if section_name == "NAME":  # "name \- description", as whatis(1) expects
                text = text.replace(" - ", " \\- ", 1)
            out.append(text)
            paragraph = []

    while i < len(lines):
        raw = lines[i].rstrip("\n")
        lineno = i + 1
        i += 1
        try:
            if raw.startswith("```"):
                flush()
                out.append(".PP" if state is None else ".IP")
                out.append(".RS 4\n.nf")
                while i < len(lines) and not lines[i].startswith("```"):
                    out.append(line_out(escape_literal(lines[i].rstrip("\n"))))
                    i += 1
                if i == len(lines):
                    raise ManError("unterminated ``` block")
                i += 1
                out.append(".fi\n.RE")
                continue
            if raw.startswith("|"):
                flush()
                out.append(".PP\n.RS 4\n.nf")
                i -= 1
                while i < len(lines) and lines[i].startswith("|"):
                    row = lines[i].rstrip("\n")
                    i += 1
                    if re.fullmatch(r"\|[\s|:-]+\|", row):
                        continue  # the separator row
                    cells = [c.strip() for c in row.strip("|").split("|")]
                    out.append(line_out(inline("  ".join(f"{c:<24}" for c in cells).rstrip())))
                out.append(".fi\n.RE")
                state = None
                continue
            if raw.startswith("## "):
                flush()
                out.append(".SS " + inline(raw[3:].strip()))
                state = None
                continue
            if raw.startswith("# "):
                flush()
                section_name = raw[2:].strip().upper()
                out.append(".SH " + escape(section_name))
                state = None
                continue
            if raw.strip() == "":
                flush()
                continue
            if raw.startswith(": "):
                if state != "definition-term" and state != "definition":
                    raise ManError("': ' description without a term line before it")
                flush()
                if state == "definition":
                    out.append(".IP")
                state = "definition"
                paragraph.append(raw[2:].strip())
                continue
            if raw.startswith("- "):
                flush()
                out.append(".IP \\(bu 2")
                paragraph.append(raw[2:].strip())
                state = "list"
                continue
            if raw.startswith("  ") and state in ("list", "definition"):
                paragraph.append(raw.strip())
                continue
            if i < len(lines) and lines[i].startswith(": "):
                flush()
                out.append(".TP")
                out.append(line_out(inline(raw.strip())))
                state = "definition-term"
                continue
            if raw.startswith("#") or raw.startswith("<"):
                raise ManError(f"unsupported markup: {raw}")
            if state in ("list", "definition", "definition-term") and not paragraph:
                out.append(".PP")
                state = None
            elif not paragraph:
                out.append(".PP")
            paragraph.append(raw.strip())
        except ManError as exc:
            raise ManError(f"{lineno}: {exc}") from None
    flush()
    # .PP right after .SH/.SS is redundant; groff accepts it, but keep the output tidy.
    tidy = []
    for line in "\n".join(out).split("\n"):
        if line == ".PP" and tidy and (tidy[-1].startswith(".SH") or tidy[-1].startswith(".SS")):
            continue
        tidy.append(line)
    return "\n".join(tidy) + "\n"


def read_version(path):
    with open(path) as f:
        m = re.search(r'POSTERN_VERSION "([^"]+)"', f.read())
    if not m:
        raise ManError(f"{path}: no POSTERN_VERSION")
    return m.group(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source")
    parser.add_argument("output")
    parser.add_argument("--version-header", default="src/version.h")
    args = parser.parse_args()
    try:
        version = read_version(args.version_header)
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        stamp = int(epoch) if epoch else int(os.stat(args.source).st_mtime)
        date = datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).strftime("%Y-%m-%d")
        with open(args.source) as f:
            lines = f.readlines()
        page = convert(lines, version, date)
    except (ManError, OSError) as exc:
        print(f"mkman: {args.source}:{exc}", file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    tmp = args.output + ".tmp"
    with open(tmp, "w") as f:
        f.write(page)
    os.replace(tmp, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
