"""The unit of work's parts, one per concern, on one shared transaction (:class:`base.Tx`).

:class:`~cm_bot.storage.uow.SqlUnitOfWork` composes them: ``uow.inbox`` (:mod:`.inbox`),
``uow.runs`` (:mod:`.runs`), ``uow.buttons`` (:mod:`.buttons`), ``uow.flags``
(:mod:`.flags`), ``uow.cases`` (:mod:`.cases`), ``uow.outbox`` (:mod:`.sends`: writing
outbox rows; the sender's side is :mod:`cm_bot.storage.outbox`), ``uow.contacts``
(:mod:`.contacts`) and ``uow.audit`` (:mod:`.audit`).
"""
