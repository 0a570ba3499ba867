"""Random line texts for synthetic printed-text training: words, numbers, codes and mixtures.

The recogniser must read what is printed, not what is likely, so a good share of the text is
pseudo-words, random codes and fully random strings; real words and formats (prices, dates,
e-mail addresses) are there so common shapes are seen often enough.
"""
from __future__ import annotations

import re

import numpy as np

from batch_ocr.charset import PRINTED_CHARSET

CATEGORIES = ("words", "numbers", "codes", "mixed")

_ENGLISH = """
the of and to in is it you that he was for on are with as his they be at one have this from or had
by hot word but what some we can out other were all there when up use your how said an each she
which do their time if will way about many then them write would like so these her long make thing
see him two has look more day could go come did number sound no most people my over know water than
call first who may down side been now find any new work part take get place made live where after
back little only round man year came show every good me give our under name very through just form
sentence great think say help low line differ turn cause much mean before move right boy old too same
tell does set three want air well also play small end put home read hand port large spell add even
land here must big high such follow act why ask men change went light kind off need house picture try
us again animal point mother world near build self earth father head stand own page should country
found answer school grow study still learn plant cover food sun four between state keep eye never last
let thought city tree cross farm hard start might story saw far sea draw left late run while press
close night real life few north open seem together next white children begin got walk example ease
paper group always music those both mark often letter until mile river car feet care second book carry
took science eat room friend began idea fish mountain stop once base hear horse cut sure watch colour
face wood main enough plain girl usual young ready above ever red list though feel talk bird soon body
dog family direct pose leave song measure door product black short numeral class wind question happen
complete ship area half rock order fire south problem piece told knew pass since top whole king space
heard best hour better true during hundred five remember step early hold west ground interest reach
fast verb sing listen six table travel less morning ten simple several vowel toward war lay against
pattern slow center love person money serve appear road map rain rule govern pull cold notice voice
unit power town fine certain fly fall lead cry dark machine note wait plan figure star box noun field
rest correct able pound done beauty drive stood contain front teach week final gave green quick
develop ocean warm free minute strong special mind behind clear tail produce fact street inch multiply
nothing course stay wheel full force blue object decide surface deep moon island foot system busy test
record boat common gold possible plane stead dry wonder laugh thousand ago ran check game shape equate
miss brought heat snow tire bring yes distant fill east paint language among invoice total amount
customer account payment balance receipt delivery address phone email date order quantity price tax
discount subtotal due reference description item service contract signature office manager report
page section chapter figure table note summary january february march april may june july august
september october november december monday tuesday wednesday thursday friday saturday sunday
""".split()

# Words that carry the accented Latin-1 letters in their natural places (fr, de, es, pt, it, nl, nordic).
_FOREIGN = """
café crème déjà vu élève où être français garçon hôtel naïve noël façade fiancée résumé théâtre
première société général août hôpital forêt île cour bientôt très après voilà déçu reçu
Müller Straße größe über schön Mädchen Grüße Bär Füße Köln München Zürich Düsseldorf Österreich
Gebühr Rechnung Änderung Übersicht Bestätigung Lieferschein Mönchengladbach weiß heißen Fußgänger
niño año señor mañana España jalapeño pingüino acción canción información teléfono dirección
número página corazón árbol fácil difícil útil Málaga Córdoba Cádiz Bogotá México Perú
São Paulo João Conceição Brasília coração ação informação não irmã avó pão mãe Galvão Assunção
città perché però più caffè così lunedì università
Ålesund Øresund Ærø smørrebrød Tromsø Åsa Søren Håkon Göteborg Malmö Jönköping Björn Åland
Þór Ísafjörður Reykjavík ÉTÉ ÎLE ÇA ÀÉÒÙ FRANÇOIS ÖSTERREICH ÜBER
""".split()

# Contractions and elisions, with both the typographic and the typewriter apostrophe.
_ELIDED = ["don’t", "it’s", "we’re", "can’t", "l’été", "d’Artagnan", "qu’il", "rock ’n’ roll",
           "O’Neill", "’90s", "won't", "isn't", "I'm", "l'hôtel", "dell'arte", "Mc’Kay"]

# Letter frequencies (roughly English/European text) for pseudo-words that look like words.
_CONSONANTS = "bcdfghjklmnpqrstvwxyz"
_CONSONANT_WEIGHTS = np.array([15, 28, 43, 22, 20, 61, 2, 8, 40, 24, 67, 19, 1, 60, 63, 91, 10, 24,
                               2, 20, 1], dtype=float)
_VOWELS = "aeiouy"
_VOWEL_WEIGHTS = np.array([82, 127, 70, 75, 28, 5], dtype=float)
_ACCENTED_VOWELS = "àáâãäåæèéêëìíîïòóôõöøùúûüýÿ"
_ACCENTED_CONSONANTS = "çñßðþ"
_CLUSTERS = ["th", "ch", "sh", "st", "tr", "pr", "br", "gr", "cr", "pl", "bl", "fl", "sp", "sc",
             "nd", "ng", "nt", "rt", "ll", "ss", "ck", "ph", "wh", "qu", "str", "sch", "mp"]

_LETTERS = "".join(c for c in PRINTED_CHARSET if c.isalpha())
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"
_TLDS = ["com", "org", "net", "de", "fr", "es", "pt", "co.uk", "io", "eu", "info", "ch", "at", "nl"]
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_LABELS = ["Total", "Subtotal", "VAT", "Tax", "Date", "Invoice", "Order", "Ref", "No.", "Tel.",
           "Fax", "Item", "Qty", "Price", "Amount", "Page", "Account", "IBAN", "Due", "Balance",
           "Summe", "Datum", "Rechnung", "Fecha", "Número", "Montant", "Réf.", "N°", "Art.-Nr."]


def _pick(rng: np.random.Generator, items):
    return items[int(rng.integers(len(items)))]


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(_DIGITS[i] for i in rng.integers(0, 10, size=n))


def _chars(rng: np.random.Generator, alphabet: str, n: int) -> str:
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), size=n))


def _pseudo_word(rng: np.random.Generator) -> str:
    """A pronounceable non-word, sometimes with accented letters, so that reading cannot lean on a
    lexicon."""
    syllables = int(rng.integers(1, 5))
    parts = []
    accented = rng.random() < 0.25
    for _ in range(syllables):
        if rng.random() < 0.2:
            parts.append(_pick(rng, _CLUSTERS))
        elif rng.random() < 0.85:
            parts.append(_CONSONANTS[rng.choice(21, p=_CONSONANT_WEIGHTS / _CONSONANT_WEIGHTS.sum())])
        if accented and rng.random() < 0.3:
            parts.append(_pick(rng, _ACCENTED_VOWELS))
        else:
            parts.append(_VOWELS[rng.choice(6, p=_VOWEL_WEIGHTS / _VOWEL_WEIGHTS.sum())])
        if rng.random() < 0.3:
            parts.append(_CONSONANTS[rng.choice(21, p=_CONSONANT_WEIGHTS / _CONSONANT_WEIGHTS.sum())])
    if accented and rng.random() < 0.15:
        parts.insert(int(rng.integers(len(parts) + 1)), _pick(rng, _ACCENTED_CONSONANTS))
    return "".join(parts)


def _word(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.5:
        return _pick(rng, _ENGLISH)
    if r < 0.7:
        return _pick(rng, _FOREIGN)
    if r < 0.97:
        return _pseudo_word(rng)
    return _chars(rng, _LETTERS, int(rng.integers(1, 9)))


def _case(rng: np.random.Generator, text: str) -> str:
    r = rng.random()
    if r < 0.12:
        return text.upper()
    if r < 0.3:
        return " ".join(w[:1].upper() + w[1:] for w in text.split(" "))
    if r < 0.6:
        return text[:1].upper() + text[1:]
    return text


# ---------------------------------------------------------------------------------- numbers

def _group(int_part: str, sep: str) -> str:
    groups = []
    while len(int_part) > 3:
        groups.insert(0, int_part[-3:])
        int_part = int_part[:-3]
    groups.insert(0, int_part)
    return sep.join(groups)


def _plain_number(rng: np.random.Generator) -> str:
    magnitude = int(rng.integers(1, 10))
    int_part = str(int(rng.integers(10 ** (magnitude - 1), 10 ** magnitude))) if magnitude > 1 \
        else _pick(rng, _DIGITS)
    style = rng.random()
    if style < 0.35:
        return int_part
    decimals = _digits(rng, int(rng.integers(1, 4)))
    if style < 0.6:
        return f"{_group(int_part, ',') if rng.random() < 0.5 else int_part}.{decimals}"
    if style < 0.85:
        return f"{_group(int_part, '.') if rng.random() < 0.5 else int_part},{decimals}"
    return _group(int_part, _pick(rng, [" ", "'", ","]))


def _price(rng: np.random.Generator) -> str:
    amount = int(rng.integers(0, 10 ** int(rng.integers(1, 7))))
    cents = _digits(rng, 2)
    symbol = _pick(rng, ["€", "$", "£", "¥", "EUR", "USD", "CHF", "GBP"])
    style = rng.random()
    if style < 0.4:
        return f"{symbol}{_group(str(amount), ',')}.{cents}" if len(symbol) == 1 else \
            f"{symbol} {_group(str(amount), ',')}.{cents}"
    if style < 0.75:
        return f"{_group(str(amount), '.')},{cents} {symbol}"
    if style < 0.85:
        return f"{symbol}{amount}"
    if style < 0.92:
        return f"-{symbol}{amount}.{cents}"
    return f"({_group(str(amount), ',')}.{cents})"


def _date(rng: np.random.Generator) -> str:
    year = int(rng.integers(1950, 2040))
    month = int(rng.integers(1, 13))
    day = int(rng.integers(1, 29))
    style = int(rng.integers(8))
    return [
        f"{year}-{month:02d}-{day:02d}",
        f"{day:02d}/{month:02d}/{year}",
        f"{day:02d}.{month:02d}.{year % 100:02d}",
        f"{day}.{month}.{year}",
        f"{month}/{day}/{year % 100:02d}",
        f"{day} {_MONTHS[month - 1]} {year}",
        f"{_MONTHS[month - 1].upper()} {day}, {year}",
        f"{day:02d}-{_MONTHS[month - 1]}-{year % 100:02d}",
    ][style]


def _time(rng: np.random.Generator) -> str:
    h, m, s = int(rng.integers(0, 24)), int(rng.integers(0, 60)), int(rng.integers(0, 60))
    style = int(rng.integers(4))
    if style == 0:
        return f"{h:02d}:{m:02d}"
    if style == 1:
        return f"{h:02d}:{m:02d}:{s:02d}"
    if style == 2:
        return f"{h % 12 + 1}:{m:02d} {_pick(rng, ['AM', 'PM', 'am', 'pm', 'a.m.', 'p.m.'])}"
    return f"{h}h{m:02d}"


def _phone(rng: np.random.Generator) -> str:
    style = int(rng.integers(5))
    if style == 0:
        return f"+{rng.integers(1, 99)} {_digits(rng, 2)} {_digits(rng, 4)} {_digits(rng, 3)}"
    if style == 1:
        return f"({_digits(rng, 3)}) {_digits(rng, 3)}-{_digits(rng, 4)}"
    if style == 2:
        return f"0{_digits(rng, 3)}/{_digits(rng, 6)}"
    if style == 3:
        return f"+{rng.integers(1, 99)}-{_digits(rng, 3)}-{_digits(rng, 7)}"
    return " ".join(_digits(rng, 2) for _ in range(5))


def _measure(rng: np.random.Generator) -> str:
    r = int(rng.integers(8))
    n = _plain_number(rng) if rng.random() < 0.5 else str(int(rng.integers(0, 1000)))
    if r == 0:
        return f"{rng.integers(-40, 120)}°{_pick(rng, ['C', 'F', ''])}"
    if r == 1:
        return f"{n}%" if rng.random() < 0.5 else f"{n} %"
    if r == 2:
        return f"{rng.integers(1, 100)}½"
    if r == 3:
        return f"§ {rng.integers(1, 400)}" if rng.random() < 0.5 else f"§{rng.integers(1, 400)}"
    if r == 4:
        return f"{n} {_pick(rng, ['kg', 'g', 'mm', 'cm', 'm', 'km', 'ml', 'l', 'h', 'min', 'pcs', 'x'])}"
    if r == 5:
        return f"{rng.integers(1, 40)}{_pick(rng, ['st', 'nd', 'rd', 'th', '.', '°'])}"
    return f"{rng.integers(0, 100)}:{rng.integers(0, 100)}" if rng.random() < 0.5 else \
        f"{rng.integers(1, 500)}/{rng.integers(1, 500)}"


def _number_item(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.3:
        return _plain_number(rng)
    if r < 0.5:
        return _price(rng)
    if r < 0.65:
        return _date(rng)
    if r < 0.75:
        return _time(rng)
    if r < 0.85:
        return _phone(rng)
    return _measure(rng)


# ---------------------------------------------------------------------------------- codes

def _code(rng: np.random.Generator) -> str:
    if rng.random() < 0.15:
        return _symbolic(rng)
    r = int(rng.integers(10))
    if r == 0:  # like W4R-91M
        return "-".join(_chars(rng, _UPPER + _DIGITS, int(rng.integers(2, 6)))
                        for _ in range(int(rng.integers(2, 4))))
    if r == 1:  # like INV-2026-0042
        prefix = _pick(rng, ["INV", "PO", "ORD", "REF", "SO", "DN", "RE", "CN", "TKT", "CASE"])
        return f"{prefix}{_pick(rng, ['-', '/', '', ' ', '#'])}{rng.integers(1990, 2040)}" \
               f"{_pick(rng, ['-', '/', ''])}{_digits(rng, int(rng.integers(3, 7)))}"
    if r == 2:  # serial numbers
        return _chars(rng, _UPPER + _DIGITS, int(rng.integers(6, 17)))
    if r == 3:  # e-mail
        user = _pick(rng, [_word(rng).lower(), _pseudo_word(rng)])
        if rng.random() < 0.5:
            user += _pick(rng, [".", "_", "-", ""]) + _pick(rng, [_pseudo_word(rng), _digits(rng, 2)])
        user = "".join(c for c in user if c.isascii())
        return f"{user or 'info'}@{_pseudo_word(rng)}.{_pick(rng, _TLDS)}"
    if r == 4:  # URL
        host = f"{_pick(rng, ['www.', '', 'shop.', 'api.'])}{_pseudo_word(rng)}.{_pick(rng, _TLDS)}"
        path = "/".join(_pseudo_word(rng) for _ in range(int(rng.integers(0, 3))))
        url = f"{_pick(rng, ['https://', 'http://', ''])}{host}"
        url = "".join(c for c in url if c.isascii())
        if path:
            url += "/" + "".join(c for c in path if c.isascii())
        if rng.random() < 0.2:
            url += f"?id={_digits(rng, 4)}&p={rng.integers(1, 9)}"
        return url
    if r == 5:  # hex / hashes
        return _pick(rng, ["0x", "#", ""]) + _chars(rng, "0123456789abcdef" if rng.random() < 0.6
                                                    else "0123456789ABCDEF", int(rng.integers(4, 17)))
    if r == 6:  # IBAN-like groups
        return _pick(rng, ["DE", "FR", "ES", "PT", "GB", "NL", "AT", "CH"]) + _digits(rng, 2) + " " + \
            " ".join(_chars(rng, _DIGITS + _UPPER[:6], 4) for _ in range(int(rng.integers(2, 6))))
    if r == 7:  # postal codes, plates
        return _pick(rng, [f"{_digits(rng, 5)}", f"{_chars(rng, _UPPER, 2)}{rng.integers(1, 99)} "
                           f"{rng.integers(1, 9)}{_chars(rng, _UPPER, 2)}",
                           f"{_chars(rng, _UPPER, 1)}-{_chars(rng, _UPPER, 2)} {_digits(rng, 4)}",
                           f"{_digits(rng, 4)}-{_digits(rng, 3)}"])
    if r == 8:  # identifiers, file names
        name = "".join(c for c in _pseudo_word(rng) if c.isascii()) or "file"
        return _pick(rng, [f"{name}_{_digits(rng, 3)}.{_pick(rng, ['pdf', 'txt', 'csv', 'jpg', 'xml'])}",
                           f"{name.upper()}{_digits(rng, 2)}", f"v{rng.integers(0, 20)}."
                           f"{rng.integers(0, 30)}.{rng.integers(0, 100)}", f"@{name}",
                           f"{name}#{_digits(rng, 3)}", f"C:\\{name}\\{_pseudo_word(rng)}"])
    # random strings over the whole printed charset, so nothing leans on a lexicon or format
    return _chars(rng, PRINTED_CHARSET, int(rng.integers(1, 25)))


def _symbolic(rng: np.random.Generator) -> str:
    """Snippets where rare ASCII symbols occur in real documents (markup, code, formulas)."""
    name = "".join(c for c in _pseudo_word(rng) if c.isascii()) or "x"
    n = str(int(rng.integers(0, 1000)))
    return _pick(rng, [
        f"<{name}>", f"</{name}>", f"{{{name}}}", f"${{{name}}}", f"x^{rng.integers(2, 9)}",
        f"{n}^{rng.integers(2, 4)}", f"~/{name}/{_pseudo_word(rng)}", f"~{n}", f"`{name}`",
        f"{name} | {_pseudo_word(rng)}", f"|{n}|", f"a <= {n}", f"{name} >= {n}", f"{name} -> {n}",
        f"=> {name}", f"[{n}]", f"*{name}*", f"_{name}_", f"{name}()", f"{name}[{n}]",
        f"#{name}", f"@{name}", f"{name}!= {n}", f"{n} < {rng.integers(0, 999)}", f"<{n}>",
        f"{name}&{_pseudo_word(rng)}", f"{name}={n};", f"\\{name}", f"^{name}", f"{{ {n} }}",
        f"|| {name} ||", f"<<{name}>>", f"{n}+{rng.integers(0, 99)}={rng.integers(0, 999)}",
    ])


# ---------------------------------------------------------------------------------- sentences

_QUOTES = [("“", "”"), ("„", "“"), ("«", "»"), ("« ", " »"), ("‘", "’"), ('"', '"'), ("'", "'"),
           ("(", ")"), ("[", "]")]


def _sentence(rng: np.random.Generator, target: int) -> str:
    words: list[str] = []
    length = 0
    while length < target:
        word = _word(rng) if rng.random() > 0.03 else _pick(rng, _ELIDED)
        if rng.random() < 0.05:
            word = word + "’s" if rng.random() < 0.5 else word + "'s"
        words.append(word)
        length += len(word) + 1
        if rng.random() < 0.12 and len(words) > 1:
            words[-1] += _pick(rng, [",", ",", ";", ":", ".", "…", "!", "?"])
        if rng.random() < 0.05:
            words.append(_pick(rng, ["–", "—", "-", "&", "•", "/", "+", "="]))
    text = _case(rng, " ".join(words))
    if rng.random() < 0.4:
        text += _pick(rng, [".", ".", ".", "!", "?", ":", "…", "...", ";", ","])
    if rng.random() < 0.15:
        left, right = _pick(rng, _QUOTES)
        text = f"{left}{text}{right}"
    if rng.random() < 0.08:
        text = f"{_pick(rng, ['•', '-', '*', '–', '1.', 'a)', 'i.', '(3)'])} {text}"
    return text


def _number_line(rng: np.random.Generator, target: int) -> str:
    items = [_number_item(rng)]
    while sum(len(i) + 1 for i in items) < target and rng.random() < 0.7:
        items.append(_pick(rng, [" ", "  ", " – ", " - ", " / ", "; ", ", ", " x "]).strip()
                     if rng.random() < 0.2 else "")
        items.append(_number_item(rng))
    return " ".join(i for i in items if i)


def _code_line(rng: np.random.Generator, target: int) -> str:
    items = [_code(rng)]
    while sum(len(i) + 1 for i in items) < target and rng.random() < 0.5:
        items.append(_code(rng))
    return " ".join(items)


def _mixed_line(rng: np.random.Generator, target: int) -> str:
    r = rng.random()
    if r < 0.3:
        label = _pick(rng, _LABELS)
        value = _number_item(rng) if rng.random() < 0.6 else _code(rng)
        return f"{label}{_pick(rng, [':', '', ' #', ' -', ':'])} {value}"
    if r < 0.5:  # addresses
        street = _pick(rng, _FOREIGN + _ENGLISH).capitalize()
        kind = _pick(rng, ["Street", "St.", "Road", "Ave.", "straße", "str.", "weg", "Rue", "Calle",
                           "Rua", "Avenida", "Via", "Lane"])
        town = _pick(rng, [w for w in _FOREIGN if w[:1].isupper()] + [_pseudo_word(rng).capitalize()])
        number = f"{rng.integers(1, 300)}{_pick(rng, ['', '', 'a', 'B', '/2'])}"
        return _pick(rng, [f"{number} {street} {kind}, {town}", f"{street}{kind} {number}",
                           f"{_digits(rng, 5)} {town}", f"{kind} {street}, {number}",
                           f"{town}, {_date(rng)}"])
    parts = []
    length = 0
    while length < target:
        x = rng.random()
        part = _word(rng) if x < 0.5 else (_number_item(rng) if x < 0.8 else _code(rng))
        parts.append(part)
        length += len(part) + 1
    return _case(rng, " ".join(parts)) if rng.random() < 0.3 else " ".join(parts)


# ---------------------------------------------------------------------------------- public

_COVER = set(PRINTED_CHARSET)


def _target_length(rng: np.random.Generator, max_chars: int) -> int:
    # Mostly 5..30 characters, with short labels and full-width lines both represented.
    r = rng.random()
    if r < 0.1:
        n = int(rng.integers(1, 6))
    elif r < 0.8:
        n = int(rng.integers(5, 31))
    else:
        n = int(rng.integers(20, max(21, max_chars + 1)))
    return max(1, min(n, max_chars))


def _clean(text: str, max_chars: int) -> str:
    text = "".join(c for c in text if c in _COVER)
    text = re.sub(r" {2,}", " ", text).strip()
    if len(text) > max_chars:
        cut = text[:max_chars]
        # Prefer to end at a word boundary so lines do not all end in half words.
        space = cut.rfind(" ")
        if space >= max_chars // 2 and text[max_chars:max_chars + 1] != " ":
            cut = cut[:space]
        text = cut.strip()
    return text


def sample_text(rng: np.random.Generator, max_chars: int = 40) -> tuple[str, str]:
    """One line of text (1..max_chars chars, no leading/trailing/double spaces, all characters in
    PRINTED_CHARSET) and its category: 'words', 'numbers', 'codes' or 'mixed'."""
    category = CATEGORIES[int(rng.choice(4, p=[0.45, 0.2, 0.15, 0.2]))]
    for _ in range(20):
        target = _target_length(rng, max_chars)
        if category == "words":
            text = _sentence(rng, target)
        elif category == "numbers":
            text = _number_line(rng, target)
        elif category == "codes":
            text = _code_line(rng, target)
        else:
            text = _mixed_line(rng, target)
        # Overshooting the target a little is fine; far beyond it we cut to the target length.
        text = _clean(text, min(max_chars, max(target + 8, target * 2)))
        if text:
            return text, category
    return _chars(rng, _UPPER + _DIGITS, max(1, min(8, max_chars))), category
