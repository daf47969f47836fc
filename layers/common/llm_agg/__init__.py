"""LLM API Aggregator: one OpenAI-compatible endpoint in front of many free-tier providers."""

__version__ = "0.1.0"
