"""Store port and its backends."""

from campuslab.core.store.port import Aggregate, ReadingStore, TooManyPoints, WriteResult

__all__ = ["Aggregate", "ReadingStore", "TooManyPoints", "WriteResult"]
