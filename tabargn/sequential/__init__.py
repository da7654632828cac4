"""Sequential tables: events per entity, with an optional context (entity) table.

Modules, in the order data flows through them:

* :mod:`~tabargn.sequential.prepare`: validation, ordering, entity table, time gaps, encoding;
* :mod:`~tabargn.sequential.data`: the DataModule of per-entity windows;
* :mod:`~tabargn.sequential.network`: LSTM history encoder + context encoder around ARGN;
* :mod:`~tabargn.sequential.training`: the LightningModule and Trainer setup;
* :mod:`~tabargn.sequential.generation`: step-by-step generation and completion;
* :mod:`~tabargn.sequential.api`: fit/sample behind :class:`tabargn.TabularARGN`;
* :mod:`~tabargn.sequential.persist`: saving and loading.
"""

from tabargn.sequential.api import SequentialModel, fit_sequential, sample_sequential

__all__ = ["SequentialModel", "fit_sequential", "sample_sequential"]
