"""COBOL copybooks to record layouts: where every elementary field of a record sits, as a compiler would place it.

A legacy file comes with the copybook its writer used. `parse_copybook` reads
the copybook's data description entries and gives one `RecordLayout` per 01
level, each field at the offset IBM Enterprise COBOL gives it, so records can
be cut into fields without anyone transcribing offsets by hand. It works in
three passes: the source text becomes tokens (fixed reference format:
columns 1-6 and 73-80 ignored, column 7 the indicator), the entries become a
tree of items (levels, clauses), and the tree is laid out (group lengths,
REDEFINES, OCCURS, SYNC slack bytes), then written out as fields.

What a copybook may hold is checked strictly: a clause the layout cannot honour
exactly (COPY, POINTER, national data, OCCURS DEPENDING ON anywhere but at the
end of the record...) raises `CopybookError` naming the copybook, the line and
the clause. A wrong offset would misread every record of a file silently, so
nothing is guessed.

Rules where COBOL leaves the choice to us:

- Field names are the data names, with COBOL subscripts for OCCURS elements,
  outer index first: "AMOUNT(2)", "ITEM-CODE(2,3)". FILLER and unnamed items
  take their bytes but give no field.
- The same data name twice in one record (common: START-DATE in two groups):
  the first keeps its name; each later one is qualified by its enclosing
  groups, innermost first, as few as tell it apart from every earlier item of
  that name: "START-DATE OF CLAIM-DATES", then "... OF CLAIM-DATES OF CLAIM".
  Subscripts follow the qualifiers: "AMOUNT OF LINES(2)". Two items that no
  qualification tells apart (the same name twice in one group) are refused.
- Level 77 is refused: a 77 item is a standalone working-storage item, not part
  of any record of a file.
- Level 66 RENAMES gives one more field, after the record's other fields: a
  single elementary item renamed is that item under the new name; a group, or a
  range "x THRU y", is alphanumeric from x's first byte to y's last.
- 88 condition names go to `RecordLayout.conditions`, keyed by the name of the
  field (or group) they follow, one key per OCCURS element. A range is the
  text "low THRU high"; SPACES is " ", ZEROS "0", LOW-VALUES "\\x00", QUOTES '"'.
  HIGH-VALUES and hexadecimal literals depend on the code page and are refused.
  Conditions on a FILLER are dropped with it.
- USAGE, SIGN and SYNC on a group apply to every item below it that does not
  say otherwise (SIGN only to signed numeric DISPLAY items). Several 01
  records in one copybook redefine one another: each starts at offset 0.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from chalicelib.errors import CopybookError
from chalicelib.inputs.fixed.layout import DependingOn, FieldLayout, RecordLayout
from chalicelib.inputs.fixed.pictures import Picture, PictureError, normalise_usage, parse_picture


@dataclass(frozen=True)
class Copybook:
    name: str                          # source name given by the caller, for messages
    records: dict[str, RecordLayout]   # one per 01 level, in order; each starts at offset 0


def parse_copybook(text: str, name: str = "copybook") -> Copybook:
    """Every 01 record of a copybook's source text, laid out; CopybookError for anything not supported."""
    roots = _build_tree([_parse_entry(entry, name) for entry in _entries(_tokens(text, name), name)], name)
    records: dict[str, RecordLayout] = {}
    for root in roots:
        if root.name in records:
            raise _error(name, root.line, f"two level-01 records named {root.name}")
        records[root.name] = _Layout(root, name).record()
    return Copybook(name, records)


# ------------------------------------------------------------------ source text to tokens

@dataclass(frozen=True)
class _Token:
    kind: str        # "word" (upper-cased), "literal" (quotes removed) or "period" (end of an entry)
    text: str
    line: int
    prefix: str = ""  # a literal's X, N, G or Z


_TOKEN = re.compile(r"""
    (?P<space>\s+|[,;](?=\s|$|["']))
  | (?P<literal>(?P<prefix>[XNGZ]?)(?P<quote>["'])(?P<body>(?:(?!(?P=quote)).|(?P=quote){2})*)(?P=quote))
  | (?P<period>\.(?=\s|$))
  | (?P<word>(?:[^\s"'.,;]|[.,;](?!\s|$))+)
  | (?P<open>["'])
""", re.VERBOSE | re.IGNORECASE)


def _error(source: str, line: int, message: str) -> CopybookError:
    return CopybookError(f"{source}: line {line}: {message}")


def _code(text: str, source: str) -> tuple[str, list[int], list[int]]:
    """Columns 8-72 of every code line joined into one text, continuations resolved;
    with the text offset where each line's part starts and that line's number."""
    parts: list[str] = []
    starts: list[int] = []
    numbers: list[int] = []
    size, quote, last = 0, "", 0      # quote: the literal still open at the end of the text so far
    # Source lines end with LF, CR LF or CR; a form feed or NEL inside a line is the line's own byte.
    for number, line in enumerate(re.split(r"\r\n|\r|\n", text), 1):
        indicator, area = line[6:7], line[7:72].ljust(65)
        if indicator in ("*", "/"):
            continue
        if "\t" in line[:72]:
            raise _error(source, number, "a tab character: the fixed reference format needs spaces "
                                         "(sequence number in columns 1-6, indicator in 7, code in 8-72)")
        if indicator == "-":
            if not last:
                raise _error(source, number, "a continuation line ('-' in column 7) with nothing to continue")
            part = area.lstrip()
            if quote:
                # A continued literal runs to column 72; it resumes after the first quote here.
                if not part.startswith(quote):
                    raise _error(source, number, f"the continued literal must resume after a {quote} here")
                part = part[1:]
            # Otherwise the first character here follows the last one of the line before: no space.
        elif indicator in ("", " "):
            if quote:
                raise _error(source, last, "a literal is not closed (continue it with '-' in column 7)")
            if not area.strip():
                continue
            part = " " + area
        elif indicator in "dD":
            raise _error(source, number, "debugging lines ('D' in column 7) are not supported")
        else:
            raise _error(source, number, f"column 7 holds {indicator!r}, not an indicator (' ', '*', '/', '-'): "
                                         "is this copybook in fixed reference format (code from column 8)?")
        part, quote = _scan(part, quote)
        if not quote:
            part = part.rstrip()
        starts.append(size)
        numbers.append(number)
        parts.append(part)
        size += len(part)
        last = number
    if quote:
        raise _error(source, last, "a literal is not closed")
    return "".join(parts), starts, numbers


def _scan(part: str, quote: str) -> tuple[str, str]:
    """The part without a floating comment ("*>" outside a literal), and the literal open at its end."""
    i = 0
    while i < len(part):
        char = part[i]
        if quote:
            if char == quote:
                if part[i + 1:i + 2] == quote:
                    i += 1        # a doubled quote stands for one
                else:
                    quote = ""
        elif char in "'\"":
            quote = char
        elif part.startswith("*>", i):
            return part[:i], ""
        i += 1
    return part, quote


def _tokens(text: str, source: str) -> list[_Token]:
    code, starts, numbers = _code(text, source)
    tokens = []
    for match in _TOKEN.finditer(code):
        line = numbers[bisect.bisect_right(starts, match.start()) - 1]
        if match["open"]:
            raise _error(source, line, "a literal is not closed")
        if match["word"]:
            tokens.append(_Token("word", match["word"].upper(), line))
        elif match["literal"]:
            quote = match["quote"]
            tokens.append(_Token("literal", match["body"].replace(quote * 2, quote), line, match["prefix"].upper()))
        elif match["period"]:
            tokens.append(_Token("period", ".", line))
    return tokens


def _entries(tokens: list[_Token], source: str) -> list[list[_Token]]:
    """The tokens of each data description entry, the period dropped; listing directives dropped."""
    entries: list[list[_Token]] = []
    current: list[_Token] = []
    dropped = False
    for token in tokens:
        if token.kind == "period":
            if current:
                entries.append(current)
            elif not dropped:
                raise _error(source, token.line, "a period with no entry before it")
            current, dropped = [], False
        elif not current and token.kind == "word" and token.text in ("EJECT", "SKIP1", "SKIP2", "SKIP3"):
            dropped = True       # compiler listing directives: nothing to do with the layout
        else:
            current.append(token)
    if current:
        entries.append(current)  # a missing period at the very end changes nothing
    return entries


# ------------------------------------------------------------------ entries to a tree of items

_USAGE_WORDS = {"DISPLAY", "COMP", "COMPUTATIONAL", "COMP-1", "COMPUTATIONAL-1", "COMP-2", "COMPUTATIONAL-2",
                "COMP-3", "COMPUTATIONAL-3", "COMP-4", "COMPUTATIONAL-4", "COMP-5", "COMPUTATIONAL-5",
                "BINARY", "PACKED-DECIMAL"}
_OTHER_USAGES = {"POINTER", "POINTER-32", "PROCEDURE-POINTER", "FUNCTION-POINTER", "INDEX", "NATIONAL",
                 "DISPLAY-1", "OBJECT", "UTF-8", "COMP-6", "COMPUTATIONAL-6", "COMP-X", "COMP-N"}
_CLAUSES = {"PIC", "PICTURE", "USAGE", "REDEFINES", "RENAMES", "OCCURS", "SIGN", "LEADING", "TRAILING",
            "SYNC", "SYNCHRONIZED", "JUST", "JUSTIFIED", "BLANK", "GLOBAL", "EXTERNAL", "VALUE", "VALUES",
            "COPY", "REPLACE"} | _USAGE_WORDS | _OTHER_USAGES
_OCCURS_PHRASES = {"ASCENDING", "DESCENDING", "INDEXED", "KEY", "BY"}
_NAME = re.compile(r"[A-Z0-9_](?:[A-Z0-9_-]*[A-Z0-9_])?")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_FIGURATIVE = {"SPACE": " ", "SPACES": " ", "ZERO": "0", "ZEROS": "0", "ZEROES": "0",
               "LOW-VALUE": "\x00", "LOW-VALUES": "\x00", "QUOTE": '"', "QUOTES": '"'}
_REFUSED_VALUES = {"HIGH-VALUE", "HIGH-VALUES", "ALL", "NULL", "NULLS"}   # HIGH-VALUES: code page dependent


@dataclass(eq=False)
class _Item:
    """One data description entry, then its place in the tree, then its place in the record."""

    level: int
    line: int
    name: str | None = None             # None for FILLER and unnamed items
    pic: str | None = None
    usage: str | None = None
    sign: tuple[bool, bool] | None = None   # (leading, separate)
    sync: bool = False
    occurs: tuple[int, int] | None = None   # (minimum, maximum)
    depending: list[str] | None = None      # the counter's name, qualifiers after it
    redefines: str | None = None
    renames: tuple[list[str], list[str] | None] | None = None
    values: tuple[str, ...] = ()             # level 88
    parent: _Item | None = None
    children: list[_Item] = field(default_factory=list)
    conditions: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    renamed_by: list[_Item] = field(default_factory=list)   # on a 01: its 66 entries
    picture: Picture | None = None
    offset: int = 0       # the first occurrence's, from the record's start
    size: int = 0         # one occurrence, slack bytes included
    align: int = 1        # the strictest alignment of a SYNC item in it

    @property
    def label(self) -> str:
        return self.name or "FILLER"

    @property
    def total(self) -> int:
        return self.size * (self.occurs[1] if self.occurs else 1)

    def ancestors(self) -> list[_Item]:
        found, item = [], self.parent
        while item is not None:
            found.append(item)
            item = item.parent
        return found


class _Cursor:
    """The tokens of one entry, read left to right."""

    def __init__(self, tokens: list[_Token], source: str):
        self.tokens, self.at, self.source = tokens, 0, source

    def peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, what: str) -> _Token:
        token = self.peek()
        if token is None:
            raise self.error(f"{what} expected at the end of the entry")
        self.at += 1
        return token

    def word(self, what: str) -> str:
        token = self.take(what)
        if token.kind != "word":
            raise self.error(f"{what} expected, not the literal {token.text!r}")
        return token.text

    def skip(self, *words: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text in words:
            self.at += 1
            return True
        return False

    def integer(self, what: str) -> int:
        text = self.word(what)
        if not text.isdigit():
            raise self.error(f"{what} expected, not {text}")
        return int(text)

    def names(self, what: str) -> list[str]:
        names = []
        while (token := self.peek()) and token.kind == "word" and token.text not in _CLAUSES | _OCCURS_PHRASES:
            names.append(self.word(what))
        if not names:
            raise self.error(f"{what} expected")
        return names

    def qualified(self, what: str) -> list[str]:
        parts = [self.word(what)]
        while self.skip("OF", "IN"):
            parts.append(self.word("a qualifying group name"))
        return parts

    def error(self, message: str) -> CopybookError:
        token = self.tokens[max(self.at - 1, 0)]     # the last token read
        return _error(self.source, token.line, message)


def _parse_entry(tokens: list[_Token], source: str) -> _Item:
    first = tokens[0]
    if first.kind == "word" and first.text in ("COPY", "REPLACE"):
        raise _error(source, first.line, f"{first.text} statements are not supported: expand COPY and REPLACE first")
    if first.kind != "word" or not first.text.isdigit() or len(first.text) > 2:
        raise _error(source, first.line, f"a level number expected, not {first.text!r} "
                                         "(is the copybook in fixed reference format, code from column 8?)")
    level = int(first.text)
    if level == 77:
        raise _error(source, first.line, "level 77 is a standalone working-storage item, not part of a record: "
                                         "remove it or make it a level-01 record")
    if not (1 <= level <= 49 or level in (66, 88)):
        raise _error(source, first.line, f"{first.text} is not a level number (01-49, 66, 77, 88)")
    item, cursor = _Item(level, first.line), _Cursor(tokens, source)
    cursor.at = 1
    token = cursor.peek()
    if token is not None and token.kind == "word" and token.text not in _CLAUSES:
        cursor.at += 1
        if token.text != "FILLER":
            if not _NAME.fullmatch(token.text) or not re.search("[A-Z]", token.text):
                raise cursor.error(f"{token.text!r} is not a valid data name")
            item.name = token.text
    seen: set[str] = set()
    while (token := cursor.peek()) is not None:
        clause = _parse_clause(item, cursor)
        if clause in seen:
            raise _error(source, token.line, f"two {clause} clauses in one entry")
        seen.add(clause)
    allowed = {88: {"VALUE"}, 66: {"RENAMES"}}.get(level)
    if allowed is not None and seen != allowed:
        raise _error(source, first.line, f"a level-{level} entry takes a {' '.join(allowed)} clause and nothing else")
    if allowed is None and "RENAMES" in seen:
        raise _error(source, first.line, "RENAMES belongs on a level-66 entry")
    if level in (66, 88) and item.name is None:
        raise _error(source, first.line, f"a level-{level} entry needs a name")
    return item


def _parse_clause(item: _Item, cursor: _Cursor) -> str:
    """Read one clause into the item; the clause's name, to catch one given twice."""
    token = cursor.take("a clause")
    if token.kind != "word":
        raise cursor.error(f"the literal {token.text!r} is out of place")
    word = cursor.word("GLOBAL or EXTERNAL") if token.text == "IS" else token.text
    if word in ("PIC", "PICTURE"):
        cursor.skip("IS")
        item.pic = cursor.word("a PICTURE string")
        return "PIC"
    if word == "USAGE" or word in _USAGE_WORDS | _OTHER_USAGES:
        if word == "USAGE":
            cursor.skip("IS")
            word = cursor.word("a usage")
        item.usage = normalise_usage(word)
        if item.usage is None:
            raise cursor.error(f"USAGE {'OBJECT REFERENCE' if word == 'OBJECT' else word} is not supported")
        return "USAGE"
    if word == "REDEFINES":
        item.redefines = cursor.word("the redefined item's name")
    elif word == "RENAMES":
        start = cursor.qualified("the renamed item's name")
        item.renames = (start, cursor.qualified("the last renamed item") if cursor.skip("THRU", "THROUGH") else None)
    elif word == "OCCURS":
        _parse_occurs(item, cursor)
    elif word in ("SIGN", "LEADING", "TRAILING"):
        if word == "SIGN":
            cursor.skip("IS")
            word = cursor.word("LEADING or TRAILING")
            if word not in ("LEADING", "TRAILING"):
                raise cursor.error(f"SIGN IS LEADING or TRAILING expected, not {word}")
        separate = cursor.skip("SEPARATE")
        if separate:
            cursor.skip("CHARACTER")
        item.sign = (word == "LEADING", separate)
        return "SIGN"
    elif word in ("SYNC", "SYNCHRONIZED"):
        cursor.skip("LEFT", "RIGHT")
        item.sync = True
        return "SYNC"
    elif word in ("JUST", "JUSTIFIED"):
        cursor.skip("RIGHT")
        return "JUSTIFIED"
    elif word == "BLANK":
        cursor.skip("WHEN")
        if not cursor.skip("ZERO", "ZEROS", "ZEROES"):
            raise cursor.error("BLANK WHEN ZERO expected")
    elif word in ("VALUE", "VALUES"):
        cursor.skip("IS", "ARE")
        if item.level == 88:
            item.values = _condition_values(cursor)
        elif cursor.skip("ALL"):
            cursor.take("a literal")
        else:
            cursor.take("a value")   # an initial value: nothing to do with the layout
        return "VALUE"
    elif word in ("COPY", "REPLACE"):
        raise cursor.error(f"{word} statements are not supported: expand COPY and REPLACE first")
    elif word.isdigit() and len(word) <= 2:
        raise cursor.error(f"level number {word} inside an entry: is a period missing before it?")
    elif word not in ("GLOBAL", "EXTERNAL"):
        raise cursor.error(f"{word} is not a supported clause")
    return word


def _parse_occurs(item: _Item, cursor: _Cursor) -> None:
    if cursor.skip("UNBOUNDED"):
        raise cursor.error("OCCURS UNBOUNDED is not supported")
    low = high = cursor.integer("the number of occurrences")
    ranged = cursor.skip("TO")
    if ranged:
        high = cursor.integer("the largest number of occurrences")
    cursor.skip("TIMES")
    if cursor.skip("DEPENDING"):
        cursor.skip("ON")
        item.depending = cursor.qualified("the counter's name")
    if ranged and not item.depending:
        raise cursor.error(f"OCCURS {low} TO {high} needs DEPENDING ON")
    if item.depending and not ranged:
        raise cursor.error("OCCURS DEPENDING ON needs the smallest number of occurrences: OCCURS m TO n")
    if high < 1 or low > high or (low < 1 and not ranged):
        raise cursor.error(f"OCCURS {low}{f' TO {high}' if ranged else ''}: not a valid number of occurrences")
    while (phrase := cursor.peek()) and phrase.kind == "word" and phrase.text in ("ASCENDING", "DESCENDING", "INDEXED"):
        cursor.at += 1
        cursor.skip("KEY", "BY")
        cursor.skip("IS")
        cursor.names("a key or index name")      # keys and indexes change nothing in the layout
    item.occurs = (low, high)


def _condition_values(cursor: _Cursor) -> tuple[str, ...]:
    values = []
    while (token := cursor.peek()) is not None and not (token.kind == "word" and token.text == "WHEN"):
        low = _value_text(cursor.take("a value"), cursor)
        if cursor.skip("THRU", "THROUGH"):
            values.append(f"{low} THRU {_value_text(cursor.take('a value'), cursor)}")
        else:
            values.append(low)
    if cursor.skip("WHEN"):              # WHEN SET TO FALSE: what SET ... TO FALSE writes, not a condition value
        cursor.skip("SET"), cursor.skip("TO")
        if not cursor.skip("FALSE"):
            raise cursor.error("WHEN SET TO FALSE expected")
        cursor.skip("IS")
        _value_text(cursor.take("a value"), cursor)
    if not values:
        raise cursor.error("a level-88 entry needs at least one value")
    return tuple(values)


def _value_text(token: _Token, cursor: _Cursor) -> str:
    if token.kind == "literal":
        if token.prefix:
            raise cursor.error(f"88 VALUE {token.prefix}'...' literals are not supported")
        return token.text
    if token.text in _FIGURATIVE:
        return _FIGURATIVE[token.text]
    if token.text in _REFUSED_VALUES:
        raise cursor.error(f"88 VALUE {token.text} is not supported")
    if not _NUMBER.fullmatch(token.text):
        raise cursor.error(f"a literal expected in the 88 VALUE clause, not {token.text}")
    return token.text


def _build_tree(items: list[_Item], source: str) -> list[_Item]:
    """Nest the entries by level number: the level-01 items, every other item below its group."""
    roots: list[_Item] = []
    open_items: list[_Item] = []     # the current item and the groups that contain it
    last: _Item | None = None        # the item an 88 entry describes
    for item in items:
        if item.level == 88:
            if last is None:
                raise _error(source, item.line, "a level-88 entry must follow the item it describes")
            last.conditions.append((item.name, item.values))
            continue
        if item.level != 1 and not roots:
            raise _error(source, item.line, f"level {item.level:02d} before any level-01 record")
        if item.level == 1:
            if item.name is None:
                raise _error(source, item.line, "a level-01 record needs a name")
            if item.occurs:
                raise _error(source, item.line, "OCCURS is not allowed at level 01")
            if item.redefines and item.redefines not in [r.name for r in roots]:
                raise _error(source, item.line, f"REDEFINES {item.redefines}: no earlier level-01 record of that name")
            roots.append(item)
            open_items, last = [item], item
        elif item.level == 66:
            roots[-1].renamed_by.append(item)
            last = None
        else:
            if roots[-1].renamed_by:
                raise _error(source, item.line, "level-66 RENAMES entries must come after every item of the record")
            while open_items[-1].level >= item.level:
                open_items.pop()
            parent = open_items[-1]
            if parent.pic is not None:
                raise _error(source, item.line, f"{parent.label} (line {parent.line}) has a PIC clause, "
                                                "so it cannot have subordinate items")
            if parent.children and parent.children[0].level != item.level:
                raise _error(source, item.line, f"level {item.level:02d} does not match the level "
                                                f"{parent.children[0].level:02d} of the items before it "
                                                f"in {parent.label}")
            item.parent = parent
            parent.children.append(item)
            open_items.append(item)
            last = item
    if not roots:
        raise CopybookError(f"{source}: no level-01 record")
    return roots


# ------------------------------------------------------------------ the tree to a record layout

class _Layout:
    """One 01 record: attributes inherited, offsets placed, names chosen, fields written out."""

    def __init__(self, root: _Item, source: str):
        self.root, self.source = root, source
        self.items: list[_Item] = []   # every item but the root, in source order
        self._walk(root)
        self.names: dict[_Item, str] = {root: root.label}
        self.counter: _Item | None = None     # an OCCURS DEPENDING ON table's counter

    def _walk(self, item: _Item) -> None:
        for child in item.children:
            self.items.append(child)
            self._walk(child)

    def error(self, item: _Item, message: str) -> CopybookError:
        return _error(self.source, item.line, message)

    def record(self) -> RecordLayout:
        self._resolve(self.root, "DISPLAY", None, False)
        self._place(self.root, 0)
        self._name_items()
        self._check_depending()
        fields: list[FieldLayout] = []
        conditions: dict[str, dict[str, tuple[str, ...]]] = {}
        self._fields(self.root, 0, (), None, fields, conditions)
        fields += [self._renames(entry) for entry in self.root.renamed_by]
        return RecordLayout(self.root.name, self.root.total, tuple(fields), self._depending_on(), conditions)

    def _resolve(self, item: _Item, usage: str, sign: tuple[bool, bool] | None, sync: bool) -> None:
        """Give each elementary item its Picture under the USAGE, SIGN and SYNC it inherits."""
        usage, sync = item.usage or usage, item.sync or sync
        if item.children:
            for child in item.children:
                self._resolve(child, usage, item.sign or sign, sync)
            return
        item.usage, item.sync = usage, sync
        if item.pic is None and usage not in ("COMP-1", "COMP-2"):
            raise self.error(item, f"{item.label} has neither a PIC clause nor subordinate items")
        try:
            if item.sign is None and sign is not None:
                # A group's SIGN clause reaches only the signed numeric DISPLAY items below it.
                unsigned = parse_picture(item.pic, usage)
                if unsigned.category == "numeric" and unsigned.signed and usage == "DISPLAY":
                    item.sign = sign
            leading, separate = item.sign or (False, False)
            item.picture = parse_picture(item.pic, usage, leading, separate)
        except PictureError as error:
            raise self.error(item, f"{error} ({item.label})") from None

    def _place(self, item: _Item, start: int) -> None:
        """Lay out the first occurrence of the item at `start`; offsets are from the record's start,
        which IBM aligns on a doubleword, so they also say how a SYNC item is aligned."""
        item.offset = start
        if not item.children:
            item.size = item.picture.length
            binary = item.usage in ("COMP", "COMP-5", "COMP-1", "COMP-2")
            item.align = item.size if item.sync and binary else 1   # 2, 4 or 8: its natural boundary
            return
        end = start
        for index, child in enumerate(item.children):
            if child.redefines:
                target = self._redefined(item, index)
                self._place(child, target.offset)
                if child.total > target.total:
                    raise self.error(child, f"{child.label} ({child.total} bytes) is larger than {target.label} "
                                            f"({target.total} bytes), which it redefines: only a level-01 item may be")
                first = self._first_leaf(child)
                if first.offset != child.offset or child.offset % first.align:
                    raise self.error(child, f"SYNC {first.label} would need slack bytes at the start of "
                                            f"{child.label}, which redefines {target.label}: IBM adds none there")
            else:
                self._place(child, end)
                if child.offset % child.align and not child.children:
                    # Slack bytes before a SYNC item, counted in the group that holds it.
                    self._place(child, end + child.align - end % child.align)
                end = child.offset + child.total
            item.align = max(item.align, child.align)
        item.size = end - start
        if item.occurs and item.align > 1:
            # The rule applied inside an OCCURS: each occurrence's length is rounded up
            # to the alignment of its most-aligned SYNC item, so every occurrence's SYNC
            # items stay aligned as the first one's are (IBM's inter-occurrence slack bytes).
            item.size += -item.size % item.align

    def _redefined(self, group: _Item, index: int) -> _Item:
        child = group.children[index]
        previous = group.children[index - 1] if index else None
        if previous is None or child.redefines not in (previous.name, previous.redefines):
            raise self.error(child, f"REDEFINES {child.redefines}: it must name the item just before "
                                    f"{child.label} at level {child.level:02d}")
        if previous.redefines and child.redefines == previous.name:
            raise self.error(child, f"REDEFINES {child.redefines}, which itself redefines {previous.redefines}: "
                                    f"name {previous.redefines}, the original item")
        target = next(c for c in reversed(group.children[:index]) if c.name == child.redefines and not c.redefines)
        if target.occurs:
            raise self.error(child, f"REDEFINES {target.label}, which has an OCCURS clause: not allowed")
        return target

    @staticmethod
    def _first_leaf(item: _Item) -> _Item:
        while item.children:
            item = item.children[0]
        return item

    def _name_items(self) -> None:
        """Choose each named item's field name; see the module docstring for the rule."""
        earlier: dict[str, list[list[str]]] = {}       # name -> the qualifier chains of the items so named
        for item in self.items + self.root.renamed_by:
            if item.name is None:
                continue
            chain = [a.name for a in item.ancestors() if a.name] if item.level != 66 else [self.root.name]
            others = earlier.setdefault(item.name, [])
            for count in range(len(chain) + 1):
                if not any(other[:count] == chain[:count] for other in others):
                    break
            else:
                raise self.error(item, f"{item.name} is defined twice in {chain[0]}: "
                                       "no qualification tells the two apart")
            self.names[item] = " OF ".join([item.name] + chain[:count])
            others.append(chain)

    def _fields(self, item: _Item, shift: int, subscripts: tuple[int, ...], present: tuple[str, int] | None,
                fields: list[FieldLayout], conditions: dict) -> None:
        """Write out the item's fields (and conditions), every occurrence, `shift` bytes after its first one."""
        for occurrence in range(1, (item.occurs[1] if item.occurs else 1) + 1):
            where = shift + (occurrence - 1) * item.size
            subs = subscripts + (occurrence,) if item.occurs else subscripts
            when = (self.names[self.counter], occurrence) if item.depending else present
            name = self.names.get(item, "") + (f"({','.join(map(str, subs))})" if subs else "")
            if item.conditions and item.name:
                conditions[name] = dict(item.conditions)
            if not item.children:
                if item.name:
                    fields.append(self._field(item, name, item.offset + where, when))
            for child in item.children:
                self._fields(child, where, subs, when, fields, conditions)

    @staticmethod
    def _field(item: _Item, name: str, offset: int, present: tuple[str, int] | None) -> FieldLayout:
        picture, (leading, separate) = item.picture, item.sign or (False, False)
        return FieldLayout(name=name, offset=offset, length=picture.length, pic=picture.pic, usage=item.usage,
                           category=picture.category, signed=picture.signed, digits=picture.digits,
                           scale=picture.scale, sign_leading=leading, sign_separate=separate,
                           edit_mask=picture.edit_mask, present_if=present)

    def _find(self, entry: _Item, parts: list[str]) -> _Item:
        """The item a possibly qualified name ("A OF B") refers to in this record."""
        found = [item for item in [self.root] + self.items if item.name == parts[0]
                 and _in_order(parts[1:], [a.name for a in item.ancestors()])]
        if len(found) != 1:
            what = "is not defined in" if not found else "is ambiguous in"
            raise self.error(entry, f"{' OF '.join(parts)} {what} {self.root.name}"
                                    + (": qualify it (NAME OF GROUP)" if found else ""))
        return found[0]

    def _renames(self, entry: _Item) -> FieldLayout:
        first_parts, last_parts = entry.renames
        first = self._find(entry, first_parts)
        last = self._find(entry, last_parts) if last_parts else first
        for item in (first, last):
            if item is self.root or any(a.occurs for a in [item] + item.ancestors()):
                raise self.error(entry, f"RENAMES {item.label}: a level-01 item, an OCCURS table or an item "
                                        "in one cannot be renamed")
        end = last.offset + last.total
        if last is not first and (first in last.ancestors() or last.offset < first.offset
                                  or end <= first.offset + first.total):
            raise self.error(entry, f"RENAMES {first.label} THRU {last.label}: {last.label} must end after "
                                    f"{first.label} ends, and not start before it")
        if any(item.depending and item.offset < end for item in self.items):
            raise self.error(entry, f"RENAMES {first.label}: the renamed bytes reach the OCCURS DEPENDING ON table")
        name = self.names[entry]
        if last is first and not first.children:
            return self._field(first, name, first.offset, None)
        return FieldLayout(name=name, offset=first.offset, length=end - first.offset, pic=f"X({end - first.offset})")

    def _check_depending(self) -> None:
        for table in [item for item in self.items if item.depending]:
            if self.items[-1] is not table and table not in self.items[-1].ancestors():
                raise self.error(table, "OCCURS DEPENDING ON must be the last item of the record")
            if any(a.occurs for a in table.ancestors()):
                raise self.error(table, "OCCURS DEPENDING ON inside another OCCURS is not supported")
            if any(a.redefines for a in [table] + table.ancestors()):
                raise self.error(table, "OCCURS DEPENDING ON inside a REDEFINES is not supported")
            counter = self._find(table, table.depending)
            earlier = counter in self.items and self.items.index(counter) < self.items.index(table)
            if not earlier or counter.children or counter.picture.category != "numeric" or counter.picture.scale > 0:
                raise self.error(table, f"DEPENDING ON {counter.label}: the counter must be an integer "
                                        "numeric field defined earlier in the record")
            if any(a.occurs for a in [counter] + counter.ancestors()):
                raise self.error(table, f"DEPENDING ON {counter.label}: the counter cannot be in an OCCURS table")
            self.counter = counter

    def _depending_on(self) -> DependingOn | None:
        if self.counter is None:
            return None
        table = next(item for item in self.items if item.depending)
        return DependingOn(self.names[self.counter], table.occurs[0], table.occurs[1], table.offset, table.size)


def _in_order(wanted: list[str], names: list[str | None]) -> bool:
    """Whether the qualifiers appear among the ancestor names, innermost first, in that order."""
    rest = iter(names)
    return all(any(name == qualifier for name in rest) for qualifier in wanted)


# ------------------------------------------------------------------ showing a layout

_SIGN_TEXT = {(False, False): "trailing", (True, False): "leading",
              (False, True): "trailing separate", (True, True): "leading separate"}


def layout_rows(record: RecordLayout) -> list[dict]:
    """One row per field, as a compile listing shows it: position is 1-based, offset 0-based."""
    rows = []
    for f in record.fields:
        sign = _SIGN_TEXT[(f.sign_leading, f.sign_separate)] if f.signed and f.category == "numeric" \
            and f.usage == "DISPLAY" else ""
        rows.append({"name": f.name, "offset": f.offset, "position": f.offset + 1, "length": f.length,
                     "pic": f.pic, "usage": f.usage, "sign": sign,
                     "depends": f"{f.present_if[0]} >= {f.present_if[1]}" if f.present_if else ""})
    return rows


def format_layout(record: RecordLayout) -> str:
    """The record's fields as an aligned text table, for a command line."""
    odo = record.depending_on
    title = f"{record.name}: {record.length} bytes"
    if odo is not None:
        title += (f" at most, {record.min_length} at least "
                  f"(OCCURS {odo.minimum} TO {odo.maximum} DEPENDING ON {odo.counter})")
    heads = ["name", "position", "offset", "length", "pic", "usage", "sign", "depends"]
    rows = [[str(row[h]) for h in heads] for row in layout_rows(record)]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(heads)]
    numeric = {"position", "offset", "length"}
    lines = [title]
    for cells in [[h.upper() for h in heads]] + rows:
        lines.append("  ".join(c.rjust(w) if h in numeric else c.ljust(w)
                               for c, w, h in zip(cells, widths, heads)).rstrip())
    return "\n".join(lines)
