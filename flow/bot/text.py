"""Text normalisation and fuzzy phrase matching for the rules bot.

Customers write with or without accents, in any case, with small typos: "Horario de funcinamento?"
must match the example "horário de funcionamento". Both sides are normalised (accents stripped,
lower-cased, punctuation dropped, stop words removed) and compared token by token with difflib.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

# Words that carry no intent in either language; dropping them keeps "quero falar com um
# atendente" as close to "falar atendente" as it should be.
STOP_WORDS = frozenset(
    [
        "a",
        "o",
        "as",
        "os",
        "um",
        "uma",
        "uns",
        "umas",
        "de",
        "da",
        "do",
        "das",
        "dos",
        "em",
        "na",
        "no",
        "nas",
        "nos",
        "e",
        "ou",
        "que",
        "por",
        "para",
        "pra",
        "pro",
        "com",
        "se",
        "me",
        "meu",
        "minha",
        "eu",
        "voce",
        "vc",
        "voces",
        "ele",
        "ela",
        "isso",
        "esse",
        "essa",
        "este",
        "esta",
        "ai",
        "la",
        "aqui",
        "ja",
        "so",
        "mais",
        "muito",
        "the",
        "an",
        "of",
        "to",
        "in",
        "on",
        "at",
        "is",
        "are",
        "am",
        "be",
        "and",
        "or",
        "i",
        "my",
        "me",
        "you",
        "your",
        "it",
        "this",
        "that",
        "for",
        "with",
        "do",
        "does",
        "can",
        "could",
        "would",
        "please",
        "pls",
        "plz",
        "por",
        "favor",
    ]
)
TOKEN_MATCH = 0.85  # two tokens are "the same word" from this difflib ratio on (about one typo in 7 letters)
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalize(text: str) -> str:
    """Lower case, no accents, only letters, digits and single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", plain).strip()


def tokens(text: str) -> list[str]:
    words = normalize(text).split()
    meaningful = [w for w in words if w not in STOP_WORDS]
    return meaningful or words  # "oi", "ok": keep something to match


def _token_similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if min(len(a), len(b)) <= 3:
        return 0.0  # short words do not tolerate typos: "oi" is not "ok"
    return SequenceMatcher(None, a, b).ratio()


def phrase_score(message_tokens: list[str], example: str) -> float:
    """How well a message matches one example phrase, 0…1.

    Mostly: how much of the example the message contains (each example word found, allowing a
    typo); a little: how much of the message is explained by the example, so that a short exact
    message beats a long one that merely mentions the words.
    """
    example_tokens = tokens(example)
    if not example_tokens or not message_tokens:
        return 0.0
    found = 0.0
    used: set[int] = set()
    for word in example_tokens:
        best, best_index = 0.0, -1
        for index, candidate in enumerate(message_tokens):
            if index in used:
                continue
            similarity = _token_similarity(word, candidate)
            if similarity > best:
                best, best_index = similarity, index
        if best >= TOKEN_MATCH:
            found += best
            used.add(best_index)
    coverage = found / len(example_tokens)
    explained = len(used) / len(message_tokens)
    return round(0.75 * coverage + 0.25 * explained, 3)


NEGATIVE_WORDS = frozenset(
    [
        "pessimo",
        "pessima",
        "horrivel",
        "terrivel",
        "absurdo",
        "absurda",
        "ridiculo",
        "ridicula",
        "lixo",
        "raiva",
        "odio",
        "odeio",
        "revoltado",
        "revoltada",
        "irritado",
        "irritada",
        "decepcionado",
        "decepcionada",
        "vergonha",
        "palhacada",
        "nunca",
        "mais",
        "reclamacao",
        "processar",
        "procon",
        "golpe",
        "pior",
        "insatisfeito",
        "insatisfeita",
        "ruim",
        "merda",
        "droga",
        "terrible",
        "awful",
        "horrible",
        "worst",
        "hate",
        "angry",
        "furious",
        "ridiculous",
        "useless",
        "disgusting",
        "scam",
        "unacceptable",
        "disappointed",
        "annoyed",
        "sucks",
        "bad",
        "pathetic",
        "lawsuit",
        "complaint",
    ]
)
POSITIVE_WORDS = frozenset(
    [
        "obrigado",
        "obrigada",
        "otimo",
        "otima",
        "excelente",
        "perfeito",
        "perfeita",
        "maravilhoso",
        "maravilhosa",
        "adorei",
        "amei",
        "legal",
        "show",
        "top",
        "bom",
        "boa",
        "valeu",
        "gostei",
        "parabens",
        "thanks",
        "thank",
        "great",
        "excellent",
        "perfect",
        "awesome",
        "love",
        "loved",
        "good",
        "nice",
        "wonderful",
        "amazing",
    ]
)


def sentiment(text: str) -> float:
    """A lexicon score in -1…1: below zero the customer is unhappy. Crude on purpose (no model
    to download), enough to notice "isso é um absurdo, péssimo atendimento"."""
    words = normalize(text).split()
    if not words:
        return 0.0
    negative = sum(1 for w in words if w in NEGATIVE_WORDS)
    positive = sum(1 for w in words if w in POSITIVE_WORDS)
    if not negative and not positive:
        return 0.0
    # Two negative words are already clearly negative, whatever the message length.
    return max(-1.0, min(1.0, (positive - negative) / max(2, negative + positive)))
