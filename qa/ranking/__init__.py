"""The answer-sentence ranker: candidates from the top releases, their features, a learned model, its levels.

:mod:`.candidates` lists the sentences of the releases retrieval ranks first, :mod:`.features` describes each
(question, sentence, passage, release), :mod:`.model` scores them with the trained model shipped in
``qa/models`` and turns its question-level output into a level, :mod:`.train` rebuilds that model from the shared
evaluation sets by grouped k-fold.
"""
