"""Sequential tables: events per entity, with an optional context (entity) table.

Modules, in the order data flows through them:

* :mod:`~tabargn.sequential.prepare`: validation, ordering, entity table, time gaps, encoding;
* :mod:`~tabargn.sequential.data`: the DataModule of per-entity windows;
* :mod:`~tabargn.sequential.network`: LSTM history encoder + context encoder around ARGN;
* :mod:`~tabargn.sequential.training`: the LightningModule (Trainer from :mod:`tabargn.trainer`);
* :mod:`~tabargn.sequential.fit`: the entity model and the sequence network, fitted;
* :mod:`~tabargn.sequential.generation`: step-by-step generation and completion;
* :mod:`~tabargn.sequential.sample`: new entities, given context rows, or seed events to complete.
* :mod:`~tabargn.sequential.rules`: constraints on events and context rows, fairness.

Saving and loading is :mod:`tabargn.persistence`, shared with flat models.
"""

from tabargn.sequential.fit import SequentialModel, fit_sequential
from tabargn.sequential.sample import sample_sequential

__all__ = ["SequentialModel", "fit_sequential", "sample_sequential"]
