"""Pure-Python copy of the COCO caption tokenisation (Stanford PTBTokenizer 3.4.1 + punctuation removal).

What: `ptb_tokenize(text)` returns what pycocoevalcap's `PTBTokenizer` returns for one caption: the tokens
of Stanford CoreNLP 3.4.1's `PTBTokenizer -preserveLines -lowerCase`, lower-cased, minus the tokens in
pycocoevalcap's `PUNCTUATIONS` list, joined by single spaces. "Don't stop." -> "do n't stop";
"(left)" -> "-lrb- left -rrb-" (pycocoevalcap's list has "-LRB-" but the tokens were already lower-cased,
so brackets survive: a quirk of the reference that we keep).

Why: the reference tokenizer is a Java program (~0.35 s of JVM start per call, a temporary file written into
the installed package). RL scores hundreds of segments every step, so BLEU/ROUGE/METEOR/CIDEr need the same
tokens without Java.

How: the lexer rules of CoreNLP 3.4.1's `PTBLexer.flex` (JFlex; same order, same options as the COCO
command line) are written as Python regexes and applied with JFlex's semantics: at each position the rule
with the longest match wins (a trailing context `r/s` counts its context in the length), ties go to the
earlier rule. Two fast paths give the same result without trying every rule: a whole caption of plain
words, numbers and , ; : ! ? . marks takes a few C-level string passes (~10 us); elsewhere a plain ASCII
word followed by a space is emitted directly. Tests compare with the real Java tokenizer
(tests/equivalence: 201 realistic captions and 1,500 random strings, all identical).

Known differences from pycocoevalcap's PTBTokenizer:
- pycocoevalcap lexes a batch as one newline-separated stream, so a caption's last token can depend on the
  next caption: "the letter C." followed by a caption starting "A"/"The"/"It"/... splits "C." into "c";
  "we'll" at the very end of the batch becomes "we ` ll". `ptb_tokenize` lexes each caption as if a line
  break and nothing else followed it (a caption's tokens never depend on its neighbours);
  `ptb_tokenize_stream` reproduces the batch behaviour exactly.
- Carriage returns and other line separators (\\r, \\v, \\f, U+2028, U+2029) are spaces here;
  pycocoevalcap replaces only "\\n", and the Java lexer then breaks the line, which shifts every later
  caption of the batch onto the wrong image.
- Unpaired surrogates are dropped (pycocoevalcap raises when encoding them); characters beyond the BMP are
  lexed as their UTF-16 surrogate pairs, as Java does (an emoji alone is dropped).
- Letter/digit/upper-case classes come from Python's Unicode tables, not the Java 6 ones JFlex compiled in;
  differences are limited to letters added to Unicode since.
- Inside one rule, Python's regex alternation takes the first alternative that matches where JFlex takes
  the longest; alternatives are ordered so that the two agree (checked on 60,000 random strings of
  quotes, abbreviations, acronyms, numbers, URLs, entities and symbols: all identical to Java), but an
  untested nesting may still differ.
- Only the first `MAX_INPUT_CHARS` characters of a caption are tokenised, and one token outside plain runs
  of ASCII letters spans at most `MAX_TOKEN_CHARS`: this bounds the time spent on degenerate model outputs
  (any 1 MB string takes well under a second).

Why one file: it is a rule-by-rule port of one JFlex lexer (`PTBLexer.flex`), whose rules only mean something in
their order; kept in the lexer's own order so it can be read beside the original.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import NamedTuple

PUNCTUATIONS: tuple[str, ...] = ("''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
                                 ".", "?", "!", ",", ":", "-", "--", "...", ";")
"""pycocoevalcap's list of tokens removed after tokenisation (compared after lower-casing, as it does)."""

MAX_INPUT_CHARS = 50_000
"""Characters of one caption that are tokenised; the rest is ignored (about 8,000 words)."""
MAX_TOKEN_CHARS = 256
"""Longest text one slow-path lexer match may span (bounds the work per position)."""

_PUNCT = frozenset(PUNCTUATIONS)
_NBSP = "\u00a0"
_NL = "\n"  # marker for the lexer's NEWLINE token (one per caption boundary)

# Assimilations that the lexer splits ("cannot" -> "can not", "gonna" -> "gon na"); plain words only.
_SPLIT_WORDS = {"cannot": 3, "gonna": 2, "gotta": 2, "lemme": 2, "gimme": 2, "wanna": 2}
# Line breaks become spaces before lexing (see "Known differences"); code points beyond the BMP become
# their two UTF-16 surrogates, which is what the Java lexer sees (no rule but a few negated classes match them).
_TO_SPACE = re.compile("[\n\r\u000b\u000c\u2028\u2029]")
_NON_BMP = re.compile("[\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")

# Fast path: spaces, or a plain ASCII word / number / lone comma or period, followed by a space or the end.
_FAST = re.compile(r"(?P<ws>[ \t]+)|(?P<nl>\n)|(?P<w>[A-Za-z]+)(?P<p>[.,]?)(?=[ \t\n]|\Z)"
                   r"|(?P<num>[0-9]+)(?=[ \t]+[^0-9 \t]|[ \t]*(?:\n|\Z))|(?P<pc>[,.])(?=[ \t\n]|\Z)")


def _ranges(pred) -> str:
    """Regex character-class body for the BMP code points (no surrogates) where pred(char) holds."""
    out, start = [], None
    for cp in range(0x10000):
        ok = not 0xD800 <= cp <= 0xDFFF and pred(chr(cp))
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            out.append(f"\\u{start:04x}" if start == cp - 1 else f"\\u{start:04x}-\\u{cp - 1:04x}")
            start = None
    if start is not None:
        out.append(f"\\u{start:04x}-\\uffff")
    return "".join(out)


class _Lexer(NamedTuple):
    rules: tuple[tuple[int, re.Pattern, re.Pattern, object, str | None], ...]
    """(rank, first-character class, regex, action, a character every match contains or None), in
    PTBLexer.flex order. Group "t" of a regex is the token, the rest of a match is trailing context. A rule
    whose regex has top-level alternatives of different lengths is split into entries of the same rank."""
    abbrev_period: re.Pattern
    """Matches "word." when some abbreviation rule would keep the period on the word ("Mr.", "A.", "etc.")."""


@functools.cache
def _lexer() -> _Lexer:
    """The rules of CoreNLP 3.4.1's PTBLexer.flex as Python regexes (built on first use: ~0.2 s)."""
    letter_cls = _ranges(lambda c: unicodedata.category(c) in ("Lu", "Ll", "Lt", "Lm", "Lo"))
    digit_cls = _ranges(lambda c: unicodedata.category(c) == "Nd")
    upper_cls = _ranges(lambda c: c.isupper())
    extra_letters = (r"\u00AD\u0237-\u024F\u02C2-\u02C5\u02D2-\u02DF\u02E5-\u02FF\u0300-\u036F\u0370-\u037D"
                     r"\u0384\u0385\u03CF\u03F6\u03FC-\u03FF\u0483-\u0487\u04CF\u04F6-\u04FF\u0510-\u0525"
                     r"\u055A-\u055F\u0591-\u05BD\u05BF\u05C1\u05C2\u05C4\u05C5\u05C7\u0615-\u061A"
                     r"\u063B-\u063F\u064B-\u065E\u0670\u06D6-\u06EF\u06FA-\u06FF\u070F\u0711\u0730-\u074F"
                     r"\u0750-\u077F\u07A6-\u07B1\u07CA-\u07F5\u07FA\u0900-\u0903\u093C\u093E-\u094E"
                     r"\u0951-\u0955\u0962-\u0963\u0981-\u0983\u09BC-\u09C4\u09C7\u09C8\u09CB-\u09CD\u09D7"
                     r"\u09E2\u09E3\u0A01-\u0A03\u0A3C\u0A3E-\u0A4F\u0A81-\u0A83\u0ABC-\u0ACF\u0B82"
                     r"\u0BBE-\u0BC2\u0BC6-\u0BC8\u0BCA-\u0BCD\u0C01-\u0C03\u0C3E-\u0C56\u0D3E-\u0D44"
                     r"\u0D46-\u0D48\u0E30-\u0E3A\u0E47-\u0E4E\u0EB1-\u0EBC\u0EC8-\u0ECD")
    m = {}  # macro name -> regex text (no capturing groups)
    m["L"] = f"[{letter_cls}]"                       # [:letter:]
    m["D"] = f"[{digit_cls}\\u07C0-\\u07C9]"         # DIGIT
    m["Dj"] = f"[{digit_cls}]"                       # [:digit:]
    m["UP"] = f"[{upper_cls}]"                       # [:uppercase:]
    m["SPLET"] = r"&[aeiouAEIOU](?i:acute|grave|uml);"
    m["LETTER"] = f"(?:[{letter_cls}{extra_letters}]|{m['SPLET']})"
    m["SPACE"] = r"[ \t\u00A0\u2000-\u200A\u3000]"
    m["NEWLINE"] = r"(?:\r|\r?\n|\u2028|\u2029|\u000B|\u000C|\u0085)"
    m["SPACENL"] = f"(?:{m['SPACE']}|{m['NEWLINE']})"
    m["SGML"] = (r"<(?:[!?][A-Za-z\-][^>\r\n]*|[A-Za-z][A-Za-z0-9_:.\-]*(?:[ ]+(?:[A-Za-z][A-Za-z0-9_:.\-]*"
                 r"|[A-Za-z][A-Za-z0-9_:.\-]*[ ]*=[ ]*(?:'[^'\n]*'|\"[^\"\n]*\")))*[ ]*/?|/[A-Za-z][A-Za-z0-9_:.\-]*)"
                 r"[ ]*>")
    m["SENTEND"] = f"{m['SPACENL']}(?:{m['SPACENL']}|{m['UP']}|{m['SGML']})"
    m["NUM"] = f"(?:{m['D']}*(?:[.:,\\u00AD\\u066B\\u066C]{m['D']}+)+|{m['D']}+)"  # longer alternative first
    m["WORD"] = f"{m['LETTER']}(?:{m['LETTER']}|{m['D']})*(?:[.!?]{m['LETTER']}(?:{m['LETTER']}|{m['D']})*)*"
    m["APOS"] = r"(?:['\u0092\u2019]|(?i:&apos;))"
    m["APOSETC"] = f"(?:{m['APOS']}|[`\\u0091\\u2018\\u201B])"
    m["HYPHEN"] = r"[\-_\u058A\u2010\u2011]"
    m["LD"] = f"(?:{m['L']}|{m['Dj']})"
    m["THING"] = (f"(?:[dDoOlL]{m['APOSETC']}{m['LD']})?{m['LD']}+"
                  f"(?:{m['HYPHEN']}(?:[dDoOlL]{m['APOSETC']}{m['LD']})?{m['LD']}+)*")
    m["THINGA"] = r"[A-Z]+(?:(?:[+&]|(?i:&amp;))[A-Z]+)+"
    m["THING3"] = r"[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}(?:\\?/[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}){1,2}"
    # Python alternation is first-match, JFlex's is longest-match: longer alternatives go first.
    acro_head = (r"(?:(?i:canada|sino|korean|eu|japan|non)-(?i:u)\.(?i:s)"
                 r"|(?i:u)\.(?i:s)\.-(?:(?i:u)\.(?i:s)\.(?i:s)\.(?i:r)|(?i:u)\.(?i:k))|")
    m["ACRO"] = acro_head + r"[A-Za-z](?:\.[A-Za-z])*)"
    m["ACRO2"] = acro_head + r"[A-Za-z](?:\.[A-Za-z])+)"
    # inside HTHING's repetition the plain acronym goes first: "-U.S." then "-U.K.D." beats "-U.S.-U.K."
    acro2_plain_first = r"(?:[A-Za-z](?:\.[A-Za-z])+|" + acro_head[3:-1] + ")"
    m["HTHING"] = f"[A-Za-z0-9][A-Za-z0-9.,\\u00AD]*(?:-(?:{acro2_plain_first}\\.|[A-Za-z0-9\\u00AD]+))+"
    m["REDAUX"] = f"{m['APOS']}(?:[msdMSD]|(?i:re|ve|ll))"
    m["SWORD"] = r"[A-Za-z\u00AD]*[A-MO-Za-mo-z]\u00AD*"
    m["SREDAUX"] = f"(?i:n){m['APOSETC']}(?i:t)"
    apos_first = "['\u0092\u2019&]"
    apoword = [  # APOWORD's alternatives as separate regexes, so that the longest one wins
        (apos_first, f"{m['APOS']}(?i:n){m['APOS']}?"), ("[lLdDjJ]", f"[lLdDjJ]{m['APOS']}"),
        ("[dD]", f"(?i:dunkin){m['APOS']}"), ("[sS]", f"(?i:somethin){m['APOS']}"),
        ("[oO]", f"(?i:ol){m['APOS']}"), (apos_first, f"{m['APOS']}(?i:em)"),
        ("[A-HJ-XZn]", f"[A-HJ-XZn]{m['APOSETC']}{m['L']}{{2}}{m['L']}*"),
        (apos_first, f"{m['APOS']}[2-9]0(?i:s)"), (apos_first, f"{m['APOS']}(?i:till?)"),
        (m["L"], f"{m['L']}{m['L']}*[aeiouyAEIOUY]{m['APOSETC']}[aeiouA-Z]{m['L']}*"),
        (apos_first, f"{m['APOS']}(?i:cause)"), ("[cC]", r"(?i:cont'd)\.?"), ("'", r"(?i:'twas)"),
        ("[nN]", r"(?i:nor'easter)"), ("[cC]", r"(?i:c'mon)"), ("[eE]", r"(?i:e'er)"), ("[sS]", r"(?i:s'mores)"),
        ("[eE]", r"(?i:ev'ry)"), ("[lL]", r"(?i:li'l)"), ("[nN]", r"(?i:nat'l)"),
        ("[oO]", f"(?i:o){m['APOSETC']}(?i:o)"),
    ]
    m["FULLURL"] = r"(?i:https?)://[^ \t\n\f\r\"<>|(){}]+[^ \t\n\f\r\"<>|.!?(){},\-]"
    m["LIKELYURL"] = (r"(?:(?:(?i:www)\.(?:[^ \t\n\f\r\"<>|.!?(){},]+\.)+[a-zA-Z]{2,4})"
                      r"|(?:(?:[^ \t\n\f\r\"`'<>|.!?(){},-_$]+\.)+(?i:com|net|org|edu)))"
                      r"(?:/[^ \t\n\f\r\"<>|()]+[^ \t\n\f\r\"<>|.!?(){},\-])?")
    m["EMAIL"] = (r"(?:(?i:&lt;)|<)?[a-zA-Z0-9][^ \t\n\f\r\"<>|()\u00A0{}]*@(?:[^ \t\n\f\r\"<>|(){}.\u00A0]+\.)*"
                  r"[^ \t\n\f\r\"<>|(){}.\u00A0]+(?:(?i:&gt;)|>)?")
    m["TWITTER"] = f"(?:@[a-zA-Z_][a-zA-Z_0-9]*|#{m['LETTER']}+)"
    m["DATE"] = f"{m['D']}{{1,2}}[\\-/]{m['D']}{{1,2}}[\\-/]{m['D']}{{2,4}}"
    m["NUMBER"] = f"[\\-+]?{m['NUM']}"
    m["SUBSUPNUM"] = r"[\u207A\u207B\u208A\u208B]?(?:[\u2070\u00B9\u00B2\u00B3\u2074-\u2079]+|[\u2080-\u2089]+)"
    m["FRAC"] = f"(?:{m['D']}{{1,4}}[\\- \\u00A0])?{m['D']}{{1,4}}(?:\\\\?/|\\u2044){m['D']}{{1,4}}"
    m["FRAC2"] = r"[\u00BC\u00BD\u00BE\u2153-\u215E]"
    m["DOLSIGN"] = r"(?:[A-Z]*\$|#)"
    m["DOLSIGN2"] = r"[\u00A2\u00A3\u00A4\u00A5\u0080\u20A0\u20AC\u060B\u0E3F\u20A4\uFFE0\uFFE1\uFFE5\uFFE6]"
    m["FILENAME"] = (f"(?:{m['LETTER']}|{m['D']})+(?:\\.(?:{m['LETTER']}|{m['D']})+)*\\.(?i:bat|bmp|c|class|cgi"
                     r"|cpp|dll|doc|docx|exe|gif|gz|h|htm|html|jar|java|jpeg|jpg|mov|mp3|pdf|php|pl|png|ppt|ps"
                     r"|py|sql|tar|txt|wav|x|xml|zip)")
    abmonth = r"(?i:jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)"
    abdays = r"(?i:mon|tue|tues|wed|thu|thurs|fri)"
    abstate = (r"(?i:ala|ariz)|A(?i:z)|A(?i:rk)|(?i:calif|colo|conn|ct|dak)|D(?i:el)|(?i:fla|ga)|I(?i:ll)"
               r"|(?i:ind|kans?|ky)|L(?i:a)|M(?i:ass)|(?i:md|mich|minn)|M(?i:iss)|(?i:mo|mont|neb|nev|okla)"
               r"|O(?i:re)|P(?i:a)|(?i:penn|tenn)|T(?i:ex)|(?i:va|vt)|W(?i:ash)|(?i:wisc?|wyo)")
    abcomp = (r"(?i:inc|cos?|corp)|(?i:pp?t)[ye](?i:s)?|(?i:ltd|plc|rt|bancorp|bhd|assn|univ|intl|sys)")
    abnum = r"(?i:tel|est|ext|sq)"
    abptit = r"(?i:jr|sr|bros)|(?i:ed|ph)\.(?i:d)|(?i:blvd|rd|esq)"
    m["ABBREV1"] = (f"(?:{abmonth}|{abdays}|{abstate}|{abcomp}|{abnum}|{abptit}|(?i:etc|al|seq|bldg))\\.")
    abtitle = (r"(?i:mr|mrs|ms)|M(?i:iss)|(?i:drs?|profs?|sens?|reps?|attys?|lt|col|gen|messrs|govs?|adm|rev"
               r"|maj|sgt|cpl|pvt|capt|ste?|ave|pres|lieut|hon|brig|co?mdr|pfc|spc|supts?|det|mt|ft|adj|adv"
               r"|asst|assoc|ens|insp|mlle|mme|msgr|sfc)")
    abcomp2 = r"(?i:invt|elec|natl)|(?i:m)[ft](?i:g)|(?i:dept)"
    # ACRO first: where it and a literal both match, ACRO is the longer ("a.k.a.A." vs "a.k.a.")
    m["ABBREV4"] = (f"(?:{m['ACRO']}|{abtitle}|(?i:vs|alex|wm|jos|cie)|(?i:a)\\.(?i:k)\\.(?i:a)"
                    f"|(?i:cf|treas|ph)|{abcomp2})")
    m["ABBREV2"] = f"{m['ABBREV4']}\\."
    m["ACRONYM"] = f"{m['ACRO']}\\."
    m["ABBREV3"] = r"(?i:ca|figs?|prop|nos?|art|bldg|prop|pp|op)\."
    m["PHONE"] = (r"(?:(?:\([0-9]{2,3}\)[ \u00A0]?|(?:\+\+?)?(?:[0-9]{2,4}[\- \u00A0])?[0-9]{2,4}[\- \u00A0])"
                  r"[0-9]{3,4}[\- \u00A0]?[0-9]{3,5}|(?:(?:\+\+?)?[0-9]{2,4}\.)?[0-9]{2,4}\.[0-9]{3,4}\.[0-9]{3,5})")
    m["LDOTS"] = r"(?:\.{3,5}|(?:\.[ \u00A0]){2,4}\.|[\u0085\u2026])"
    m["INSENTP"] = r"[,;:\u3001]"
    m["QUOTES"] = ("(?:(?i:&apos;)|''|[`\\u2018\\u2019\\u201A\\u201B\\u201C\\u201D\\u0091\\u0092\\u0093\\u0094"
                   r"\u201E\u201F\u2039\u203A\u00AB\u00BB]{1,2}|['\u0092\u2019])")
    m["DBLQUOT"] = r"(?:\"|(?i:&quot;))"
    m["TBSPEC"] = (f"(?:-(?i:rrb|lrb|rcb|lcb|rsb|lsb)-|(?i:c)\\.(?i:d)\\.(?i:s)|(?i:pro)-|(?i:anti)-"
                   f"|(?i:s)(?:&|(?i:&amp;))(?i:p)-500|(?i:s)(?:&|(?i:&amp;))(?i:ls)|(?i:cap){m['APOS']}(?i:n)"
                   f"|(?i:c){m['APOS']}(?i:est))")
    m["TBSPEC2"] = f"{m['APOS']}[0-9][0-9]"
    m["SMILEY"] = r"[<>]?[:;=][\-o*']?[()DPdpO\\{@|\[\]]"
    m["ASIANSMILEY"] = (r"(?:[\^x=~<>]\.\[\^x=~<>\]|[\-\^x=~<>']_[\-\^x=~<>']|\([\-\^x=~<>'][_.]?[\-\^x=~<>']\)"
                        r"|\([\^x=~<>']-[\^x=~<>'`]\))")
    m["MISCSYMBOL"] = (r"[+%&~\^|\\\u00A6\u00A7\u00A8\u00A9\u00AC\u00AE\u00AF\u00B0-\u00B3\u00B4-\u00BA\u00D7"
                       r"\u00F7\u0387\u05BE\u05C0\u05C3\u05C6\u05F3\u05F4\u0600-\u0603\u0606-\u060A\u060C\u0614"
                       r"\u061B\u061E\u066A\u066D\u0703-\u070D\u07F6\u07F7\u07F8\u0964\u0965\u0E4F\u1FBD\u2016"
                       r"\u2017\u2020-\u2023\u2030-\u2038\u203B\u203E-\u2042\u2044\u207A-\u207F\u208A-\u208E"
                       r"\u2100-\u214F\u2190-\u21FF\u2200-\u2BFF\u3012\u30FB\uFF01-\uFF0F\uFF1A-\uFF20\uFF3B-\uFF40"
                       r"\uFF5B-\uFF65]")
    acronym_next = ("(?:A(?i:bout)|A(?i:ccording)|A(?i:dditionally)|A(?i:fter)|A(?i:n)|A|A(?i:s)|A(?i:t)"
                    "|B(?i:ut)|E(?i:arlier)|H(?i:e)|H(?i:er)|H(?i:ere)|H(?i:owever)|I(?i:f)|I(?i:n)|I(?i:t)"
                    "|L(?i:ast)|M(?i:any)|M(?i:ore)|M(?i:r)\\.|M(?i:s)\\.|N(?i:ow)|O(?i:nce)|O(?i:ne)|O(?i:ther)"
                    "|O(?i:ur)|S(?i:he)|S(?i:ince)|S(?i:o)|S(?i:ome)|S(?i:uch)|T(?i:hat)|T(?i:he)|T(?i:heir)"
                    "|T(?i:hen)|T(?i:here)|T(?i:hese)|T(?i:hey)|T(?i:his)|W(?i:e)|W(?i:hen)|W(?i:hile)|W(?i:hat)"
                    f"|Y(?i:et)|Y(?i:ou)|{m['SGML']})")
    letterish = f"[{letter_cls}{extra_letters}&]"
    quote_chars = ("['\u0092\u2019&`\u2018\u201A\u201B\u201C\u201D\u0091\u0093\u0094\u201E\u201F"
                   "\u2039\u203A\u00AB\u00BB]")
    digitish = f"[{digit_cls}\\u07C0-\\u07C9]"
    # (name, first-char class (a superset is safe), token regex, trailing-context regex or None, action)
    spec = [
        ("c++", "[cC]", r"(?i:c)\+\+", None, "keep"),
        ("c#", "[cCfF]", r"(?i:c|f)#", None, "keep"),
        ("cannot", "[cC]", r"(?i:cannot)", None, ("pushback", 3)),
        ("'twas", "'", r"'(?i:twas)", None, ("pushback", 3)),
        ("'tis", "'", r"'(?i:tis)", None, ("pushback", 2)),
        ("gonna", "[gGlLwW]", r"(?i:gonna|gotta|lemme|gimme|wanna)", None, ("pushback", 2)),
        ("SGML", "<", m["SGML"], None, "nbsp"),
        ("SPMDASH", "[&\u0096\u0097\u2013\u2014\u2015]", r"(?:&(?i:md|mdash|ndash);|[\u0096\u0097\u2013\u2014\u2015])",
         None, ("const", "--")),
        ("SPAMP", "&", r"(?i:&amp;)", None, "amp"),
        ("SPPUNC", "&", r"&(?i:ht|tl|ur|lr|qc|ql|qr|odq|cdq|#[0-9]+);", None, "keep"),
        ("WORD/REDAUX", letterish, m["WORD"], m["REDAUX"], "soft"),
        ("SWORD/SREDAUX", "[A-Za-z\u00AD]", m["SWORD"], m["SREDAUX"], "soft"),
        ("WORD", letterish, m["WORD"], None, "soft"),
        ("APOWORD", None, apoword, None, "keep"),
        ("APOWORD2", "[yY]", f"(?i:y){m['APOS']}", m["L"], "keep"),
        ("FULLURL", "[hH]", m["FULLURL"], None, "keep"),
        ("LIKELYURL", "(?:[wW]|[^ \t\n\f\r\"`'<>|.!?(){},-_$])", m["LIKELYURL"], None, "keep"),
        ("EMAIL", "[<&a-zA-Z0-9]", m["EMAIL"], None, "keep"),
        ("TWITTER", "[@#]", m["TWITTER"], None, "keep"),
        ("REDAUX/", apos_first, m["REDAUX"], "[^A-Za-z]", "right_quote"),
        ("SREDAUX/", "[nN]", m["SREDAUX"], "[^A-Za-z]", "right_quote"),
        ("DATE", digitish, m["DATE"], None, "keep"),
        ("NUMBER", f"(?:[\\-+.:,\\u00AD\\u066B\\u066C]|{digitish})", m["NUMBER"], None, "soft"),
        ("SUBSUPNUM", "[\u207A\u207B\u208A\u208B\u2070\u00B9\u00B2\u00B3\u2074-\u2079\u2080-\u2089]",
         m["SUBSUPNUM"], None, "keep"),
        ("FRAC", digitish, m["FRAC"], None, "nbsp"),
        ("FRAC2", m["FRAC2"], m["FRAC2"], None, "fraction"),
        ("TBSPEC", "[\\-cCpPaAsS]", m["TBSPEC"], None, "amp"),
        ("THING3", "[A-Za-z0-9]", m["THING3"], None, "keep"),
        ("DOLSIGN", "[A-Z$#]", m["DOLSIGN"], None, "keep"),
        ("DOLSIGN2", m["DOLSIGN2"], m["DOLSIGN2"], None, "currency"),
        ("ACRONYM/", "[A-Za-z]", m["ACRONYM"], f"{m['SPACENL']}+{acronym_next}{m['SPACENL']}", "acronym"),
        ("ABBREV3/", "[A-Za-z]", m["ABBREV3"], f"{m['SPACENL']}?{m['Dj']}", "keep"),
        ("pty.", "[pPcC]", r"(?:(?i:pt)[eyEY]|(?i:co))\.", f"{m['SPACE']}(?i:ltd|lim)", "keep"),
        ("ABBREV1/SENTEND", "[A-Za-z]", m["ABBREV1"], m["SENTEND"], "dup_period"),
        ("ABBREV1/", "[A-Za-z]", m["ABBREV1"], r"[\s\S]{2}", "keep"),
        ("ABBREV1", "[A-Za-z]", m["ABBREV1"], None, "dup_period"),
        ("ABBREV2", "[A-Za-z]", m["ABBREV2"], None, "keep"),
        ("ABBREV4/", "[A-Za-z]", m["ABBREV4"], m["SPACE"], "keep"),
        ("ACRO/", "[A-Za-z]", m["ACRO"], m["SPACENL"], "keep"),
        ("TBSPEC2/", apos_first, m["TBSPEC2"], m["SPACENL"], "keep"),
        ("FILENAME/", f"(?:{letterish}|{digitish})", m["FILENAME"], f"(?:{m['SPACENL']}|[.?!,])", "keep"),
        ("WORD./", letterish, m["WORD"] + r"\.", m["INSENTP"], "soft"),
        ("PHONE", "[(+0-9]", m["PHONE"], None, "phone"),
        ("DBLQUOT/", "[\"&]", m["DBLQUOT"], "[A-Za-z0-9$]", "left_quote"),
        ("DBLQUOT", "[\"&]", m["DBLQUOT"], None, "right_quote"),
        ("DEL", "\u007f", "\u007f", None, "skip"),
        ("LESSTHAN", "[<&]", r"(?:<|(?i:&lt;))", None, ("const", "<")),
        ("GREATERTHAN", "[>&]", r"(?:>|(?i:&gt;))", None, ("const", ">")),
        ("SMILEY/", "[<>:;=]", m["SMILEY"], "[^A-Za-z0-9]", "parens"),
        ("ASIANSMILEY", "[\\^x=~<>\\-'(]", m["ASIANSMILEY"], None, "parens"),
        ("{", "\\{", r"\{", None, ("const", "-LCB-")),
        ("}", "\\}", r"\}", None, ("const", "-RCB-")),
        ("[", "\\[", r"\[", None, ("const", "-LSB-")),
        ("]", "\\]", r"\]", None, ("const", "-RSB-")),
        ("(", "\\(", r"\(", None, ("const", "-LRB-")),
        (")", "\\)", r"\)", None, ("const", "-RRB-")),
        ("HYPHENS", "-", r"-+", None, "hyphens"),
        ("LDOTS", "[.\u0085\u2026]", m["LDOTS"], None, ("const", "...")),
        ("FNMARKS", "[@#_]", r"(?:@+|#+|_+)", None, "keep"),
        ("ASTS", "[*\\\\]", r"(?:\*+|(?:\\\*){1,3})", None, "keep"),
        ("INSENTP", m["INSENTP"], m["INSENTP"], None, "keep"),
        ("?!", "[?!]", r"[?!]+", None, "keep"),
        ("PERIOD", "[.\u00A1\u00BF\u037E\u0589\u061F\u06D4\u0700-\u0702\u07FA\u3002]",
         "[.\u00A1\u00BF\u037E\u0589\u061F\u06D4\u0700-\u0702\u07FA\u3002]", None, "keep"),
        ("=", "=", "=", None, "keep"),
        ("/", "/", "/", None, "keep"),
        ("HTHING./", "[A-Za-z0-9]", m["HTHING"] + r"\.", m["INSENTP"], "soft"),
        ("HTHING", "[A-Za-z0-9]", m["HTHING"], None, "soft"),
        ("THING./", f"(?:{letterish}|{digitish})", m["THING"] + r"\.", m["INSENTP"], "keep"),
        ("THING", f"(?:{letterish}|{digitish})", m["THING"], None, "keep"),
        ("THINGA./", "[A-Z]", m["THINGA"] + r"\.", m["INSENTP"], "amp"),
        ("THINGA", "[A-Z]", m["THINGA"], None, "amp"),
        ("'/", "'", "'", "[A-Za-z][^ \t\n\r\u00A0]", "left_quote"),
        ("REDAUX", apos_first, m["REDAUX"], None, "right_quote"),
        ("SREDAUX", "[nN]", m["SREDAUX"], None, "right_quote"),
        ("QUOTES", quote_chars, m["QUOTES"], None, "right_quote"),
        ("FAKEDUCKFEET", "[<>]", r"(?:<<|>>)", None, "keep"),
        ("MISCSYMBOL", m["MISCSYMBOL"], m["MISCSYMBOL"], None, "keep"),
        ("SPACES", "[\u0000 \t\u00A0\u2000-\u200A\u3000\u200B\u200E\u200F\uFEFF]",
         "(?:\u0000|[ \t\u00A0\u2000-\u200A\u3000]+|[\u200B\u200E\u200F\uFEFF])", None, "skip"),
        ("NEWLINE", "[\r\n\u2028\u2029\u000B\u000C\u0085]", m["NEWLINE"], None, "newline"),
        ("&nbsp;", "&", r"(?i:&nbsp;)", None, "skip"),
    ]
    rules = []
    # A character a match must contain: the rule is skipped when the window lacks it. Without this,
    # these patterns rescan the whole window at every position of text like "a,a,a,..." (quadratic).
    needs = {"SGML": ">", "FULLURL": ":", "LIKELYURL": ".", "EMAIL": "@", "HTHING./": "-", "HTHING": "-",
             "FILENAME/": ".", "THING3": "/", "PHONE": None}
    for rank, (name, first, token, context, action) in enumerate(spec):
        for alt_first, alt_token in (token if isinstance(token, list) else [(first, token)]):
            pattern = f"(?P<t>{alt_token})" + (f"(?:{context})" if context else "")
            rules.append((rank, re.compile(alt_first), re.compile(pattern), action, needs.get(name)))
    abbrev = re.compile(f"(?:{m['ABBREV1']}|{m['ABBREV2']}|{m['ABBREV3']}|(?:(?i:pt)[eyEY]|(?i:co))\\.)")
    return _Lexer(tuple(rules), abbrev)


# Whole-caption fast path: a caption made only of plain words (optionally + "'s"), numbers and single
# ,;:!?. marks, separated by spaces, lexes to exactly these pieces unless it contains an assimilation
# ("cannot"), an abbreviation before a period ("Mr.", "A."), digits after a space after digits (phone
# numbers, "5 7/8") or dots that make an ellipsis (". . ."); those captions take the full lexer.
_SIMPLE_TOKEN = r"(?:[A-Za-z]++(?:'s)?+|[0-9]++)(?:[,;:!?]|\.(?![ \t]++\.))?+|[,;:!?]|\.(?![ \t]++\.)"
_SIMPLE = re.compile(rf"[ \t]*+(?:(?:{_SIMPLE_TOKEN})(?:[ \t]++|\Z))*+\Z")
_SIMPLE_PIECES = str.maketrans({",": " ", ";": " ", ":": " ", "!": " ", "?": " ", ".": " ", "'": " '"})
_DIGIT_SPACE_DIGIT = re.compile(r"[0-9][ \t]+[0-9]")


def _simple_tokenize(text: str) -> str | None:
    """ptb_tokenize of a plain caption (see above) with a few C-level string passes, or None."""
    if not _SIMPLE.match(text) or _DIGIT_SPACE_DIGIT.search(text):
        return None
    pieces = text.lower().translate(_SIMPLE_PIECES).split()   # "dog's." -> "dog", "'s"; marks dropped
    if not _SPLIT_WORDS.keys().isdisjoint(pieces):
        return None
    if "." in text:
        abbrev = _lexer().abbrev_period
        for part in text.split(".")[:-1]:
            word = part.rsplit(None, 1)[-1] if part and not part[-1].isspace() else ""
            if word.isalpha() and abbrev.fullmatch(word + "."):
                return None
    return " ".join(pieces)


@functools.lru_cache(maxsize=4096)
def _rules_for(ch: str) -> tuple[int, ...]:
    """Indices of the rules whose first-character class admits ch."""
    return tuple(i for i, r in enumerate(_lexer().rules) if r[1].match(ch))


_AMP = re.compile(r"(?i:&amp;)")
_LEFT_QUOTES = [(re.compile("&apos;|'"), "`"), (re.compile('"|&quot;'), "``")]
_RIGHT_QUOTES = [(re.compile("&apos;|'"), "'"), (re.compile('"|&quot;'), "''")]
_UNI_QUOTES = [(re.compile("[\u0091\u2018\u201B\u2039]"), "`"), (re.compile("[\u0092\u2019\u203A]"), "'"),
               (re.compile("[\u0093\u201C\u00AB]"), "``"), (re.compile("[\u0094\u201D\u00BB]"), "''")]
_FRACTIONS = {"\u00bc": "1/4", "\u00bd": "1/2", "\u00be": "3/4", "\u2153": "1/3", "\u2154": "2/3"}


def _latex_quotes(tok: str, probably_left: bool) -> str:
    """PTBLexer.latexQuotes: ASCII quotes become `` ` or '' ' by side, curly ones by their own side."""
    for pattern, repl in (_LEFT_QUOTES if probably_left else _RIGHT_QUOTES) + _UNI_QUOTES:
        tok = pattern.sub(repl, tok)
    return tok


def _lex(text: str, use_fast_path: bool = True, use_first_filter: bool = True) -> list[str]:
    """PTB tokens of text (original case, punctuation kept); _NL marks each newline."""
    rules, abbrev = _lexer()
    all_rules = tuple(range(len(rules)))
    n = len(text)
    out: list[str] = []
    pos = 0
    while pos < n:
        if use_fast_path:
            fm = _FAST.match(text, pos)
            if fm is not None:
                kind = fm.lastgroup
                if kind == "ws":
                    pos = fm.end()
                    continue
                if kind == "nl":
                    out.append(_NL)
                    pos += 1
                    continue
                word = fm.group("w")
                if word is not None:
                    low = word.lower()
                    period = fm.group("p") == "."
                    if low not in _SPLIT_WORDS and not (period and abbrev.fullmatch(text, pos, fm.end())):
                        out.append(word)
                        if fm.group("p"):
                            out.append(fm.group("p"))
                        pos = fm.end()
                        continue
                elif kind in ("num", "pc"):
                    out.append(fm.group(kind))
                    pos = fm.end()
                    continue
        # Slow path: JFlex longest match over the rules, ties to the earliest.
        end = min(n, pos + MAX_TOKEN_CHARS)
        best_len, best = 0, None
        for i in (_rules_for(text[pos]) if use_first_filter else all_rules):
            need = rules[i][4]
            if need is not None and text.find(need, pos, end) < 0:
                continue
            mt = rules[i][2].match(text, pos, end)
            # entries are in rule order, so ">" keeps the earliest rule on a tie
            if mt is not None and mt.end() - pos > best_len:
                best_len, best = mt.end() - pos, (i, mt)
        if best is None:  # untokenizable character: the lexer deletes it
            pos += 1
            continue
        i, mt = best
        tok = mt.group("t")
        action = rules[i][3]
        nxt = mt.end("t")
        if action == "keep":
            out.append(tok)
        elif action == "soft":
            out.append(tok.replace("\u00ad", "") or "-")
        elif action == "skip":
            pass
        elif action == "newline":
            out.append(_NL)
        elif action == "amp":
            out.append(_AMP.sub("&", tok))
        elif action == "nbsp":
            out.append(tok.replace(" ", _NBSP))
        elif action == "right_quote":
            out.append(_latex_quotes(tok, False))
        elif action == "left_quote":
            out.append(_latex_quotes(tok, True))
        elif action == "parens":
            out.append(tok.replace("(", "-LRB-").replace(")", "-RRB-"))
        elif action == "phone":
            out.append(tok.replace(" ", _NBSP).replace("(", "-LRB-").replace(")", "-RRB-"))
        elif action == "currency":
            out.append(re.sub("[\u0080\u00a4\u20a0\u20ac]", "$", tok.replace("\u00a2", "cents").replace("\u00a3", "#")))
        elif action == "fraction":
            out.append(_FRACTIONS.get(tok, tok))
        elif action == "hyphens":
            out.append("--" if 3 <= len(tok) <= 4 else tok)
        elif action == "dup_period":  # emit "etc." and lex its period again
            out.append(tok)
            nxt -= 1
        elif action == "acronym":  # "I." -> "I" + "."; "U.S." -> "U.S." + "."
            if len(tok) == 2:
                out.append(tok[0])
            else:
                out.append(tok)
            nxt -= 1
        elif action[0] == "pushback":
            tok = tok[: len(tok) - action[1]]
            out.append(tok)
            nxt = pos + len(tok)
        elif action[0] == "const":
            out.append(action[1])
        pos = nxt
    return out


def _clean(text: object) -> str:
    """Any model output -> one line of str: None -> '', other objects -> str(), newlines and unlexable
    code points -> ' ' (pycocoevalcap replaces '\\n' by ' ' too)."""
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    text = _TO_SPACE.sub(" ", text[:MAX_INPUT_CHARS])
    if _NON_BMP.search(text):
        text = _NON_BMP.sub(_utf16_pair, text)
    return text


def _utf16_pair(match: re.Match) -> str:
    cp = ord(match.group()) - 0x10000
    return chr(0xD800 + (cp >> 10)) + chr(0xDC00 + (cp & 0x3FF))


def _finish(tokens: list[str]) -> str:
    """-lowerCase, then pycocoevalcap's line.rstrip(), punctuation filter and ' '.join (surrogate pairs
    re-joined as Java's UTF-8 writer does)."""
    line = " ".join(tok.lower() for tok in tokens).rstrip()
    text = " ".join(t for t in line.split(" ") if t not in _PUNCT)
    if _SURROGATE.search(text):
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def ptb_tokens(text: object) -> list[str]:
    """Stanford PTB tokens (3.4.1 rules, original case, punctuation kept) of one caption.

    >>> ptb_tokens("I don't think it's the U.S. flag (left).")
    ['I', 'do', "n't", 'think', 'it', "'s", 'the', 'U.S.', 'flag', '-LRB-', 'left', '-RRB-', '.']
    """
    return _lex(_clean(text) + "\n")[:-1]


def ptb_tokenize(text: object) -> str:
    """One caption as pycocoevalcap's PTBTokenizer returns it inside a batch (followed by a line break):
    lower-cased PTB tokens without PUNCTUATIONS, joined by spaces. Never raises; None gives "".

    >>> ptb_tokenize("A 'Stop' sign, and a 3-year-old boy's kite (red).")
    "a stop sign and a 3-year-old boy 's kite -lrb- red -rrb-"
    >>> ptb_tokenize("They cannot see Mr. Smith's U.S.A. flag... ")
    "they can not see mr. smith 's u.s.a. flag"
    """
    if isinstance(text, str) and len(text) <= MAX_INPUT_CHARS:
        simple = _simple_tokenize(text)
        if simple is not None:
            return simple
    return _finish(_lex(_clean(text) + "\n")[:-1])


def ptb_tokenize_batch(texts: Iterable[object]) -> list[str]:
    """ptb_tokenize of each caption on its own (a caption's tokens never depend on its neighbours)."""
    return [ptb_tokenize(t) for t in texts]


def ptb_tokenize_stream(texts: Sequence[object]) -> list[str]:
    """What pycocoevalcap's PTBTokenizer returns for these captions in this order: they are lexed as one
    newline-separated stream, so a caption's last token can depend on the start of the next caption
    (see the module doc). Use it to reproduce COCO numbers exactly; ptb_tokenize_batch otherwise.

    >>> ptb_tokenize_stream(["the letter C.", "A cat."]), ptb_tokenize_batch(["the letter C.", "A cat."])
    (['the letter c', 'a cat'], ['the letter c.', 'a cat'])
    """
    if len(texts) == 0:
        return []
    lines: list[list[str]] = [[]]
    for tok in _lex("\n".join(_clean(t) for t in texts)):
        if tok == _NL:
            lines.append([])
        else:
            lines[-1].append(tok)
    assert len(lines) == len(texts), "a token spanned a caption boundary"  # _clean removes every newline
    return [_finish(line) for line in lines]


def ptb_tokenize_refs(refs: Sequence[Sequence[object]]) -> list[list[str]]:
    """ptb_tokenize of each reference; repeated reference strings (a fixed corpus) hit a cache."""
    return [[_ptb_tokenize_cached(r) if isinstance(r, str) else ptb_tokenize(r) for r in group]
            for group in refs]


@functools.lru_cache(maxsize=1 << 17)
def _ptb_tokenize_cached(text: str) -> str:
    return ptb_tokenize(text)
