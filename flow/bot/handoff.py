"""Recognising a request for a human in its many phrasings, before any intent is scored.

Example phrases cannot list every way of asking ("quero falar com um humano", "me passa pra um
atendente", "can I get a real person?"), and a near miss used to lose to an intent that shared
one word with it. A request for a human is a *who* (atendente, pessoa, agent, human…) with a
*contact* word (falar, passa, talk, connect, quero, need…), or a set phrase ("atendimento
humano", "live agent"), or the *who* alone in a short message ("atendente!", "human please").
Weak *who* words (alguém, someone, suporte, real) need a contact verb proper: "can someone tell
me your hours" is a question for the bot, "can I talk to someone" is not.
"""

from __future__ import annotations

from difflib import SequenceMatcher

from flow.bot.text import STOP_WORDS, normalize

# (word, language). Strong: a person who serves customers.
STRONG_WHO = {
    **dict.fromkeys(
        [
            "atendente",
            "atendentes",
            "humano",
            "humana",
            "humanos",
            "pessoa",
            "pessoas",
            "operador",
            "operadora",
            "representante",
            "consultor",
            "consultora",
            "funcionario",
            "funcionaria",
            "agente",
        ],
        "pt",
    ),
    **dict.fromkeys(
        [
            "human",
            "humans",
            "person",
            "agent",
            "agents",
            "representative",
            "rep",
            "operator",
            "advisor",
            "adviser",
            "associate",
        ],
        "en",
    ),
}
WEAK_WHO = {
    **dict.fromkeys(["alguem", "gente", "suporte", "gerente", "supervisor", "responsavel", "verdade"], "pt"),
    **dict.fromkeys(
        ["someone", "somebody", "anyone", "anybody", "real", "live", "staff", "support", "manager", "people"], "en"
    ),
}
# Words that ask to reach someone. Contact verbs proper (also enough for a weak who):
CONTACT = {
    **dict.fromkeys(
        [
            "falar",
            "fala",
            "falo",
            "conversar",
            "converso",
            "chamar",
            "chama",
            "chame",
            "chamem",
            "passar",
            "passa",
            "passe",
            "transferir",
            "transfere",
            "transfira",
            "encaminhar",
            "encaminha",
            "ligar",
            "liga",
            "atender",
            "atende",
            "atendimento",
            "contato",
            "contatar",
            "coloca",
            "coloque",
            "bota",
        ],
        "pt",
    ),
    **dict.fromkeys(
        ["talk", "speak", "chat", "connect", "transfer", "put", "reach", "contact", "call", "escalate", "patch"], "en"
    ),
}
# Words that ask, but not necessarily to reach someone (enough with a strong who only).
ASK = {
    **dict.fromkeys(
        [
            "quero",
            "queria",
            "gostaria",
            "preciso",
            "precisava",
            "necessito",
            "pode",
            "poderia",
            "tem",
            "existe",
            "cade",
            "algum",
            "alguma",
        ],
        "pt",
    ),
    **dict.fromkeys(
        ["want", "need", "get", "give", "like", "can", "could", "may", "there", "any", "let", "prefer", "request"],
        "en",
    ),
}
PHRASES = {
    "atendimento humano": "pt",
    "atendimento pessoal": "pt",
    "pessoa real": "pt",
    "pessoa de verdade": "pt",
    "gente de verdade": "pt",
    "alguem ai": "pt",
    "real person": "en",
    "live agent": "en",
    "live person": "en",
    "live chat": "en",
    "customer service": "en",
    "customer care": "en",
    "customer support": "en",
}
NEGATIONS = frozenset(["nao", "nem", "nunca", "dont", "not", "never", "no"])
SHORT = 3  # a strong who alone in a message of at most this many meaningful words asks for a human
FUZZY = 0.85


def _like(word: str, vocabulary: dict[str, str]) -> str | None:
    """The language of ``word`` in ``vocabulary``, allowing one typo in words of 5+ letters."""
    if word in vocabulary:
        return vocabulary[word]
    if len(word) < 5:
        return None
    for known, language in vocabulary.items():
        if len(known) >= 5 and SequenceMatcher(None, word, known).ratio() >= FUZZY:
            return language
    return None


def handoff_language(text: str) -> str | None:
    """The language ("pt", "en") in which ``text`` asks for a human, or None when it does not."""
    normalized = normalize(text)
    words = normalized.split()
    if not words:
        return None
    padded = f" {normalized} "
    for phrase, language in PHRASES.items():
        if f" {phrase} " in padded:
            return language
    strong: list[tuple[int, str]] = []
    weak: list[tuple[int, str]] = []
    contact: list[tuple[int, str]] = []
    ask: list[tuple[int, str]] = []
    for index, word in enumerate(words):
        if (found := _like(word, STRONG_WHO)) is not None:
            strong.append((index, found))
        elif (found := _like(word, CONTACT)) is not None:
            contact.append((index, found))
        elif word in WEAK_WHO:
            weak.append((index, WEAK_WHO[word]))
        elif word in ASK:
            ask.append((index, ASK[word]))

    def negated(index: int) -> bool:
        return any(w in NEGATIONS for w in words[max(0, index - 2) : index])

    contact = [(i, lang) for i, lang in contact if not negated(i)]
    ask = [(i, lang) for i, lang in ask if not negated(i)]
    meaningful = [w for w in words if w not in STOP_WORDS]
    if strong and (contact or ask or len(meaningful) <= SHORT):
        if any(negated(i) for i, _ in strong) and not (contact or ask):
            return None
        return _pick(strong, contact + ask)
    if weak and contact:
        return _pick(weak, contact)
    return None


def _pick(who: list[tuple[int, str]], verbs: list[tuple[int, str]]) -> str:
    """The language most of the matched words belong to (the who's on a tie)."""
    languages = [lang for _, lang in who] + [lang for _, lang in verbs]
    pt, en = languages.count("pt"), languages.count("en")
    if pt != en:
        return "pt" if pt > en else "en"
    return who[0][1]
