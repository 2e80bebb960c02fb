"""Prints, as JSON, how Python (the interpreter Prefect runs on) classifies
every code point for the parts of templating that depend on Unicode:
placeholder name characters and surrounding whitespace (Prefect's regex),
characters repr() escapes, and characters int() reads as digits."""
import json
import sys
import unicodedata

from prefect.utilities.templating import PLACEHOLDER_CAPTURE_REGEX as R


def ranges(pred):
    out, start = [], None
    for cp in range(0x110000):
        ok = not (0xD800 <= cp <= 0xDFFF) and pred(chr(cp))
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            out.append([start, cp - 1])
            start = None
    if start is not None:
        out.append([start, 0x10FFFF])
    return out


def int_value(c):
    try:
        return int(c)
    except ValueError:
        return None


json.dump(
    {
        "unidata_version": unicodedata.unidata_version,
        "name": ranges(lambda c: R.fullmatch("{{ " + c + " }}") is not None),
        "space": ranges(lambda c: (m := R.fullmatch("{{" + c + "a}}")) is not None and m.group(2) == "a"),
        "escaped": ranges(lambda c: repr(c) != "'" + c + "'"),
        "unassigned": ranges(lambda c: unicodedata.category(c) == "Cn"),
        "digits": [[cp, int_value(chr(cp))] for cp in range(0x110000)
                   if not (0xD800 <= cp <= 0xDFFF) and int_value(chr(cp)) is not None],
    },
    sys.stdout,
)
