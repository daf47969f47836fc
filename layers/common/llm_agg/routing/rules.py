"""Routing rules of ``config/providers.yaml``: when a request looks like this, try these first.

A rule applies when all of its conditions hold (a rule without conditions always applies); the
first rule that applies, in file order, decides. Its ``provider_preferences`` then its
``fallback_chain`` are the order of failover; an entry is a provider (its fitting models, best
first) or a ``provider/model``. Candidates the rule does not name come after, so a request the
rule's providers cannot take is still served by someone.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from llm_agg.api.chat import Needs
from llm_agg.routing.classify import TASKS, Profile

NEEDS = frozenset({"tools", "vision", "json"})


class RuleError(ValueError):
    """A rule in the YAML file is malformed; the message says where."""


@dataclass(frozen=True, slots=True)
class Conditions:
    content_keywords: tuple[str, ...] = ()
    tasks: frozenset[str] = frozenset()
    min_context: int | None = None
    needs: frozenset[str] = frozenset()
    _keywords: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def unmet(self, profile: Profile, needs: Needs) -> str | None:
        """Why the conditions do not hold for this request, or None when they all do."""
        if self._keywords is not None and not self._keywords.search(profile.text):
            return f"no keyword of {list(self.content_keywords)} in the message"
        if self.tasks and not self.tasks & profile.tasks:
            return f"task is {profile.task}, not {'/'.join(sorted(self.tasks))}"
        if self.min_context is not None and profile.prompt_tokens < self.min_context:
            return f"~{profile.prompt_tokens} prompt tokens < min_context {self.min_context}"
        wanted = {"tools": needs.tools, "vision": needs.vision, "json": needs.json}
        missing = sorted(n for n in self.needs if not wanted[n])
        if missing:
            return f"the request does not need {', '.join(missing)}"
        return None


@dataclass(frozen=True, slots=True)
class RoutingRule:
    name: str
    conditions: Conditions = Conditions()
    provider_preferences: tuple[str, ...] = ()
    fallback_chain: tuple[str, ...] = ()

    @property
    def order(self) -> tuple[str, ...]:
        """Preferences, then the rest of the chain, each entry once."""
        return tuple(dict.fromkeys((*self.provider_preferences, *self.fallback_chain)))


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RuleError(f"{where}: must be a list of names")
    return tuple(value)


def _keyword_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    # Not \b: a keyword like "c++" ends in a non-word character.
    alternatives = "|".join(re.escape(w.lower()) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _conditions(data: Any, where: str) -> Conditions:
    if data is None:
        return Conditions()
    if not isinstance(data, dict):
        raise RuleError(f"{where}: must be a mapping")
    unknown = set(data) - {"content_keywords", "task", "min_context", "needs"}
    if unknown:
        raise RuleError(f"{where}: unknown conditions {sorted(unknown)}")
    keywords = _strings(data.get("content_keywords"), f"{where}.content_keywords")
    tasks = frozenset(_strings(data.get("task"), f"{where}.task"))
    if tasks - TASKS:
        raise RuleError(f"{where}.task: unknown {sorted(tasks - TASKS)}; one of {sorted(TASKS)}")
    needs = frozenset(_strings(data.get("needs"), f"{where}.needs"))
    if needs - NEEDS:
        raise RuleError(f"{where}.needs: unknown {sorted(needs - NEEDS)}; one of {sorted(NEEDS)}")
    min_context = data.get("min_context")
    if min_context is not None and (not isinstance(min_context, int) or min_context < 0):
        raise RuleError(f"{where}.min_context: must be a whole number of tokens")
    return Conditions(keywords, tasks, min_context, needs, _keyword_pattern(keywords))


def parse_rules(data: Any, providers: Collection[str]) -> tuple[RoutingRule, ...]:
    """``routing_rules`` of the YAML file; providers a rule names must be known."""
    if data is None:
        return ()
    if not isinstance(data, list):
        raise RuleError("routing_rules: must be a list of rules")
    rules = []
    for i, entry in enumerate(data):
        where = f"routing_rules[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise RuleError(f"{where}: a rule needs a 'name'")
        unknown = set(entry) - {"name", "conditions", "provider_preferences", "fallback_chain"}
        if unknown:
            raise RuleError(f"{where}: unknown keys {sorted(unknown)}")
        rule = RoutingRule(
            name=entry["name"],
            conditions=_conditions(entry.get("conditions"), f"{where}.conditions"),
            provider_preferences=_strings(
                entry.get("provider_preferences"), f"{where}.provider_preferences"
            ),
            fallback_chain=_strings(entry.get("fallback_chain"), f"{where}.fallback_chain"),
        )
        strangers = sorted({e.partition("/")[0] for e in rule.order} - set(providers))
        if strangers:
            raise RuleError(f"{where} ({rule.name}): unknown providers {strangers}")
        rules.append(rule)
    return tuple(rules)


def first_match(
    rules: tuple[RoutingRule, ...], profile: Profile, needs: Needs
) -> tuple[RoutingRule | None, list[tuple[str, str]]]:
    """The rule that decides, and why each rule before it did not."""
    skipped: list[tuple[str, str]] = []
    for rule in rules:
        reason = rule.conditions.unmet(profile, needs)
        if reason is None:
            return rule, skipped
        skipped.append((rule.name, reason))
    return None, skipped
