"""The answer engine: Vietnamese normalisation and retrieval over the content base."""

from bot.engine.core import AnswerEngine, Match, fold, normalize, tokens

__all__ = ["AnswerEngine", "Match", "fold", "normalize", "tokens"]
