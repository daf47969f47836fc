"""What a request is about, read locally from its messages in a few microseconds.

Tasks: ``code``, ``reasoning`` (maths, proofs, puzzles), ``long_context``, ``vision``, ``tools``
and ``general``. A request can be several at once (``tasks``); ``task`` is the one that says
most about which model should serve it. Tokens are estimated at four characters each: good
enough to tell whether a prompt fits a context window, and free of any tokenizer download.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llm_agg.api.chat import MESSAGE_FRAMING, ChatCall, ImagePart, Message, Needs, TextPart

TASKS = frozenset({"code", "reasoning", "long_context", "vision", "tools", "general"})
# The order in which one task outranks another as the request's main one.
_PRIMARY = ("vision", "long_context", "code", "reasoning", "tools")

LONG_CONTEXT_TOKENS = 32_000
IMAGE_TOKENS = 1_000  # a typical image's cost; base64 length says nothing about it
_TEXT_CAP = 4_000  # characters of the last user message that keyword rules look at
_SIGNS_CAP = 2_000  # and that the signs of a task are read from

# Signals of each task. Words are looked up in sets (one pass over the text); a regex
# alternation of keywords costs ten times more.
_WORD = re.compile(r"[a-z][a-z0-9+#]*")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_CODE_SYNTAX = re.compile(
    r"^[ \t]*(?:def |class |import |from \S+ import |#include|package |fn |func |public "
    r"|const |let )",
    re.MULTILINE,
)
_CODE_MARKS = ("```", "Traceback (most recent call last)", "=>", ");", "();")
# Words that say it on their own count two; the others one.
_CODE_STRONG_WORDS = _words(
    """python javascript typescript golang c++ c# kotlin rust sql regex refactor debug
    dockerfile compile compiler compiled stacktrace programming"""
)
_CODE_WORDS = _words(
    """code coding program java swift bash function method class bug exception api json yaml
    snippet script algorithm implement"""
)
_CODE_PHRASES = ("unit test", "stack trace", "shell script")
_MATH_SYNTAX = re.compile(r"\d\s*[-+*/^=\u00d7\u00f7]\s*\d")
_MATH_MARKS = ("\\frac", "\\int", "\\sum", "\\sqrt", "\u222b", "\u2211", "\u221a")
_MATH_STRONG_WORDS = _words(
    "prove proof theorem lemma solve equation integral derivative irrational"
)
_MATH_WORDS = _words(
    """probability calculate compute math maths mathematics algebra geometry logic logical
    puzzle riddle reason reasoning deduce prime"""
)
_MATH_PHRASES = ("step by step", "step-by-step", "why does", "how many")


@dataclass(frozen=True, slots=True)
class Profile:
    task: str
    tasks: frozenset[str]
    prompt_tokens: int
    text: str  # what keyword conditions are matched against: the last user message
    needs: Needs  # read once: ChatCall.needs walks the messages each time


def _text_of(message: Message) -> tuple[str, int]:
    """(its text, images it holds)."""
    content = message.content
    if isinstance(content, str):
        return content, 0
    if not content:
        return "", 0
    texts = [p.text for p in content if isinstance(p, TextPart)]
    images = sum(1 for p in content if isinstance(p, ImagePart))
    return "\n".join(texts), images


def _weights() -> dict[str, tuple[int, int]]:
    """Each telling word's (code, reasoning) points: one, two for a word that says it alone."""
    points: dict[str, tuple[int, int]] = {}
    for words, code, math in (
        (_CODE_WORDS, 1, 0),
        (_CODE_STRONG_WORDS, 2, 0),
        (_MATH_WORDS, 0, 1),
        (_MATH_STRONG_WORDS, 0, 2),
    ):
        for word in words:
            had = points.get(word, (0, 0))
            points[word] = (had[0] + code, had[1] + math)
    return points


# One lookup a word of the text, not one a listed word (and no Counter): 14 -> 7 µs a request.
_WEIGHTS = _weights()


def _signals(text: str) -> tuple[int, int]:
    """(code score, reasoning score): two per strong sign, one per telling word."""
    text = text[:_SIGNS_CAP]
    lower = text.lower()
    code = math = 0
    weights = _WEIGHTS
    for word in _WORD.findall(lower):
        points = weights.get(word)
        if points is not None:
            code += points[0]
            math += points[1]
    code += sum(p in lower for p in _CODE_PHRASES)
    code += 2 * (len(_CODE_SYNTAX.findall(text)) + sum(m in text for m in _CODE_MARKS))
    math += sum(p in lower for p in _MATH_PHRASES)
    math += 2 * (len(_MATH_SYNTAX.findall(text)) + sum(m in text for m in _MATH_MARKS))
    return code, math


def measure(call: ChatCall) -> tuple[int, str]:
    """(estimated prompt tokens, text of the last user message), measured once a request (in
    this one function: each call is paid again on a vCPU come back cold, issue 17)."""
    measured = call.measured
    if measured is not None:
        return measured
    request = call.request
    chars = 0
    images = 0
    last_user = ""
    for message in request.messages:
        text = message.content
        if type(text) is not str:  # parts (or none): a text one (a call less) is the usual
            text, pictures = _text_of(message)
            images += pictures
        chars += len(text) + MESSAGE_FRAMING  # role and framing (as api/chat.py's _plain)
        for tool_call in message.tool_calls or ():
            chars += len(tool_call.function.arguments) + len(tool_call.function.name)
        if message.role == "user":
            last_user = text
    if request.tools:
        # The schemas are sent as part of the prompt; their size is a fair proxy.
        chars += sum(len(str(t.function.parameters or "")) + 64 for t in request.tools)
    measured = (chars // 4 + images * IMAGE_TOKENS, last_user)
    object.__setattr__(call, "measured", measured)  # a cache on a frozen dataclass
    return measured


def estimate_tokens(call: ChatCall) -> int:
    return measure(call)[0]


def classify(call: ChatCall) -> Profile:
    tokens, last_user = measure(call)
    request = call.request
    text = last_user[:_TEXT_CAP]
    needs = call.needs
    tasks = set()
    if needs.vision:
        tasks.add("vision")
    if needs.tools or any(m.role == "tool" for m in request.messages):
        tasks.add("tools")
    if tokens >= LONG_CONTEXT_TOKENS:
        tasks.add("long_context")
    code, math = _signals(text)
    if code >= 2:
        tasks.add("code")
    if "reasoning_effort" in call.body or math >= 2:
        tasks.add("reasoning")
    task = next((t for t in _PRIMARY if t in tasks), "general")
    return Profile(task, frozenset(tasks) or frozenset({"general"}), tokens, text, needs)
