"""Training and evaluation of requirement-check aLoRA adapters.

- :mod:`.families`: requirement families whose truth a program decides (the labels of the data).
- :mod:`.datagen`: the dataset generator (model responses, programmatic edits, balanced labels, splits).
- :mod:`.prompt`: the check prompt format shared by training, evaluation and inference.
- :mod:`.data`: reading and validating JSONL example files.
- :mod:`.train`: ``gencomp alora train``; :mod:`.evaluate`: ``gencomp alora eval``.
- :mod:`.hooks`: the plugin hooks (CLI commands; the shipped adapter on the default model).

Nothing here imports torch at module level except :mod:`.train` and :mod:`.evaluate`.
"""
